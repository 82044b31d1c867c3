"""Rate limits at the HTTP surface: each route's class, the check as a dependency, the headers.

``create_app`` puts :data:`DEPENDENCIES` on every router and :func:`install` on the app. The
dependency reads the caller from the token (an absent or invalid token is left to the route's own
authentication, which answers 401), asks ``rollcall.services.rate_limits`` for a token of the
route's class and raises 429 THROTTLED when a bucket is empty. The middleware puts
``RateLimit-Policy`` and ``RateLimit`` on every answer of a checked request, and ``Retry-After``
(seconds) on a refusal. The policy and its numbers are in ``rollcall.services.rate_limits``.
"""

from __future__ import annotations

import re

from fastapi import Depends, FastAPI, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rollcall.platform.errors import RollcallError, TooManyRequests
from rollcall.platform.settings import FunctionSettings
from rollcall.services import rate_limits

SCOPE_KEY = "rollcall.rate_limit"

# (method, path) → class; the first match wins, GETs are reads, other writes are "writes".
_CLASSES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("POST", re.compile(r"^/v1/sessions/[^/]+/(attendance|photos)$"), "marking"),
    ("POST", re.compile(r"^/v1/students/[^/]+/faces(/uploads)?$"), "marking"),
    ("POST", re.compile(r"^/v1/faces/search$"), "marking"),
    ("POST", re.compile(r"^/v1/predictions(/batch)?$"), "predictions"),
    ("POST", re.compile(r"^/v1/attendance/imports?$"), "imports"),
    ("POST", re.compile(r"^/v1/models/[^/]+/train$"), "imports"),
    ("POST", re.compile(r"^/v1/anomalies/scan$"), "imports"),
)


def route_class(method: str, path: str) -> str:
    """The rate-limit class of a request (``rollcall.services.rate_limits.ROUTE_CLASSES``)."""
    method = method.upper()
    if method in ("GET", "HEAD", "OPTIONS"):
        return "reads"
    for wanted, pattern, name in _CLASSES:
        if method == wanted and pattern.match(path):
            return name
    return "writes"


def rate_limited(request: Request) -> None:
    """Take a token for this request from its user's and its organisation's buckets; 429 if empty."""
    settings: FunctionSettings = request.app.state.settings
    if not settings.rate_limits_enabled:
        return
    header = request.headers.get("authorization") or ""
    if header[:7].lower() != "bearer " or not header[7:].strip():
        return  # the route's authentication answers 401
    try:
        principal = request.app.state.verifier.verify(header[7:].strip())
    except RollcallError:
        return  # idem
    kind = route_class(request.method, request.url.path)
    checked = rate_limits.check(settings, principal.org, principal.sub, kind)
    if checked is None:  # failed open
        return
    request.scope[SCOPE_KEY] = checked
    if not checked.allowed:
        raise TooManyRequests(
            {
                "message": f"too many {kind} requests for this {checked.refused_by}; retry after the "
                "Retry-After header's seconds",
                "route_class": kind,
                "limited_by": checked.refused_by,
                "retry_after_seconds": checked.retry_after_seconds,
            }
        )


DEPENDENCIES = [Depends(rate_limited)]


class RateLimitHeaders:
    """Adds the rate-limit headers of a checked request to its answer (whatever the status)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_limits(message: Message) -> None:
            checked = scope.get(SCOPE_KEY)
            if message["type"] == "http.response.start" and checked is not None:
                extra = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in checked.headers()]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_limits)


def install(app: FastAPI) -> None:
    app.add_middleware(RateLimitHeaders)
