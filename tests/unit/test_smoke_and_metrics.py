"""The deploy smoke test's verdict from what the new versions answer; metrics with a dimension."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import SecretStr

from rollcall.platform.observability import count_by
from rollcall.platform.settings import SmokeSettings
from rollcall.services import smoke
from rollcall.store.deploys import Invocation

pytestmark = pytest.mark.unit
ARN = "arn:aws:lambda:eu-west-1:1:function:{}:7"


def settings(**targets: str) -> SmokeSettings:
    return SmokeSettings.model_validate(
        {
            "stage": "test",
            "records_table": "records",
            "auth_issuer": "rollcall-test",
            "auth_audience": "rollcall-api",
            "auth_hs256_secret": SecretStr("s" * 32),
            "canary_org": "canary",
            **targets,
        }
    )


def healthy(arn: str, event: dict[str, Any]) -> Invocation:
    """A version that behaves: 401 without a good token, health, identity and a prediction."""
    path = event["rawPath"]
    import jwt

    token = event["headers"].get("authorization", "").removeprefix("Bearer ")
    try:
        good = jwt.decode(token, options={"verify_signature": False})["aud"] == "rollcall-api"
    except jwt.PyJWTError:
        good = False
    if path == "/health":
        status, body = 200, {"status": "ok"}
    elif not token or not good:
        status, body = 401, {"code": "TOKEN_INVALID"}
    elif path == "/v1/me":
        status, body = 200, {"org": "canary"}
    else:
        status, body = 200, {"method": "heuristic"}
    return Invocation({"statusCode": status, "body": json.dumps(body)}, None, "7")


def test_a_healthy_version_passes_every_check() -> None:
    test = smoke.SmokeTest(
        settings(smoke_target_predict=ARN.format("p"), smoke_target_train=ARN.format("t")), healthy
    )

    checks = test.run()

    assert {c.function for c in checks} == {"predict", "train"}
    assert all(c.passed for c in checks), [c for c in checks if not c.passed]
    assert {"health: 200", "canary token: /v1/me", "canary prediction"} <= {c.name for c in checks}


def test_a_version_that_fails_or_lets_anyone_in_fails_the_deploy(monkeypatch: pytest.MonkeyPatch) -> None:
    reported: list[tuple[str, str, str]] = []
    monkeypatch.setattr(smoke.deploys, "report_hook_status", lambda *args: reported.append(args))

    def crashing(arn: str, event: dict[str, Any]) -> Invocation:
        return Invocation({"errorType": "ImportError"}, "Unhandled", "7")

    def open_door(arn: str, event: dict[str, Any]) -> Invocation:
        return Invocation({"statusCode": 200, "body": "{}"}, None, "7")

    for invoke in (crashing, open_door):
        s = settings(smoke_target_anomaly_scan=ARN.format("a"))
        answer = smoke.on_pre_traffic(
            {"DeploymentId": "d-1", "LifecycleEventHookExecutionId": "h-1"}, s, smoke.SmokeTest(s, invoke)
        )
        assert answer["status"] == "Failed"
    assert reported == [("d-1", "h-1", "Failed")] * 2


def test_count_by_writes_its_own_emf_document_with_the_dimension(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "predict")

    count_by("PredictionsByMethod", "method", "heuristic", 3)

    document = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    directive = document["_aws"]["CloudWatchMetrics"][0]
    assert set(directive["Dimensions"][0]) == {"service", "method"}
    assert (document["service"], document["method"], document["PredictionsByMethod"]) == (
        "predict",
        "heuristic",
        [3.0],
    )
