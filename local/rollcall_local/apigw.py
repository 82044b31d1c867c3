"""API Gateway HTTP API semantics, without any server: routes, v2.0 events, responses, CORS.

- :class:`Router`: the template's HttpApi routes, the most specific match first (literal segments
  before ``{param}`` before ``{proxy+}``, left to right; a method before ``ANY``; ``$default`` last).
- :func:`http_event`: the payload format 2.0 event API Gateway sends the function.
- :func:`http_response`: the function's answer mapped back as API Gateway maps it (a dict without
  ``statusCode``, or any other JSON value, is a 200 with that JSON as the body).
- :class:`Cors`: the HttpApi's ``CorsConfiguration`` (API Gateway answers preflights itself).
- :class:`StageThrottle`: the HttpApi's ``DefaultRouteSettings`` throttling (a token bucket for
  the whole stage; API Gateway answers 429 itself).
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from rollcall_local.cfn import TemplateError
from rollcall_local.template import HTTP_API, HttpRoute, Physical, Template

TEXT_TYPES = {"application/json", "application/xml", "application/javascript", "application/graphql"}


@dataclass(frozen=True)
class Request:
    method: str
    raw_path: str
    raw_query: str
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key.lower() == name]
        return ",".join(values) if values else None


@dataclass(frozen=True)
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def message(status: int, text: str) -> Response:
    """API Gateway's own answers: ``{"message": "..."}``."""
    return Response(status, [("content-type", "application/json")], json.dumps({"message": text}).encode())


NOT_FOUND = message(404, "Not Found")
INTERNAL_ERROR = message(500, "Internal Server Error")
UNAVAILABLE = message(503, "Service Unavailable")
TOO_LARGE = message(413, "Request Entity Too Large")
TOO_MANY_REQUESTS = message(429, "Too Many Requests")


# --- routing ------------------------------------------------------------------------------------


def route_key(route: HttpRoute) -> str:
    return "$default" if route.path == "$default" else f"{route.method} {route.path}"


def _rank(segment: str) -> int:
    if segment.startswith("{") and segment.endswith("+}"):
        return 2
    return 1 if segment.startswith("{") and segment.endswith("}") else 0


class Router:
    def __init__(self, routes: Iterable[HttpRoute]) -> None:
        def specificity(route: HttpRoute) -> tuple[Any, ...]:
            if route.path == "$default":
                return (1,)
            ranks = [_rank(segment) for segment in route.path.strip("/").split("/")]
            return (0, ranks, route.method == "ANY")

        self.routes = sorted(routes, key=specificity)

    def match(self, method: str, raw_path: str) -> tuple[HttpRoute, dict[str, str]] | None:
        segments = [unquote(segment) for segment in raw_path.strip("/").split("/")]
        for route in self.routes:
            if route.method not in ("ANY", method.upper()):
                continue
            if route.path == "$default":
                return route, {}
            params = _match_path(route.path.strip("/").split("/"), segments)
            if params is not None:
                return route, params
        return None


def _match_path(pattern: list[str], segments: list[str]) -> dict[str, str] | None:
    params: dict[str, str] = {}
    for index, part in enumerate(pattern):
        rank = _rank(part)
        if rank == 2:
            rest = segments[index:]
            if not rest or rest == [""]:
                return None
            params[part[1:-2]] = "/".join(rest)
            return params
        if index >= len(segments):
            return None
        if rank == 1:
            if not segments[index]:
                return None
            params[part[1:-1]] = segments[index]
        elif part != segments[index]:
            return None
    return params if len(pattern) == len(segments) else None


# --- events -------------------------------------------------------------------------------------


def is_text(content_type: str | None) -> bool:
    kind = (content_type or "").split(";")[0].strip().lower()
    return kind.startswith("text/") or kind in TEXT_TYPES or kind.endswith(("+json", "+xml"))


def http_event(
    route: HttpRoute | None,
    params: dict[str, str],
    request: Request,
    *,
    account_id: str,
    api_id: str = "local",
    request_id: str | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """The API Gateway HTTP API payload format 2.0 event for ``request`` on ``route``."""
    now = time.time() if now is None else now
    key = route_key(route) if route else "$default"
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        name = name.lower()
        if name == "cookie":
            cookies += [c.strip() for c in value.split(";") if c.strip()]
        else:
            headers[name] = f"{headers[name]},{value}" if name in headers else value
    query: dict[str, str] = {}
    for name, value in parse_qsl(request.raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": account_id,
            "apiId": api_id,
            "domainName": headers.get("host", "127.0.0.1"),
            "domainPrefix": headers.get("host", "127.0.0.1").split(".")[0],
            "http": {
                "method": request.method,
                "path": request.raw_path,
                "protocol": request.protocol,
                "sourceIp": request.source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": request_id or base64.b32encode(uuid.uuid4().bytes)[:16].decode().lower(),
            "routeKey": key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if params:
        event["pathParameters"] = params
    if request.body:
        text = _text_body(request)
        event["body"] = text if text is not None else base64.b64encode(request.body).decode()
        event["isBase64Encoded"] = text is None
    return event


def _text_body(request: Request) -> str | None:
    if not is_text(request.header("content-type")):
        return None
    try:
        return request.body.decode()
    except UnicodeDecodeError:
        return None


# --- responses ----------------------------------------------------------------------------------


def http_response(payload: Any) -> Response:
    """The HTTP response API Gateway makes of the function's answer (payload format 2.0)."""
    if not isinstance(payload, dict) or "statusCode" not in payload:
        return Response(200, [("content-type", "application/json")], json.dumps(payload).encode())
    status = payload["statusCode"]
    if not isinstance(status, int) or not 100 <= status <= 599:
        return INTERNAL_ERROR
    headers = [(str(k), str(v)) for k, v in (payload.get("headers") or {}).items()]
    for name, values in (payload.get("multiValueHeaders") or {}).items():
        headers += [(str(name), str(value)) for value in values]
    headers += [("set-cookie", str(cookie)) for cookie in payload.get("cookies") or []]
    body = payload.get("body") or ""
    if not isinstance(body, str):
        body = json.dumps(body)
    data = base64.b64decode(body) if payload.get("isBase64Encoded") else body.encode()
    return Response(status, headers, data)


# --- CORS ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cors:
    origins: tuple[str, ...] = ("*",)
    methods: tuple[str, ...] = ("*",)
    headers: tuple[str, ...] = ()
    expose: tuple[str, ...] = ()
    max_age: int | None = None
    credentials: bool = False

    @classmethod
    def of(cls, template: Template) -> Cors | None:
        """The CorsConfiguration of the template's HttpApi (or of its Globals), if any."""
        apis = template.resources_of(HTTP_API)
        global_api = (template.doc.get("Globals") or {}).get("HttpApi") or {}
        config = next((p["CorsConfiguration"] for p in apis.values() if "CorsConfiguration" in p), None)
        config = global_api.get("CorsConfiguration") if config is None else config
        if not config:
            return None
        if config is True:
            return cls()
        config = template.resolve(config, Physical())
        return cls(
            origins=tuple(config.get("AllowOrigins", ())),
            methods=tuple(m.upper() for m in config.get("AllowMethods", ())),
            headers=tuple(h.lower() for h in config.get("AllowHeaders", ())),
            expose=tuple(config.get("ExposeHeaders", ())),
            max_age=config.get("MaxAge"),
            credentials=bool(config.get("AllowCredentials", False)),
        )

    def _allowed_origin(self, origin: str | None) -> str | None:
        if origin is None:
            return None
        if "*" in self.origins:
            return origin if self.credentials else "*"
        return origin if origin in self.origins else None

    def preflight(self, request: Request) -> Response | None:
        """API Gateway's own answer to a preflight request, None if ``request`` is not one."""
        wanted = request.header("access-control-request-method")
        if request.method != "OPTIONS" or wanted is None:
            return None
        origin = self._allowed_origin(request.header("origin"))
        if origin is None or ("*" not in self.methods and wanted.upper() not in self.methods):
            return Response(204)
        headers = [
            ("access-control-allow-origin", origin),
            ("access-control-allow-methods", ",".join(self.methods)),
        ]
        requested = request.header("access-control-request-headers")
        if self.headers:
            headers.append(("access-control-allow-headers", ",".join(self.headers)))
        elif requested:
            headers.append(("access-control-allow-headers", requested))
        if self.max_age is not None:
            headers.append(("access-control-max-age", str(self.max_age)))
        if self.credentials:
            headers.append(("access-control-allow-credentials", "true"))
        return Response(204, headers)

    def decorate(self, request: Request, response: Response) -> Response:
        origin = self._allowed_origin(request.header("origin"))
        if origin is None:
            return response
        extra = [("access-control-allow-origin", origin)]
        if self.expose:
            extra.append(("access-control-expose-headers", ",".join(self.expose)))
        if self.credentials:
            extra.append(("access-control-allow-credentials", "true"))
        return Response(response.status, [*response.headers, *extra], response.body)


UNAUTHORIZED = message(401, "Unauthorized")


@dataclass(frozen=True)
class JwtAuthorizer:
    """An HttpApi JWT authorizer of the template, applied as API Gateway applies it: the token (the
    identity source, ``Bearer`` optional) must be a JWT whose ``iss`` is the issuer, whose ``aud`` (or
    ``client_id``) is one of the audiences, unexpired and valid already; else 401 ``Unauthorized``
    and the function does not run. The signature is checked with the stack's HS256 secret when the
    template has one (API Gateway checks it with the issuer's JWKS); the function checks it again."""

    name: str
    issuer: str
    audiences: tuple[str, ...]
    header: str = "authorization"
    secret: str = ""

    def claims(self, request: Request) -> dict[str, Any] | None:
        """The token's claims, or None: reject the request."""
        import jwt

        value = request.header(self.header)
        if not value:
            return None
        token = value[7:].strip() if value[:7].lower() == "bearer " else value.strip()
        try:
            if self.secret:
                claims = jwt.decode(token, self.secret, algorithms=["HS256"], options={"verify_aud": False})
            else:
                claims = jwt.decode(token, options={"verify_signature": False, "verify_aud": False})
        except jwt.PyJWTError:
            return None
        now = time.time()
        audience = claims.get("aud", claims.get("client_id"))
        audiences = audience if isinstance(audience, list) else [audience]
        if claims.get("iss") != self.issuer or not set(map(str, audiences)) & set(self.audiences):
            return None
        if not isinstance(claims.get("exp"), int | float) or claims["exp"] <= now:
            return None
        return claims if claims.get("nbf", 0) <= now else None


class Authorizers:
    """The template's HttpApi Auth: its JWT authorizers and the default one of its routes."""

    def __init__(self, authorizers: dict[str, JwtAuthorizer], default: str | None) -> None:
        self.authorizers = authorizers
        self.default = default

    @classmethod
    def of(cls, template: Template) -> Authorizers:
        apis = template.resources_of(HTTP_API)
        auth = next((p["Auth"] for p in apis.values() if "Auth" in p), None)
        if not auth:
            return cls({}, None)
        auth = template.resolve(auth, Physical())
        secret = str(template.parameters.get("JwtSecret") or "")
        found = {}
        for name, spec in (auth.get("Authorizers") or {}).items():
            jwt_config = spec.get("JwtConfiguration")
            if not jwt_config:
                raise TemplateError(f"HttpApi authorizer {name}: only JWT authorizers run locally")
            source = str(spec.get("IdentitySource", "$request.header.Authorization"))
            found[name] = JwtAuthorizer(
                name=name,
                issuer=str(jwt_config.get("issuer", "")),
                audiences=tuple(str(a) for a in jwt_config.get("audience") or ()),
                header=source.removeprefix("$request.header.").lower(),
                secret=secret,
            )
        return cls(found, auth.get("DefaultAuthorizer"))

    def of_route(self, route: HttpRoute) -> JwtAuthorizer | None:
        name = route.authorizer if route.authorizer is not None else self.default
        if name is None or name == "NONE":
            return None
        if name not in self.authorizers:
            raise TemplateError(f"{route.function}.{route.event}: no authorizer {name!r} on the HttpApi")
        return self.authorizers[name]


class StageThrottle:
    """The stage's throttling (``DefaultRouteSettings``: ``ThrottlingBurstLimit`` requests at once,
    ``ThrottlingRateLimit`` a second) as API Gateway applies it: one token bucket for every route
    and caller, checked before the authorizer and the function; an empty bucket answers 429
    ``{"message":"Too Many Requests"}``. Per-route ``RouteSettings`` are not applied locally."""

    def __init__(self, burst: int, rate: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = max(0, int(burst))
        self.rate = max(0.0, float(rate))
        self.clock = clock
        self._tokens = float(self.burst)
        self._at = clock()
        self._lock = threading.Lock()

    @classmethod
    def of(cls, template: Template) -> StageThrottle | None:
        """The throttling of the template's HttpApi (or of its Globals), if it sets any."""
        apis = template.resources_of(HTTP_API)
        global_api = (template.doc.get("Globals") or {}).get("HttpApi") or {}
        settings = next(
            (p["DefaultRouteSettings"] for p in apis.values() if "DefaultRouteSettings" in p),
            global_api.get("DefaultRouteSettings"),
        )
        if not settings:
            return None
        settings = template.resolve(settings, Physical())
        burst, rate = settings.get("ThrottlingBurstLimit"), settings.get("ThrottlingRateLimit")
        if burst is None and rate is None:
            return None
        # API Gateway's account defaults stand in for the one that is not set
        return cls(int(burst if burst is not None else 5000), float(rate if rate is not None else 10000))

    def admit(self) -> bool:
        """Take a token: False when the stage is over its limit (answer TOO_MANY_REQUESTS)."""
        with self._lock:
            now = self.clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False
