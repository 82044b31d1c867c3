"""Lambda ``Invoke`` and CodeDeploy's hook status, served locally: what a deploy hook calls.

A function that invokes another (the deploy smoke test invokes each function's new version) or
reports to CodeDeploy reaches this server through ``AWS_ENDPOINT_URL_LAMBDA`` and
``AWS_ENDPOINT_URL_CODEDEPLOY``, which the session gives every function it runs.

- ``POST /2015-03-31/functions/<name or ARN>/invocations``: the function of the template with that
  name (or logical id), whatever the qualifier: an alias (``live``), a version or ``$LATEST`` all
  run the current build, as there is one version locally. Answers as Lambda does: the payload,
  ``X-Amz-Function-Error: Unhandled`` when the function failed, ``X-Amz-Executed-Version``.
- ``POST /`` with ``X-Amz-Target: CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus``: the
  status is kept (:attr:`LambdaApi.hook_reports`) and printed, as CodeDeploy would act on it.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from rollcall_local.config import HOST
from rollcall_local.invoke import Result
from rollcall_local.template import Function

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")
HOOK_TARGET = "CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus"
HOOK_STATUSES = ("Pending", "InProgress", "Succeeded", "Failed", "Skipped", "Unknown")


def function_of(name: str, functions: Mapping[str, Function]) -> Function | None:
    """The function a Lambda ``FunctionName`` names: a name, a logical id or an ARN, any qualifier."""
    name = unquote(name)
    if name.startswith("arn:"):
        parts = name.split(":")  # arn:aws:lambda:region:account:function:name[:qualifier]
        name = parts[6] if len(parts) > 6 else ""
    else:
        name = name.split(":")[0]
    for function in functions.values():
        if name in (function.name, function.logical_id):
            return function
    return None


class LambdaApi:
    def __init__(self, functions: Mapping[str, Function], invoke: Callable[[str, Any], Result]) -> None:
        self.functions = functions
        self.invoke = invoke
        self.hook_reports: list[dict[str, str]] = []
        self._server = ThreadingHTTPServer((HOST, 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-lambda", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_address[1]}"

    def environment(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL_LAMBDA": self.url, "AWS_ENDPOINT_URL_CODEDEPLOY": self.url}

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                target = self.headers.get("x-amz-target", "")
                path = urlsplit(self.path).path
                if target == HOOK_TARGET:
                    self._answer(*api.hook_status(body))
                elif match := INVOKE_PATH.match(path):
                    self._answer(*api.invocation(match["name"], body))
                else:
                    self._answer(404, {"message": f"not served locally: {target or path}"}, {})

            def _answer(self, status: int, payload: Any, headers: dict[str, str]) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(raw)

        return Handler

    def invocation(self, name: str, body: bytes) -> tuple[int, Any, dict[str, str]]:
        function = function_of(name, self.functions)
        if function is None:
            error = {"Type": "User", "message": f"Function not found: {unquote(name)}"}
            return 404, error, {"x-amzn-errortype": "ResourceNotFoundException"}
        try:
            event = json.loads(body or b"{}")
        except ValueError:
            return (
                400,
                {"message": "payload is not JSON"},
                {"x-amzn-errortype": "InvalidRequestContentException"},
            )
        result = self.invoke(function.logical_id, event)
        headers = {"x-amz-executed-version": "$LATEST"}
        if not result.ok:
            headers["x-amz-function-error"] = "Unhandled"
        return 200, result.payload, headers

    def hook_status(self, body: bytes) -> tuple[int, Any, dict[str, str]]:
        request = json.loads(body or b"{}")
        report = {
            "deploymentId": str(request.get("deploymentId", "")),
            "lifecycleEventHookExecutionId": str(request.get("lifecycleEventHookExecutionId", "")),
            "status": str(request.get("status", "")),
        }
        if not report["deploymentId"] or report["status"] not in HOOK_STATUSES:
            error = {"__type": "InvalidLifecycleEventHookExecutionStatusException", "message": str(report)}
            return 400, error, {}
        self.hook_reports.append(report)
        print(
            f"CodeDeploy hook {report['lifecycleEventHookExecutionId']}: {report['status']}", file=sys.stderr
        )
        return 200, {"lifecycleEventHookExecutionId": report["lifecycleEventHookExecutionId"]}, {}
