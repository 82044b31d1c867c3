"""The local stack started as `make run` starts it (python -m rollcall_local run), over HTTP,
against the real build, on free ports, with a temporary .local; stopped with SIGINT."""

from __future__ import annotations

import boto3
import httpx

from tests.e2e.conftest import LocalStack


def test_health_answers_without_a_token(stack: LocalStack) -> None:
    response = httpx.get(f"{stack.api_url}/health", timeout=30)

    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_me_needs_a_token_and_answers_with_a_dev_token(stack: LocalStack) -> None:
    # Without a token: the function's 401
    anonymous = httpx.get(f"{stack.api_url}/v1/me", timeout=30)
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "TOKEN_MISSING"

    # With a dev token from `make token`: the caller's identity
    token = stack.token("teacher")
    known = httpx.get(f"{stack.api_url}/v1/me", headers={"authorization": f"Bearer {token}"}, timeout=30)
    assert known.status_code == 200
    assert known.json() == {"sub": "alice", "org": "demo", "role": "teacher"}


def test_an_unknown_route_is_api_gateways_404(stack: LocalStack) -> None:
    response = httpx.get(f"{stack.api_url}/v1/nothing-here", timeout=30)

    assert (response.status_code, response.json()) == (404, {"message": "Not Found"})


def test_the_merged_openapi_document_has_the_routed_paths(stack: LocalStack) -> None:
    document = httpx.get(f"{stack.api_url}/openapi.json", timeout=60).json()

    assert {"/health", "/v1/me", "/v1/orgs/{org}"} <= set(document["paths"])
    assert "swagger-ui" in httpx.get(f"{stack.api_url}/docs", timeout=30).text


def test_cors_preflights_are_answered_from_the_templates_configuration(stack: LocalStack) -> None:
    headers = {"origin": "http://localhost:5173", "access-control-request-method": "GET"}

    response = httpx.options(f"{stack.api_url}/v1/me", headers=headers, timeout=30)

    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-max-age"] == "600"
    assert "authorization" in response.headers["access-control-allow-headers"]


def test_data_survives_a_restart_and_the_stack_stops_cleanly(stack: LocalStack) -> None:
    # Given an item written straight into the records table at the emulator's endpoint
    dynamodb = boto3.client("dynamodb", endpoint_url=stack.endpoint, region_name="us-east-1")
    key = {"pk": {"S": "ORG#demo#E2E"}, "sk": {"S": "RESTART"}}
    dynamodb.put_item(TableName="rollcall-local-records", Item={**key, "note": {"S": "kept"}})

    # When the stack is stopped with SIGINT and started again
    assert stack.stop() == 0
    # (DynamoDB is on disk as it is written: the stop saves only S3 and SQS)
    assert "state saved: 0 S3 objects, 0 SQS messages" in stack.log.read_text()
    stack.start()

    # Then the item is still there
    item = dynamodb.get_item(TableName="rollcall-local-records", Key=key).get("Item")
    assert item == {**key, "note": {"S": "kept"}}
