"""The FastAPI app of an HTTP function: its routers, plus health, identity and organisation.

A function's ``app.py`` does::

    app = create_app("encode-face", routers=[students.router], settings=settings)
    handler = make_handler(http=app)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from rollcall import __version__
from rollcall.api import rate_limits
from rollcall.api.access import AnyUser
from rollcall.platform import http
from rollcall.platform.auth import TokenVerifier
from rollcall.platform.settings import FunctionSettings

common = APIRouter(tags=["platform"])


@common.get("/health", summary="Liveness: no auth", response_model=dict[str, str])
def health(request: Request) -> dict[str, str]:
    return {"status": "ok", "service": request.app.title, "version": __version__}


@common.get("/v1/me", summary="The caller's identity, from the token")
def me(who: AnyUser) -> dict[str, str]:
    return who.public()


@common.get("/v1/orgs/{org}", summary="The caller's organisation (403 WRONG_ORGANISATION for another)")
def organisation(org: str, who: AnyUser) -> dict[str, Any]:
    return {"org": org, "caller": who.public()}


# Every router of the API (by module), read only to answer 405 rather than 404 when the template's
# catch-all route ($default) brings this function a path another function serves with other methods.
API_MODULES = (
    "anomalies", "faces", "imports", "jobs", "marking", "predictions", "registry", "sessions", "students",
)  # fmt: skip
_known: list[tuple[Any, set[str]]] | None = None


def methods_for(path: str) -> set[str]:
    """The methods the whole API serves on ``path`` (empty: no route has that path)."""
    global _known
    if _known is None:
        import importlib

        known = []
        for name in API_MODULES:
            try:
                module = importlib.import_module(f"rollcall.api.{name}")
            except ImportError:  # a router whose dependencies this function's layers lack
                continue
            for router in (v for v in vars(module).values() if isinstance(v, APIRouter)):
                known += [
                    (r.path_regex, set(r.methods or ())) for r in router.routes if isinstance(r, APIRoute)
                ]
        known += [(r.path_regex, set(r.methods or ())) for r in common.routes if isinstance(r, APIRoute)]
        _known = known
    return {m for regex, methods in _known if regex.match(path) for m in methods}


class ErrorBody(BaseModel):
    """Every error answer of the API (the envelope; ``rollcall.platform.errors``)."""

    error: str = Field(description="the short title of the error's category", examples=["not found"])
    code: str = Field(
        description="the machine-readable code (README: error codes)", examples=["STUDENT_NOT_FOUND"]
    )
    detail: dict[str, Any] = Field(
        description="always an object: {message} for a sentence, else the numbers behind the error"
    )
    request_id: str | None = Field(description="quote it when reporting a problem")


ERROR_STATUSES = {
    "400": "malformed request (INVALID_JSON, INVALID_ID, INVALID_CURSOR, ...)",
    "401": "no token, or an invalid or expired one (TOKEN_MISSING, TOKEN_INVALID, TOKEN_EXPIRED)",
    "403": "the caller's role or organisation may not do this (FORBIDDEN, WRONG_ORGANISATION)",
    "404": "no such resource or route (..._NOT_FOUND, ROUTE_NOT_FOUND)",
    "409": "conflicts with what is stored (ALREADY_EXISTS, CONCURRENT_UPDATE, DUPLICATE_FACE, ...)",
    "422": "well-formed but invalid (VALIDATION_ERROR lists the fields; NO_FACE, INVALID_CSV, ...)",
    "429": "too many requests of this class for the user or organisation (THROTTLED; Retry-After, RateLimit)",
    "500": "an unexpected error (INTERNAL_ERROR): quote the request id",
    "503": "a dependency failed; retry (SERVICE_UNAVAILABLE, STORE_UNAVAILABLE, MODEL_UNAVAILABLE)",
}
WRITE_STATUSES = {
    "413": "the body or photo is too large (PAYLOAD_TOO_LARGE, IMAGE_TOO_LARGE, CSV_TOO_LARGE)",
    "415": "the photo is not a supported image (UNSUPPORTED_IMAGE)",
}
UNAUTHENTICATED = {"/health", "/openapi.json"}


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Put the real error body on every operation of an OpenAPI document: the statuses each can
    answer, all with the envelope's schema (FastAPI documents only its own 422, with its own body)."""
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["ErrorBody"] = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            statuses = dict(ERROR_STATUSES)
            if method in ("post", "put", "patch"):
                statuses |= WRITE_STATUSES
            if method in ("get", "head"):  # a read conflicts with nothing
                statuses.pop("409")
            if path in UNAUTHENTICATED:
                statuses = {k: v for k, v in statuses.items() if k in ("500", "503")}
            responses = operation.setdefault("responses", {})
            for status, description in statuses.items():
                responses[status] = {"description": description, "content": ref}
    return schema


def _openapi_of(app: FastAPI) -> Any:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(
                get_openapi(
                    title=app.title, version=app.version, description=app.description, routes=app.routes
                )
            )
        return app.openapi_schema

    return openapi


def create_app(
    service: str,
    *,
    routers: Sequence[APIRouter] = (),
    settings: FunctionSettings,
    verifier: TokenVerifier | None = None,
    description: str = "",
) -> FastAPI:
    """The FastAPI app of one HTTP function: its routers plus health, me and organisation."""
    app = FastAPI(
        title=service,
        version=__version__,
        description=description,
        openapi_url="/openapi.json",
        docs_url=None,  # the local API serves one docs page for the merged document
        redoc_url=None,
        # No redirect from /x/ to /x: Starlette builds its Location from the Host header, so any
        # host a client names would be echoed back unauthenticated. A trailing slash is a 404.
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.verifier = verifier or TokenVerifier.from_settings(settings)
    app.state.methods_for = methods_for
    http.install(app)
    rate_limits.install(app)
    app.include_router(common, dependencies=rate_limits.DEPENDENCIES)
    for router in routers:
        app.include_router(router, dependencies=rate_limits.DEPENDENCIES)
    app.openapi = _openapi_of(app)  # type: ignore[method-assign]
    return app
