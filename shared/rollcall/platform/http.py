"""HTTP plumbing every HTTP function shares: request ids, the error envelope, crash safety.

:func:`install` puts on a FastAPI app:

- the request id (API Gateway's, else the Lambda request id, else ``X-Request-Id``, else a new
  one), echoed as ``x-request-id`` and in every error body;
- the error mapping: every error is answered as ``{error, code, detail, request_id}`` with the
  status that ``rollcall.platform.errors`` assigns to its category; request validation errors list
  the fields at fault and never echo the input; an unexpected exception is logged with the
  request id and answered 500 INTERNAL_ERROR, never with a traceback.

Routes, authentication and authorisation are the API layer's (``rollcall.api.app``,
``rollcall.api.access``).
"""

from __future__ import annotations

import contextvars
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rollcall.platform.errors import (
    STATUS_BY_CATEGORY,
    InvalidJson,
    MethodNotAllowed,
    RollcallError,
    RouteNotFound,
    ValidationFailed,
)
from rollcall.platform.observability import logger

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


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
    response = JSONResponse(error.body(current_request_id()), status_code=error.status)
    response.headers.update(getattr(error, "headers", None) or {})  # e.g. Retry-After of an open breaker
    return response


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


async def _rollcall_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RollcallError)
    if exc.status >= 500:
        logger.error("request failed", extra={"code": exc.code, "status": exc.status})
    return error_response(exc)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    if any(err.get("type") == "json_invalid" for err in exc.errors()):
        return error_response(InvalidJson({"message": "the body is not valid JSON"}))
    # Never echo the input back: it may be a photo, a token or personal data.
    problems = [
        {"loc": [str(p) for p in err.get("loc", ())], "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]
    return error_response(ValidationFailed({"problems": problems}))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        methods_for = getattr(request.app.state, "methods_for", None)
        allowed = sorted(methods_for(request.url.path)) if methods_for else []
        if allowed and request.method not in allowed:  # served by another function, other methods
            response = error_response(
                MethodNotAllowed(
                    {
                        "message": "method not allowed",
                        "method": request.method,
                        "path": request.url.path,
                        "allowed": allowed,
                    }
                )
            )
            response.headers["allow"] = ", ".join(allowed)
            return response
        return error_response(
            RouteNotFound({"message": "no such route", "method": request.method, "path": request.url.path})
        )
    if exc.status_code == 405:
        return error_response(
            MethodNotAllowed(
                {"message": "method not allowed", "method": request.method, "path": request.url.path}
            )
        )
    if exc.status_code == 400:
        # FastAPI's own 400: a JSON body it could not parse (invalid UTF-8, nesting too deep).
        return error_response(InvalidJson({"message": "the body could not be parsed as JSON"}))
    category = next((c for c, s in STATUS_BY_CATEGORY.items() if s == exc.status_code), RollcallError)
    error = category({"message": str(exc.detail)})
    return JSONResponse(error.body(current_request_id()), status_code=exc.status_code)


def install(app: FastAPI) -> None:
    """The request id middleware (outermost) and the error envelope on ``app``."""
    app.add_exception_handler(RollcallError, _rollcall_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(RequestContextMiddleware)
