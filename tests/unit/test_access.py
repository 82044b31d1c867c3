"""Authorisation is decided in the API layer (rollcall.api.access): a route refuses before any
service runs. Real tokens, the real predict app; no network (a refused request reaches no store).
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from rollcall.api import predictions
from rollcall.api.app import create_app
from rollcall.platform.auth import issue_token
from rollcall.platform.settings import PredictSettings

SECRET = "a-local-test-secret-of-at-least-32-characters"
ISS, AUD = "rollcall-test", "rollcall-api"


@pytest.fixture(scope="module")
def client() -> TestClient:
    settings = PredictSettings(
        stage="test",
        records_table="test-records",
        registry_table="test-registry",
        model_bucket="test-models",
        alert_queue_url="http://127.0.0.1:1/queue/alerts",
        auth_issuer=ISS,
        auth_audience=AUD,
        auth_hs256_secret=SecretStr(SECRET),
    )
    return TestClient(create_app("predict", routers=[predictions.router], settings=settings))


def as_student(sub: str) -> dict[str, str]:
    token = issue_token(secret=SECRET, sub=sub, org="org-a", role="student", issuer=ISS, audience=AUD)
    return {"authorization": f"Bearer {token}"}


def refused(response: Any) -> None:
    assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN"), response.text


def test_a_student_is_refused_predictions_about_anyone_else(client: TestClient) -> None:
    # Given a student's token; When it asks about another student, alone or within a batch
    me = as_student("s-1")
    one = {"student_id": "s-2", "session_id": "x-1"}
    # Then the route refuses, before any store is read (unit tests have no network)
    refused(client.post("/v1/predictions", json=one, headers=me))
    refused(
        client.post("/v1/predictions/batch", json={"items": [one | {"student_id": "s-1"}, one]}, headers=me)
    )


def test_a_student_is_refused_a_whole_class(client: TestClient) -> None:
    refused(client.post("/v1/predictions/batch", json={"session_id": "x-1"}, headers=as_student("s-1")))
