"""Rate limits through the local stack: one user's burst of imports gets 429 THROTTLED with
Retry-After and the RateLimit headers, while another organisation (and a colleague) still pass.

Imports are the class with the smallest bucket (RATE_LIMIT_IMPORTS_BURST, 30 by default, 30 a
minute). The requests are sent as text/plain, which the import refuses (415 NOT_CSV) after the
rate limit has taken its token: the burst costs the stack nothing but the limiter's updates.
"""

from __future__ import annotations

import boto3
import httpx

from tests.e2e.conftest import LocalStack

MAX_REQUESTS = 120  # bounded: the bucket holds 30 and refills one every 2 s
NOT_CSV = {"content-type": "text/plain"}


def test_a_burst_is_throttled_and_another_organisation_is_not(stack: LocalStack) -> None:
    ada = stack.client("teacher", org="rl-busy", sub="ada")
    # Given Ada's requests, sent one after another until one is refused (at most MAX_REQUESTS)
    answers: list[httpx.Response] = []
    for _ in range(MAX_REQUESTS):
        answers.append(ada.post("/v1/attendance/import", content=b"x", headers=NOT_CSV))
        if answers[-1].status_code == 429:
            break
    # Then the first ones reach the route (415: not a CSV), each telling what is left
    first = answers[0]
    assert first.status_code == 415 and first.json()["code"] == "NOT_CSV"
    assert first.headers["ratelimit-policy"] == '"user-imports";q=30;w=60, "org-imports";q=300;w=60'
    assert first.headers["ratelimit"].startswith('"user-imports";r=29;t=')
    # And one is refused within the bucket's size and what came back meanwhile
    refused = answers[-1]
    assert refused.status_code == 429, [a.status_code for a in answers]
    assert 30 < len(answers) < MAX_REQUESTS
    assert {a.status_code for a in answers[:-1]} == {415}
    body = refused.json()
    assert (body["code"], body["error"]) == ("THROTTLED", "too many requests")
    assert body["detail"]["limited_by"] == "user" and body["detail"]["route_class"] == "imports"
    assert body["request_id"] and body["request_id"] == refused.headers["x-request-id"]
    assert 1 <= int(refused.headers["retry-after"]) <= 2
    assert refused.headers["ratelimit"].startswith('"user-imports";r=0;')

    # When another organisation's teacher, and Ada's colleague, import at once
    other = stack.client("teacher", org="rl-quiet", sub="zed").post(
        "/v1/attendance/import", content=b"x", headers=NOT_CSV
    )
    colleague = stack.client("teacher", org="rl-busy", sub="bob").post(
        "/v1/attendance/import", content=b"x", headers=NOT_CSV
    )
    # Then neither is slowed: the other organisation's buckets are full
    assert other.status_code == 415, other.text
    assert other.headers["ratelimit"] == '"user-imports";r=29;t=2, "org-imports";r=299;t=1'
    assert colleague.status_code == 415, colleague.text
    # And Ada still reads (another class)
    assert ada.get("/v1/me").status_code == 200

    # And the buckets are stored under each organisation's keys, with a TTL
    dynamodb = boto3.client("dynamodb", endpoint_url=stack.endpoint, region_name="us-east-1")
    for org in ("rl-busy", "rl-quiet"):
        key = {"pk": {"S": f"ORG#{org}#RATE#ORG"}, "sk": {"S": "imports"}}
        item = dynamodb.get_item(TableName="rollcall-local-records", Key=key)["Item"]
        assert int(item["tat"]["N"]) > 0 and int(item["expires_at"]["N"]) > 0
