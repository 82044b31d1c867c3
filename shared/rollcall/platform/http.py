"""HTTP: the FastAPI app every HTTP function builds, with auth, error mapping and request ids.

A function's ``app.py`` does::

    app = create_app("encode-face", routers=[students.router], settings=settings)
    handler = make_handler(http=app)

Routes declare who may call them with the dependencies below::

    @router.get("/v1/students/{student_id}")
    def get_student(student_id: str, who: Staff) -> Student: ...

- ``AnyUser``, ``Staff`` (admin, teacher), ``AdminOnly``: a verified :class:`Principal` or a 401/403.
- A ``{org}`` path parameter or an ``X-Rollcall-Org`` header naming another organisation than the
  token's answers 403 WRONG_ORGANISATION. Isolation itself is enforced by the store, which scopes
  every key by the principal's organisation.

Every error is answered as ``{error, code, detail, request_id}`` with the status that
``rollcall.platform.errors`` assigns to its category; an unexpected exception is logged with the request id
and answered 500 INTERNAL_ERROR, never with a traceback.
"""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rollcall import __version__
from rollcall.platform.auth import STAFF, Principal, Role, TokenVerifier
from rollcall.platform.errors import (
    Forbidden,
    MethodNotAllowed,
    NotFound,
    RollcallError,
    TokenMissing,
    ValidationFailed,
    WrongOrganisation,
)
from rollcall.platform.observability import logger
from rollcall.platform.settings import FunctionSettings

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

ORG_HEADER = "x-rollcall-org"
bearer = HTTPBearer(auto_error=False, description="A JWT with `sub`, `org` and `role` claims")


def current_request_id() -> str | None:
    return _request_id.get()


def _request_id_of(scope: Scope) -> str:
    event = scope.get("aws.event") or {}
    rid = (event.get("requestContext") or {}).get("requestId")
    if not rid:
        context = scope.get("aws.context")
        rid = getattr(context, "aws_request_id", None)
    if not rid:
        for name, value in scope.get("headers") or []:
            if name == b"x-request-id":
                rid = value.decode("latin-1")[:128]
    return rid or str(uuid.uuid4())


def error_response(error: RollcallError) -> JSONResponse:
    return JSONResponse(error.body(current_request_id()), status_code=error.status)


class RequestContextMiddleware:
    """Sets the request id for the request, echoes it as ``x-request-id``, turns crashes into 500s.

    A pure ASGI middleware (no per-request task), placed outermost so that nothing, not even an
    exception raised by another middleware, reaches the client as a traceback.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _request_id_of(scope)
        token = _request_id.set(rid)
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            logger.exception(
                "unhandled error", extra={"path": scope.get("path"), "method": scope.get("method")}
            )
            if not started:
                response = error_response(RollcallError("an unexpected error occurred; quote the request id"))
                await response(scope, receive, send_with_id)
        finally:
            _request_id.reset(token)


# --- authentication and authorisation ------------------------------------------------------------


def _principal(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    if credentials is None or not credentials.credentials:
        raise TokenMissing("send 'Authorization: Bearer <token>'")
    verifier: TokenVerifier = request.app.state.verifier
    principal = verifier.verify(credentials.credentials)
    for named in (request.path_params.get("org"), request.headers.get(ORG_HEADER)):
        if named is not None and named != principal.org:
            raise WrongOrganisation("the token belongs to another organisation than the one addressed")
    return principal


def require(*roles: Role) -> Any:
    """A dependency yielding the verified principal, refused unless its role is in ``roles``.

    With no roles, any authenticated user is accepted.
    """

    def dependency(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
    ) -> Principal:
        principal = _principal(request, credentials)
        if roles and principal.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise Forbidden(f"role {principal.role.value!r} may not do this; allowed: {allowed}")
        return principal

    return Depends(dependency)


AnyUser = Annotated[Principal, require()]
Staff = Annotated[Principal, require(*STAFF)]
AdminOnly = Annotated[Principal, require(Role.ADMIN)]


def ensure_self_or_staff(principal: Principal, student_id: str) -> None:
    """Students may act on their own record only; staff on any of their organisation."""
    if not principal.is_staff() and principal.sub != student_id:
        raise Forbidden("a student may only act on their own record")


# --- the app ------------------------------------------------------------------------------------

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


async def _rollcall_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RollcallError)
    if exc.status >= 500:
        logger.error("request failed", extra={"code": exc.code, "status": exc.status})
    return error_response(exc)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Never echo the input back: it may be a photo, a token or personal data.
    problems = [
        {"loc": [str(p) for p in err.get("loc", ())], "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]
    return error_response(ValidationFailed({"problems": problems}))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return error_response(
            NotFound(f"no route for {request.method} {request.url.path}", code="ROUTE_NOT_FOUND")
        )
    if exc.status_code == 405:
        return error_response(MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}"))
    error = RollcallError(str(exc.detail), code=f"HTTP_{exc.status_code}")
    return JSONResponse(error.body(current_request_id()), status_code=exc.status_code)


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
    )
    app.state.settings = settings
    app.state.verifier = verifier or TokenVerifier.from_settings(settings)
    app.add_exception_handler(RollcallError, _rollcall_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(RequestContextMiddleware)
    app.include_router(common)
    for router in routers:
        app.include_router(router)
    return app
