"""The FastAPI app of an HTTP function: its routers, plus health, identity and organisation.

A function's ``app.py`` does::

    app = create_app("encode-face", routers=[students.router], settings=settings)
    handler = make_handler(http=app)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.routing import APIRoute

from rollcall import __version__
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
    app.include_router(common)
    for router in routers:
        app.include_router(router)
    return app
