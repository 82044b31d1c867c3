"""The local stack started as `make run` starts it (python -m rollcall_local run), over HTTP,
against the real build, on free ports, with a temporary .local; stopped with SIGINT."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from typing import Any

import boto3
import httpx
import pytest

from tests.e2e.conftest import LocalStack


def test_health_answers_without_a_token(stack: LocalStack) -> None:
    response = httpx.get(f"{stack.api_url}/health", timeout=30)

    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_me_needs_a_token_and_answers_with_a_dev_token(stack: LocalStack) -> None:
    # Without a token, or with a token for another audience: the API's JWT authorizer (the
    # template's) answers 401 before the function runs, as API Gateway does
    anonymous = httpx.get(f"{stack.api_url}/v1/me", timeout=30)
    assert (anonymous.status_code, anonymous.json()) == (401, {"message": "Unauthorized"})
    stranger = stack.token("teacher").split(".")
    stranger[1] = stranger[1][::-1]  # a token no longer signed nor readable
    forged = httpx.get(
        f"{stack.api_url}/v1/me", headers={"authorization": "Bearer " + ".".join(stranger)}, timeout=30
    )
    assert (forged.status_code, forged.json()) == (401, {"message": "Unauthorized"})

    # With a dev token from `make token`: the caller's identity
    token = stack.token("teacher")
    known = httpx.get(f"{stack.api_url}/v1/me", headers={"authorization": f"Bearer {token}"}, timeout=30)
    assert known.status_code == 200
    assert known.json() == {"sub": "alice", "org": "demo", "role": "teacher"}


ENVELOPE = {"error", "code", "detail", "request_id"}


def envelope(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert (response.status_code, body.get("code")) == (status, code), body
    assert set(body) == ENVELOPE and isinstance(body["detail"], dict) and body["request_id"]
    return body


def test_unknown_routes_wrong_methods_and_bad_bodies_answer_the_envelope(stack: LocalStack) -> None:
    url, auth = stack.api_url, {"authorization": f"Bearer {stack.token('teacher')}"}
    # An unknown route (through the $default route), a wrong method, TRACE
    envelope(httpx.get(f"{url}/v1/nothing-here", timeout=30), 404, "ROUTE_NOT_FOUND")
    wrong = httpx.delete(f"{url}/v1/sessions", headers=auth, timeout=30)
    assert "POST" in envelope(wrong, 405, "METHOD_NOT_ALLOWED")["detail"]["allowed"]
    envelope(httpx.request("TRACE", f"{url}/v1/students/s-1", timeout=30), 405, "METHOD_NOT_ALLOWED")
    # A trailing slash with a forged Host: no redirect anywhere. API Gateway routes /x/ as /x, so
    # without a token the JWT authorizer refuses it; with one, the app answers 404 (never a redirect)
    for headers, answer in (({}, 401), (auth, 404)):
        forged = httpx.get(
            f"{url}/v1/students/x/",
            headers={"host": "evil.example.com"} | headers,
            timeout=30,
            follow_redirects=False,
        )
        assert "location" not in forged.headers and forged.status_code == answer, forged.text
    envelope(forged, 404, "ROUTE_NOT_FOUND")
    # A body that is not JSON
    bad = httpx.post(
        f"{url}/v1/students",
        headers=auth | {"content-type": "application/json"},
        content=b"{nope",
        timeout=30,
    )
    envelope(bad, 400, "INVALID_JSON")
    # And the server names no Python
    assert "Python" not in httpx.get(f"{url}/health", timeout=30).headers["server"]


def test_the_merged_openapi_document_has_the_routed_paths(stack: LocalStack) -> None:
    document = httpx.get(f"{stack.api_url}/openapi.json", timeout=60).json()

    assert {"/health", "/v1/me", "/v1/orgs/{org}"} <= set(document["paths"])
    assert "swagger-ui" in httpx.get(f"{stack.api_url}/docs", timeout=30).text
    error = {"$ref": "#/components/schemas/ErrorBody"}
    for status in ("401", "403", "404", "422"):
        assert (
            document["paths"]["/v1/me"]["get"]["responses"][status]["content"]["application/json"]["schema"]
            == error
        )
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_docs_render_the_api_offline_in_a_headless_browser(stack: LocalStack) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium on this machine (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
             # offline: every host but the local API's is unreachable
             "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
             "--virtual-time-budget=20000", "--dump-dom", f"{stack.api_url}/docs"],
            capture_output=True, text=True, timeout=180, check=True,
        ).stdout  # fmt: skip
    # Swagger UI ran and rendered the merged document's operations
    assert "opblock" in dom, dom[:2000]
    assert "/v1/students" in dom and "/v1/predictions" in dom


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
