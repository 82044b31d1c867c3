"""Rate limits per user and per organisation (rollcall.services.rate_limits, rollcall.api.rate_limits):
route classes, limits from settings, 429 THROTTLED with its headers, another organisation never
slowed, and the limiter failing open. Real tokens, a real app, the store on moto (mock_aws)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from moto import mock_aws
from pydantic import SecretStr

from rollcall.api.access import AnyUser
from rollcall.api.app import create_app
from rollcall.api.rate_limits import route_class
from rollcall.platform.auth import issue_token
from rollcall.platform.settings import FunctionSettings
from rollcall.services import rate_limits
from rollcall.store.rate_limits import MICROS, RateLimitTable
from testkit.tables import create_key_table

SECRET = "a-local-test-secret-of-at-least-32-characters"
ISS, AUD = "rollcall-test", "rollcall-api"
TABLE = "test-records"
T0 = 1_800_000_000 * MICROS


def settings(**limits: Any) -> FunctionSettings:
    return FunctionSettings(
        stage="test",
        records_table=TABLE,
        auth_issuer=ISS,
        auth_audience=AUD,
        auth_hs256_secret=SecretStr(SECRET),
        **limits,
    )


def bearer(org: str, sub: str, role: str = "teacher") -> dict[str, str]:
    token = issue_token(secret=SECRET, sub=sub, org=org, role=role, issuer=ISS, audience=AUD)
    return {"authorization": f"Bearer {token}"}


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_key_table(client, TABLE)
        RateLimitTable._seen.clear()
        yield client


router = APIRouter()


@router.get("/v1/things")
def things(who: AnyUser) -> dict[str, str]:
    return {"org": who.org}


@router.post("/v1/attendance/import")
def import_(who: AnyUser) -> dict[str, str]:
    return {"org": who.org}


def app_client(**limits: Any) -> TestClient:
    return TestClient(create_app("test", routers=[router], settings=settings(**limits)))


# --- the policy ---------------------------------------------------------------------------------


def test_routes_fall_in_their_classes() -> None:
    assert route_class("GET", "/v1/students/s-1") == "reads"
    assert route_class("POST", "/v1/sessions/x-1/attendance") == "marking"
    assert route_class("POST", "/v1/sessions/x-1/photos") == "marking"
    assert route_class("POST", "/v1/students/s-1/faces") == "marking"
    assert route_class("POST", "/v1/students/s-1/faces/uploads") == "marking"
    assert route_class("POST", "/v1/faces/search") == "marking"
    assert route_class("POST", "/v1/predictions/batch") == "predictions"
    assert route_class("POST", "/v1/attendance/import") == "imports"
    assert route_class("POST", "/v1/models/attendance/train") == "imports"
    assert route_class("POST", "/v1/anomalies/scan") == "imports"
    assert route_class("PATCH", "/v1/sessions/x-1/attendance/s-1") == "writes"
    assert route_class("DELETE", "/v1/students/s-1") == "writes"


def test_limits_come_from_the_settings_and_the_organisation_has_more() -> None:
    user, org = rate_limits.limits(
        settings(rate_limit_marking_per_minute=60, rate_limit_marking_burst=5, rate_limit_org_factor=4),
        "marking",
    )
    assert (user.capacity, user.per_second) == (5, 1.0)
    assert (org.capacity, org.per_second) == (20, 4.0)
    with pytest.raises(ValueError, match="unknown route class"):
        rate_limits.limits(settings(), "everything")


def test_the_user_bucket_refuses_before_the_organisation_bucket_is_touched(dynamodb: Any) -> None:
    s = settings(rate_limit_reads_burst=2, rate_limit_reads_per_minute=6, rate_limit_org_factor=2)
    answers = [rate_limits.check(s, "org-a", "ada", "reads", now=T0) for _ in range(3)]
    assert [a.allowed for a in answers if a] == [True, True, False]
    refused = answers[2]
    assert refused is not None and refused.refused_by == "user" and refused.org is None
    assert refused.retry_after_seconds == 10
    # the organisation's bucket (4 tokens) spent 2: Bob has his own 2, then the organisation is empty
    bob = [rate_limits.check(s, "org-a", "bob", "reads", now=T0) for _ in range(3)]
    assert [b.refused_by for b in bob if b] == [None, None, "user"]
    cyd = rate_limits.check(s, "org-a", "cyd", "reads", now=T0)
    assert cyd is not None and cyd.refused_by == "organisation"
    # another organisation is not slowed
    other = rate_limits.check(s, "org-b", "ada", "reads", now=T0)
    assert other is not None and other.allowed and other.user.remaining == 1


# --- over HTTP ----------------------------------------------------------------------------------


def test_a_burst_gets_429_throttled_with_the_headers_and_another_org_passes(dynamodb: Any) -> None:
    # Given imports limited to 3 a user (and 6 an organisation), 1 a minute
    client = app_client(rate_limit_imports_burst=3, rate_limit_imports_per_minute=1, rate_limit_org_factor=2)
    ada = bearer("org-a", "ada")
    # When Ada sends 5 imports at once
    answers = [client.post("/v1/attendance/import", headers=ada) for _ in range(5)]
    # Then 3 pass, each saying what is left, and 2 are refused in the envelope
    assert [r.status_code for r in answers] == [200, 200, 200, 429, 429]
    assert answers[0].headers["ratelimit-policy"] == '"user-imports";q=3;w=180, "org-imports";q=6;w=180'
    assert answers[0].headers["ratelimit"].startswith('"user-imports";r=2;t=')
    assert '"org-imports";r=5;t=' in answers[0].headers["ratelimit"]
    refused = answers[-1]
    body = refused.json()
    assert body["code"] == "THROTTLED" and body["error"] == "too many requests"
    assert body["detail"]["limited_by"] == "user" and body["detail"]["route_class"] == "imports"
    assert body["request_id"] == refused.headers["x-request-id"]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert body["detail"]["retry_after_seconds"] == int(refused.headers["retry-after"])
    assert refused.headers["ratelimit"].startswith('"user-imports";r=0;t=')
    assert "ratelimit-policy" in refused.headers
    # And reads are another class: Ada still reads
    assert client.get("/v1/things", headers=ada).status_code == 200
    # And another organisation's user is not slowed at all
    other = client.post("/v1/attendance/import", headers=bearer("org-b", "zed"))
    assert other.status_code == 200
    assert other.headers["ratelimit"].startswith('"user-imports";r=2;')
    # And what is stored: Ada's bucket, her organisation's, and org-b's, each under its organisation
    keys = {i["pk"]["S"] + "|" + i["sk"]["S"] for i in dynamodb.scan(TableName=TABLE)["Items"]}
    assert {k.split("#")[1] for k in keys} == {"org-a", "org-b"}
    assert "ORG#org-a#RATE#ORG|imports" in keys and "ORG#org-b#RATE#ORG|imports" in keys


def test_requests_without_a_valid_token_are_left_to_authentication(dynamodb: Any) -> None:
    client = app_client(rate_limit_reads_burst=1)
    for _ in range(3):
        answer = client.get("/v1/things", headers={"authorization": "Bearer nope"})
        assert answer.status_code == 401 and "ratelimit" not in answer.headers
    assert dynamodb.scan(TableName=TABLE)["Count"] == 0
    assert client.get("/health").status_code == 200


def test_the_limiter_fails_open_when_the_store_fails(dynamodb: Any, caplog: pytest.LogCaptureFixture) -> None:
    # Given a limit of one read and a table that does not exist (the store answers an error)
    client = TestClient(
        create_app(
            "test",
            routers=[router],
            settings=settings(rate_limit_reads_burst=1).model_copy(update={"records_table": "missing"}),
        )
    )
    # When three reads are sent
    answers = [client.get("/v1/things", headers=bearer("org-a", "ada")) for _ in range(3)]
    # Then all pass, without rate-limit headers, and the failure is logged
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert all("ratelimit" not in a.headers for a in answers)
    assert "rate limit check failed" in caplog.text


def test_limits_can_be_turned_off(dynamodb: Any) -> None:
    client = app_client(rate_limits_enabled=False, rate_limit_reads_burst=1)
    answers = [client.get("/v1/things", headers=bearer("org-a", "ada")) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert dynamodb.scan(TableName=TABLE)["Count"] == 0
