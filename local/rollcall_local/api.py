"""The local HTTP API on 127.0.0.1:<ROLLCALL_API_PORT> (3000): the job of ``sam local start-api``.

Routes come from the template's HttpApi events; each request becomes a v2.0 event for the warm
workers of the routed function (see :mod:`rollcall_local.apigw` for the semantics), answered
as API Gateway answers: 404 ``{"message": "Not Found"}`` without a route, 500 ``Internal Server
Error`` when the function fails or times out, 503 ``Service Unavailable`` past the integration
timeout (30 s), 413 above 10 MB, 429 ``{"message": "Too Many Requests"}`` over the stage's
throttling (the HttpApi's ``DefaultRouteSettings``).

Besides the routes (these paths are the local API's own):
- ``GET /openapi.json``: the merged OpenAPI document of every HTTP function; ``GET /docs``: Swagger UI
  (its files under ``/docs/``, from a dev package: no CDN);
- ``GET /_local/schedules``, ``POST /_local/schedules/<id>/fire``: what ``make fire`` calls. POSTs
  need the header ``X-Rollcall-Local: 1``, which a browser cannot send cross-site without a
  preflight this server never grants.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import TimeoutError as FutureTimeout
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from rollcall_local.apigw import (
    INTERNAL_ERROR,
    NOT_FOUND,
    TOO_LARGE,
    TOO_MANY_REQUESTS,
    UNAUTHORIZED,
    UNAVAILABLE,
    Authorizers,
    Cors,
    Request,
    Response,
    Router,
    StageThrottle,
    http_event,
    http_response,
    message,
)
from rollcall_local.config import HOST
from rollcall_local.console import Console
from rollcall_local.errors import LocalError
from rollcall_local.invoke import Invoker
from rollcall_local.openapi import OpenApi, docs_asset

if TYPE_CHECKING:
    from rollcall_local.schedules import Scheduler

MAX_BODY_BYTES = 10 * 1024 * 1024
CONTROL_HEADER = "x-rollcall-local"


class BodyTooLarge(Exception):
    pass


class _Server(ThreadingHTTPServer):
    # socketserver's listen backlog is 5: a burst of clients (twenty teachers marking at once)
    # overflows it and the kernel resets connections. API Gateway takes them all.
    request_queue_size = 128


class ApiServer:
    def __init__(  # noqa: PLR0913 (keyword-only parts of the server, named at the one call)
        self,
        port: int,
        router: Router,
        invoker: Invoker,
        *,
        account_id: str,
        openapi: OpenApi,
        console: Console,
        scheduler: Scheduler | None = None,
        cors: Cors | None = None,
        authorizers: Authorizers | None = None,
        throttle: StageThrottle | None = None,
    ) -> None:
        self.router = router
        self.throttle = throttle
        self.authorizers = authorizers or Authorizers({}, None)
        self.invoker = invoker
        self.account_id = account_id
        self.openapi = openapi
        self.console = console
        self.scheduler = scheduler
        self.cors = cors
        self._server = _Server((HOST, port), _Handler)
        self._server.daemon_threads = True
        self._server.api = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, name="api", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting requests (requests in progress finish on their own threads)."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def respond(self, request: Request) -> Response:
        if request.raw_path.startswith("/_local/"):
            return self._control(request)
        if request.method == "GET" and request.raw_path == "/openapi.json":
            return _json(200, self.openapi.document())
        if request.method == "GET" and request.raw_path == "/docs":
            return Response(200, [("content-type", "text/html; charset=utf-8")], self.openapi.docs_page())
        if request.method == "GET" and request.raw_path.startswith("/docs/"):
            asset = docs_asset(request.raw_path.removeprefix("/docs/"))
            if asset is not None:
                data, kind = asset
                return Response(200, [("content-type", kind), ("cache-control", "max-age=3600")], data)
        if self.cors is None:
            return self._route(request)
        return self.cors.preflight(request) or self.cors.decorate(request, self._route(request))

    def _route(self, request: Request) -> Response:
        found = self.router.match(request.method, request.raw_path)
        if found is None:
            return NOT_FOUND
        route, params = found
        if self.throttle is not None and not self.throttle.admit():  # before the authorizer, as AWS
            self.console.invocation(route.function, f"http {request.method} {request.raw_path}", 429, 0, "")
            return TOO_MANY_REQUESTS
        event = http_event(route, params, request, account_id=self.account_id)
        authorizer = self.authorizers.of_route(route)
        if authorizer is not None:  # as API Gateway: a rejected token never reaches the function
            claims = authorizer.claims(request)
            if claims is None:
                self.console.invocation(
                    route.function, f"http {request.method} {request.raw_path}", 401, 0, ""
                )
                return UNAUTHORIZED
            event["requestContext"]["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
        started = time.monotonic()
        future = self.invoker.submit(route.function, event)
        trigger = f"http {request.method} {request.raw_path}"
        try:
            result = future.result(timeout=route.timeout_ms / 1000)
        except FutureTimeout:  # the function goes on; API Gateway stops waiting
            self.console.invocation(
                route.function, trigger, 503, (time.monotonic() - started) * 1000, "integration timeout"
            )
            return UNAVAILABLE
        response = http_response(result.payload) if result.ok else INTERNAL_ERROR
        self.console.invocation(
            route.function, trigger, response.status, result.duration_ms, result.error_summary()
        )
        request_id = event["requestContext"]["requestId"]
        return Response(response.status, [*response.headers, ("apigw-requestid", request_id)], response.body)

    def _control(self, request: Request) -> Response:
        parts = request.raw_path.strip("/").split("/")
        if self.scheduler is None or parts[1:2] != ["schedules"]:
            return NOT_FOUND
        if request.method == "GET" and len(parts) == 2:
            return _json(200, [vars(schedule) for schedule in self.scheduler.schedules.values()])
        if request.method == "POST" and len(parts) == 4 and parts[3] == "fire":
            if request.header(CONTROL_HEADER) != "1":
                return message(403, f"send the header {CONTROL_HEADER}: 1")
            try:
                schedule = self.scheduler.find(parts[2])
            except LocalError as e:
                return message(404, str(e))
            result = self.scheduler.fire(schedule.logical_id)
            return _json(
                200, {"schedule": schedule.logical_id, "status": result.status, "response": result.payload}
            )
        return NOT_FOUND


def _json(status: int, value: Any) -> Response:
    return Response(status, [("content-type", "application/json")], json.dumps(value, default=str).encode())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "rollcall-local"
    sys_version = ""  # the Server header names no Python version

    def version_string(self) -> str:
        return self.server_version

    # Headers and body go out in two writes: with Nagle's algorithm on, the body then waits for the
    # client's delayed ACK of the headers (40 ms on Linux) on every keep-alive request.
    disable_nagle_algorithm = True

    def _handle(self) -> None:
        api: ApiServer = self.server.api  # type: ignore[attr-defined]
        try:
            body = self._body()
        except BodyTooLarge:
            self.close_connection = True
            self._send(TOO_LARGE)
            return
        except ValueError:
            self.close_connection = True
            self._send(message(400, "Bad Request"))
            return
        path, _, query = self.path.partition("?")
        request = Request(self.command, path, query, list(self.headers.items()), body, self.client_address[0])
        try:
            response = api.respond(request)
        except Exception as e:  # a bug of the local API itself: answer, and say so in the console
            api.console.info(f"local API error on {self.command} {path}: {type(e).__name__}: {e}")
            response = INTERNAL_ERROR
        self._send(response)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_TRACE = _handle

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (an unknown method, a malformed request line) as JSON, not HTML."""
        self.close_connection = True
        self._send(_json(code, {"message": message or self.responses.get(code, ("Error",))[0]}))

    def _body(self) -> bytes:
        if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
            return self._chunked_body()
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY_BYTES:
            raise BodyTooLarge
        return self.rfile.read(length) if length > 0 else b""

    def _chunked_body(self) -> bytes:
        body = bytearray()
        while True:
            size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return bytes(body)
            if len(body) + size > MAX_BODY_BYTES:
                raise BodyTooLarge
            body += self.rfile.read(size)
            self.rfile.readline(1024)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                self.send_header(name, value)
        self.send_header("content-length", str(len(response.body)))
        if self.close_connection:
            self.send_header("connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the console prints one line per invocation instead
