"""The emulator's front door: every request to 127.0.0.1:<ROLLCALL_EMULATOR_PORT> passes here first.

A WSGI middleware around moto's server application that
- refuses what a web page in the developer's browser could send: any request with an ``Origin``
  header (browsers add it to cross-origin fetches and to every preflight) and every ``OPTIONS``
  preflight, so no page can read or change the local stack's data;
- refuses requests not signed (SigV4 header or presigned query) with the local stack's access key:
  a plain ``<img src>`` or link to the emulator gets nothing. The signature itself is not
  recomputed: the access key is the local secret-less stack's, and a browser can only send an
  ``Authorization`` header after a preflight, which is refused above;
- sends DynamoDB calls (``X-Amz-Target: DynamoDB_20120810.*``) to dynalite over its Unix socket
  (:mod:`rollcall_local.dynamodb`), and answers itself the few control calls dynalite lacks (TTL
  settings, point-in-time recovery); everything else (S3, SQS, EventBridge, STS, ...) goes to moto.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

DYNAMODB_TARGET = "DynamoDB_20120810."
# What the front answers for dynalite (which does not know these operations).
_OWN_OPERATIONS = {
    "UpdateTimeToLive",
    "DescribeTimeToLive",
    "UpdateContinuousBackups",
    "DescribeContinuousBackups",
}
# What dynalite does not keep of a table (TTL, point-in-time recovery, encryption settings) is kept
# here, per table, in ``settings`` (a JSON file beside the LevelDB folder when there is one).
_SSE = "SSEDescription"
_FORWARDED_HEADERS = ("Content-Type", "X-Amz-Target", "Authorization", "X-Amz-Date", "X-Amz-Security-Token")
_RETURNED_HEADERS = ("content-type", "x-amz-crc32", "x-amzn-requestid")

StartResponse = Callable[..., Any]
Wsgi = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.path)
        self.sock = sock


class Front:
    """The WSGI application the emulator serves: checks, then DynamoDB to dynalite, the rest to moto."""

    def __init__(
        self,
        moto: Wsgi,
        dynamodb_socket: str,
        access_key: str,
        timeout: float = 60,
        settings: Path | None = None,
    ) -> None:
        self.moto = moto
        self.socket = dynamodb_socket
        self.access_key = access_key
        self.timeout = timeout
        self._idle: list[UnixConnection] = []
        self._lock = threading.Lock()
        self._settings_path = settings
        self._settings: dict[str, dict[str, Any]] = {}
        if settings is not None and settings.is_file():
            self._settings = json.loads(settings.read_text())
        self.on_write: Callable[[], None] | None = None  # told of every request moto answers

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        refusal = self.refusal(environ)
        if refusal:
            return _json(
                start_response, "403 Forbidden", {"__type": "AccessDeniedException", "message": refusal}
            )
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith(DYNAMODB_TARGET):
            operation = target[len(DYNAMODB_TARGET) :]
            if operation in _OWN_OPERATIONS:
                return self._answer(operation, _body(environ), start_response)
            if operation in ("CreateTable", "DescribeTable", "DeleteTable"):
                return self._table_call(operation, environ, start_response)
            return self._forward(environ, start_response)
        if self.on_write is not None and environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            self.on_write()
        return self.moto(environ, start_response)

    def refusal(self, environ: dict[str, Any]) -> str | None:
        """Why a request is refused (None: it may pass)."""
        if "HTTP_ORIGIN" in environ or environ.get("REQUEST_METHOD") == "OPTIONS":
            return "the local emulator does not answer web pages (browser Origin or preflight)"
        authorization = environ.get("HTTP_AUTHORIZATION", "")
        if authorization:
            credential = authorization.partition("Credential=")[2] or authorization.partition("AWS ")[2]
            key = credential.split("/", 1)[0].split(":", 1)[0].strip()
        else:
            query = parse_qs(environ.get("QUERY_STRING", ""))
            key = (query.get("X-Amz-Credential") or query.get("AWSAccessKeyId") or [""])[0].split("/", 1)[0]
        if key != self.access_key:
            return "sign requests with the local stack's credentials (AWS_ACCESS_KEY_ID=testing)"
        return None

    # --- DynamoDB ---------------------------------------------------------------------------------

    def _table_call(
        self, operation: str, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        """Create/Describe/DeleteTable, with the encryption settings dynalite does not keep."""
        body = _body(environ)
        request = json.loads(body or b"{}")
        table = str(request.get("TableName", ""))
        status, headers, data = self._send(environ, body)
        if status.startswith("200"):
            if operation == "CreateTable":
                sse = request.get("SSESpecification") or {}
                if sse.get("Enabled"):
                    self._set(table, sse={"Status": "ENABLED", "SSEType": sse.get("SSEType", "KMS")})
            elif operation == "DeleteTable":
                self._set(table, None)
            if operation != "DeleteTable" and self._settings.get(table, {}).get("sse"):
                answer = json.loads(data)
                key = "TableDescription" if operation == "CreateTable" else "Table"
                answer.setdefault(key, {})[_SSE] = self._settings[table]["sse"]
                data = json.dumps(answer).encode()
                headers = [(k, v) for k, v in headers if k.lower() != "x-amz-crc32"]
        start_response(status, [*headers, ("Content-Length", str(len(data)))])
        return [data]

    def _set(self, table: str, value: dict[str, Any] | None = None, **settings: Any) -> None:
        with self._lock:
            if value is None and not settings:
                self._settings.pop(table, None)
            else:
                self._settings.setdefault(table, {}).update(settings)
            if self._settings_path is not None:
                temporary = self._settings_path.with_name(self._settings_path.name + ".tmp")
                fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as f:
                    json.dump(self._settings, f)
                os.replace(temporary, self._settings_path)

    def _forward(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        status, headers, data = self._send(environ, _body(environ))
        start_response(status, [*headers, ("Content-Length", str(len(data)))])
        return [data]

    def _send(self, environ: dict[str, Any], body: bytes) -> tuple[str, list[tuple[str, str]], bytes]:
        """Send a DynamoDB call to dynalite: its status, the headers to pass on and its body."""
        headers = {name: environ[_key(name)] for name in _FORWARDED_HEADERS if _key(name) in environ}
        if "CONTENT_TYPE" in environ:
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        for attempt in range(2):
            # A pooled connection may have been closed by dynalite (Node's keep-alive timeout is 5 s),
            # so the retry always opens a fresh one: only a fresh connection failing means it is gone.
            connection = UnixConnection(self.socket, self.timeout) if attempt else self._connection()
            try:
                connection.request("POST", "/", body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException):
                connection.close()
                if attempt:  # a fresh connection failed too: dynalite is gone
                    gone = {"__type": "ServiceUnavailable", "message": "the local DynamoDB is not running"}
                    return "503 Service Unavailable", [_JSON], json.dumps(gone).encode()
                continue
            returned = [(k, v) for k, v in response.getheaders() if k.lower() in _RETURNED_HEADERS]
            with self._lock:
                self._idle.append(connection)
            return f"{response.status} {response.reason}", returned, data
        raise AssertionError("unreachable")

    def _connection(self) -> UnixConnection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return UnixConnection(self.socket, self.timeout)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _answer(self, operation: str, body: bytes, start_response: StartResponse) -> Iterable[bytes]:
        request = json.loads(body or b"{}")
        table = str(request.get("TableName", ""))
        if operation == "UpdateTimeToLive":
            spec = request.get("TimeToLiveSpecification") or {}
            self._set(table, ttl=spec)
            return _json(start_response, "200 OK", {"TimeToLiveSpecification": spec})
        if operation == "DescribeTimeToLive":
            spec = self._settings.get(table, {}).get("ttl")
            if spec and spec.get("Enabled"):
                description = {"TimeToLiveStatus": "ENABLED", "AttributeName": spec.get("AttributeName")}
            else:
                description = {"TimeToLiveStatus": "DISABLED"}
            return _json(start_response, "200 OK", {"TimeToLiveDescription": description})
        # Point-in-time recovery: nothing to recover locally; reported as set.
        if operation == "UpdateContinuousBackups":
            spec = request.get("PointInTimeRecoverySpecification") or {}
            self._set(table, pitr=bool(spec.get("PointInTimeRecoveryEnabled")))
        status = "ENABLED" if self._settings.get(table, {}).get("pitr") else "DISABLED"
        return _json(
            start_response,
            "200 OK",
            {
                "ContinuousBackupsDescription": {
                    "ContinuousBackupsStatus": "ENABLED",
                    "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": status},
                }
            },
        )


def _key(header: str) -> str:
    return "HTTP_" + header.upper().replace("-", "_")


def _body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""


_JSON = ("Content-Type", "application/x-amz-json-1.0")


def _json(start_response: StartResponse, status: str, payload: dict[str, Any]) -> list[bytes]:
    data = json.dumps(payload).encode()
    start_response(
        status, [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(data)))]
    )
    return [data]
