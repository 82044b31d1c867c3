"""The deploy smoke test: CodeDeploy's PreTraffic hook tries each new version before it takes traffic.

Each new version (a qualified ARN: ``!Ref <Function>.Version``) is invoked directly with API
Gateway events, as the API would send them:

- every function: a route without a token answers 401 (the version starts, routes and
  authenticates);
- predict: ``GET /health`` answers 200; a malformed token and a token of another audience answer
  401; with a canary token (role teacher, organisation ``CANARY_ORG``), ``GET /v1/me`` names the
  canary organisation and ``POST /v1/predictions`` answers a prediction with its method.

The canary token is made with the local HS256 secret, else read from ``SMOKE_TOKEN_PARAMETER``
(SSM); with neither, the canary checks are skipped (and say so). The hook reports ``Succeeded``
only if every check passed; anything else, including an exception, reports ``Failed``, and
CodeDeploy stops the deploy and keeps the alias on the old version.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from rollcall.platform.auth.tokens import issue_token
from rollcall.platform.observability import count, logger
from rollcall.platform.settings import SmokeSettings
from rollcall.store import deploys

MALFORMED_TOKEN = "x.y.z"  # noqa: S105 (not a secret: a token no issuer signed)
# function → a route that needs a token (answers 401 without one)
GUARDED_ROUTE = {
    "encode-face": ("GET", "/v1/students/smoke-test"),
    "mark-attendance": ("GET", "/v1/sessions/smoke-test"),
    "predict": ("GET", "/v1/me"),
    "train": ("POST", "/v1/attendance/import"),
    "anomaly-scan": ("GET", "/v1/anomalies"),
}

Invoke = Callable[[str, dict[str, Any]], deploys.Invocation]


@dataclass(frozen=True)
class Check:
    function: str
    name: str
    passed: bool
    detail: str
    skipped: bool = False


def http_event(method: str, path: str, *, token: str | None = None, body: Any = None) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event, as the API sends it."""
    now = datetime.now(UTC)
    headers = {"content-type": "application/json", "user-agent": "rollcall-smoke-test"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    request_id = f"smoke-{uuid.uuid4().hex[:12]}"
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "smoke",
            "apiId": "smoke",
            "domainName": "smoke.test",
            "domainPrefix": "smoke",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "rollcall-smoke-test",
            },
            "requestId": request_id,
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
        **({"body": json.dumps(body)} if body is not None else {}),
    }


class SmokeTest:
    def __init__(self, settings: SmokeSettings, invoke: Invoke = deploys.invoke) -> None:
        self.settings = settings
        self.invoke = invoke

    def run(self) -> list[Check]:
        checks: list[Check] = []
        for function, arn in self.settings.targets().items():
            checks += self._function(function, arn)
        return checks

    def _call(self, arn: str, event: dict[str, Any]) -> tuple[int | None, Any, str]:
        """(status code, parsed body, what went wrong); status None when the function failed."""
        answer = self.invoke(arn, event)
        if answer.function_error:
            payload = answer.payload if isinstance(answer.payload, dict) else {}
            return None, None, f"{answer.function_error}: {payload.get('errorType')}"
        payload = answer.payload if isinstance(answer.payload, dict) else {}
        try:
            body = json.loads(payload.get("body") or "null")
        except ValueError:
            body = None
        return payload.get("statusCode"), body, ""

    def _expect(self, function: str, name: str, arn: str, event: dict[str, Any], status: int) -> Check:
        try:
            got, body, problem = self._call(arn, event)
        except Exception as e:  # an invoke that fails is a failed check, not a crashed hook
            return Check(function, name, False, f"invoke failed: {type(e).__name__}")
        if got != status:
            code = body.get("code") if isinstance(body, dict) else None
            return Check(function, name, False, problem or f"status {got} (code {code}), expected {status}")
        return Check(function, name, True, f"status {got}")

    def _function(self, function: str, arn: str) -> list[Check]:
        method, path = GUARDED_ROUTE[function]
        checks = [self._expect(function, "no token: 401", arn, http_event(method, path), 401)]
        if function == "predict":
            checks += self._predict(arn)
        return checks

    def _predict(self, arn: str) -> list[Check]:
        s = self.settings
        checks = [
            self._expect("predict", "health: 200", arn, http_event("GET", "/health"), 200),
            self._expect(
                "predict",
                "malformed token: 401",
                arn,
                http_event("GET", "/v1/me", token=MALFORMED_TOKEN),
                401,
            ),
        ]
        secret = s.auth_hs256_secret.get_secret_value()
        if secret:
            stranger = issue_token(
                secret=secret, sub="smoke-test", org=s.canary_org, role="teacher",
                issuer=s.auth_issuer, audience="not-" + s.auth_audience, ttl_seconds=300,
            )  # fmt: skip
            checks.append(
                self._expect(
                    "predict", "wrong audience: 401", arn, http_event("GET", "/v1/me", token=stranger), 401
                )
            )
        token = self._canary_token()
        if token is None:
            return [*checks, Check("predict", "canary prediction", True, "no canary token", skipped=True)]
        return [*checks, self._me(arn, token), *self._canary_student(token), self._prediction(arn, token)]

    def _canary_student(self, token: str) -> list[Check]:
        """The canary organisation's one student, made once (predictions answer only for a student
        who exists): created through the new encode-face version, 201, or 409 when it is there."""
        arn = self.settings.targets().get("encode-face", "")
        if not arn:
            return []
        student = {"student_id": "smoke-student", "name": "Smoke test", "class_ids": ["smoke-class"]}
        got, body, problem = self._call(arn, http_event("POST", "/v1/students", token=token, body=student))
        code = body.get("code") if isinstance(body, dict) else None
        passed = got == 201 or (got == 409 and code == "STUDENT_EXISTS")
        return [Check("encode-face", "canary student", passed, problem or f"status {got}, code {code}")]

    def _canary_token(self) -> str | None:
        s = self.settings
        secret = s.auth_hs256_secret.get_secret_value()
        if secret:
            return issue_token(
                secret=secret, sub="smoke-test", org=s.canary_org, role="teacher",
                issuer=s.auth_issuer, audience=s.auth_audience, ttl_seconds=300,
            )  # fmt: skip
        if s.smoke_token_parameter:
            return deploys.read_secure_parameter(s.smoke_token_parameter)
        return None

    def _me(self, arn: str, token: str) -> Check:
        got, body, problem = self._call(arn, http_event("GET", "/v1/me", token=token))
        org = body.get("org") if isinstance(body, dict) else None
        passed = got == 200 and org == self.settings.canary_org
        return Check("predict", "canary token: /v1/me", passed, problem or f"status {got}, org {org}")

    def _prediction(self, arn: str, token: str) -> Check:
        starts = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
        query = {"student_id": "smoke-student", "class_id": "smoke-class", "starts_at": starts.isoformat()}
        got, body, problem = self._call(arn, http_event("POST", "/v1/predictions", token=token, body=query))
        method = body.get("method") if isinstance(body, dict) else None
        passed = got == 200 and method is not None
        return Check("predict", "canary prediction", passed, problem or f"status {got}, method {method}")


def on_pre_traffic(
    event: dict[str, Any], settings: SmokeSettings, test: SmokeTest | None = None
) -> dict[str, Any]:
    """The PreTraffic hook: run the checks, report Succeeded or Failed to CodeDeploy, return both."""
    deployment_id = str(event.get("DeploymentId") or "")
    execution_id = str(event.get("LifecycleEventHookExecutionId") or "")
    clock = time.perf_counter()
    try:
        checks = (test or SmokeTest(settings)).run()
        status = "Succeeded" if checks and all(c.passed for c in checks) else "Failed"
    except Exception:
        logger.exception("smoke test crashed")
        checks, status = [], "Failed"
    failed = [f"{c.function}: {c.name}: {c.detail}" for c in checks if not c.passed]
    logger.info(
        "smoke test",
        extra={
            "deployment_id": deployment_id,
            "status": status,
            "checks": len(checks),
            "failed": failed,
            "skipped": [f"{c.function}: {c.name}" for c in checks if c.skipped],
            "ms": round((time.perf_counter() - clock) * 1000, 1),
        },
    )
    count("SmokeTestPassed" if status == "Succeeded" else "SmokeTestFailed")
    if deployment_id and execution_id:
        deploys.report_hook_status(deployment_id, execution_id, status)
    return {"status": status, "checks": [asdict(c) for c in checks]}
