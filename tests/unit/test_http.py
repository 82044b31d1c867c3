"""The HTTP layer every function shares: error bodies, status mapping, request ids, dispatch."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from pydantic import BaseModel, SecretStr

from rollcall.api.access import Staff
from rollcall.api.app import create_app
from rollcall.platform import errors
from rollcall.platform.auth import issue_token
from rollcall.platform.handlers import make_handler, trigger_of
from rollcall.platform.settings import FunctionSettings

SECRET = "a-local-test-secret-of-at-least-32-characters"
SETTINGS = FunctionSettings(
    stage="test",
    records_table="t-records",
    auth_issuer="iss",
    auth_audience="aud",
    auth_hs256_secret=SecretStr(SECRET),
)
TOKEN = issue_token(secret=SECRET, sub="alice", org="demo", role="teacher", issuer="iss", audience="aud")
AUTH = {"authorization": f"Bearer {TOKEN}"}


class Photo(BaseModel):
    image_base64: str
    count: int


router = APIRouter()


@router.post("/v1/photos")
def upload(body: Photo, who: Staff) -> dict[str, int]:
    return {"count": body.count}


@router.get("/v1/boom")
def boom(who: Staff) -> None:
    raise RuntimeError("secret internals")


@router.get("/v1/no-face")
def no_face(who: Staff) -> None:
    raise errors.NoFace("no face was found in the photo")


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app("test", routers=[router], settings=SETTINGS), raise_server_exceptions=False)


def test_domain_error_gets_its_status_code_and_body(client: TestClient) -> None:
    response = client.get("/v1/no-face", headers=AUTH | {"x-request-id": "req-42"})
    assert response.status_code == 422
    assert response.json() == {
        "error": "unprocessable",
        "code": "NO_FACE",
        "detail": {"message": "no face was found in the photo"},
        "request_id": "req-42",
    }
    assert response.headers["x-request-id"] == "req-42"


def test_validation_error_never_echoes_the_input(client: TestClient) -> None:
    # Given a body whose photo field is fine but whose count is not a number
    photo = "SECRET-PHOTO-BYTES" * 10
    response = client.post("/v1/photos", headers=AUTH, json={"image_base64": photo, "count": "many"})
    # Then 422 names the field, and the photo is not in the answer
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert body["detail"]["problems"][0]["loc"] == ["body", "count"]
    assert "SECRET-PHOTO" not in response.text and "many" not in response.text


ENVELOPE = {"error", "code", "detail", "request_id"}


def assert_envelope(response: Any, status: int, code: str) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert (response.status_code, body.get("code")) == (status, code), body
    assert set(body) == ENVELOPE and isinstance(body["detail"], dict) and body["request_id"]
    assert "detail" not in body["detail"]
    return body


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b'{"image_base64": "\xff\xfe", "count": 1',
        b"[" * 200_000 + b"]" * 200_000,
        b"\xff\xfe{}",
    ],
    ids=["malformed", "truncated", "nested-200k", "invalid-utf8"],
)
def test_a_body_that_is_not_json_is_400_invalid_json(client: TestClient, content: bytes) -> None:
    response = client.post("/v1/photos", headers=AUTH | {"content-type": "application/json"}, content=content)
    assert_envelope(response, 400, "INVALID_JSON")


def test_a_trailing_slash_never_redirects_to_the_host_a_client_names(client: TestClient) -> None:
    # Given a request for a route with a trailing slash and a forged Host, without a token
    response = client.get("/v1/me/", headers={"host": "evil.example.com"}, follow_redirects=False)
    # Then no redirect (to evil.example.com or anywhere): a 404 in the envelope
    assert "location" not in response.headers
    assert_envelope(response, 404, "ROUTE_NOT_FOUND")


def test_unexpected_error_is_a_500_without_internals(client: TestClient) -> None:
    response = client.get("/v1/boom", headers=AUTH)
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "INTERNAL_ERROR"
    assert body["request_id"]
    assert "secret internals" not in response.text and "Traceback" not in response.text


def test_unknown_route_and_wrong_method(client: TestClient) -> None:
    assert_envelope(client.get("/v1/nowhere"), 404, "ROUTE_NOT_FOUND")
    assert_envelope(client.delete("/v1/photos", headers=AUTH), 405, "METHOD_NOT_ALLOWED")


def test_a_path_another_function_serves_with_other_methods_is_405(client: TestClient) -> None:
    # Given this function reached through the catch-all route with a path of the students router
    response = client.request("TRACE", "/v1/students/s-1", headers=AUTH)
    body = assert_envelope(response, 405, "METHOD_NOT_ALLOWED")
    assert "GET" in body["detail"]["allowed"] and "GET" in response.headers["allow"]
    assert_envelope(client.request("TRACE", "/v1/nowhere"), 404, "ROUTE_NOT_FOUND")


def test_every_error_detail_is_an_object() -> None:
    assert errors.NoFace("no face").body("r")["detail"] == {"message": "no face"}
    assert errors.FaceLimit({"max_faces": 3}).body("r")["detail"] == {"max_faces": 3}
    assert errors.NotFound().body("r")["detail"] == {"message": "not found"}


def test_every_category_has_a_status() -> None:
    # Given every error class, Then its status comes from its category, and codes are unique
    classes = [
        c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.RollcallError)
    ]
    by_code: dict[str, type] = {}
    for cls in classes:
        status = cls().status
        assert 400 <= status <= 599
        if cls not in errors.STATUS_BY_CATEGORY:
            assert by_code.setdefault(cls.code, cls) is cls, f"{cls.code} used twice"
    assert errors.DuplicateFace().status == 409
    assert errors.ImageTooLarge().status == 413
    assert errors.UnsupportedImage().status == 415
    assert errors.WrongOrganisation().status == 403


# --- the Lambda entry ----------------------------------------------------------------------------


class Context:
    function_name = "test-fn"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test-fn"
    aws_request_id = "lambda-req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def http_event(method: str, path: str, headers: dict[str, str], body: str | None = None) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "localhost",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "t",
            },
            "requestId": "apigw-req-7",
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "time": "24/Nov/2026:10:00:00 +0000",
            "timeEpoch": 1795514400000,
        },
        "body": body,
        "isBase64Encoded": False,
    }


def test_handler_serves_api_gateway_v2_events_with_the_gateway_request_id() -> None:
    handler = make_handler(http=create_app("test", routers=[router], settings=SETTINGS))
    body = json.dumps({"image_base64": "x", "count": 3})
    response = handler(
        http_event("POST", "/v1/photos", AUTH | {"content-type": "application/json"}, body), Context()
    )
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"count": 3}
    refused = handler(http_event("GET", "/v1/me", {}), Context())
    assert refused["statusCode"] == 401
    assert json.loads(refused["body"])["request_id"] == "apigw-req-7"


def test_handler_refuses_triggers_it_does_not_have() -> None:
    handler = make_handler(http=create_app("test", settings=SETTINGS))
    scheduled = {
        "version": "0",
        "id": "e1",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "detail": {},
    }
    assert trigger_of(scheduled) == "schedule"
    with pytest.raises(errors.InvalidInput):
        handler(scheduled, Context())
    with pytest.raises(errors.InvalidInput):
        trigger_of({"hello": "world"})


def test_openapi_documents_every_error_status_with_the_real_body() -> None:
    # Given an app with every router of the API
    import importlib

    from fastapi.routing import APIRouter as Router

    from rollcall.api.app import API_MODULES

    routers = [
        v
        for name in API_MODULES
        for v in vars(importlib.import_module(f"rollcall.api.{name}")).values()
        if isinstance(v, Router)
    ]
    document = create_app("all", routers=routers, settings=SETTINGS).openapi()
    # Then FastAPI's own validation body is gone and the envelope is the error schema
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert set(schemas["ErrorBody"]["required"]) == ENVELOPE
    assert schemas["ErrorBody"]["properties"]["detail"]["type"] == "object"
    # And every authenticated operation documents 401, 403, 404, 409 (writes) and 422 with it
    operations = [(p, m, op) for p, ops in document["paths"].items() for m, op in ops.items()]
    assert len(operations) > 20
    for path, method, operation in operations:
        if path == "/health":
            continue
        wanted = (
            {"400", "401", "403", "404", "422", "500", "503"}
            | ({"409"} if method != "get" else set())
            | ({"413"} if method in ("post", "put", "patch") else set())
        )
        assert wanted <= set(operation["responses"]), (method, path)
        for status in wanted:
            content = operation["responses"][status]["content"]["application/json"]["schema"]
            assert content == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
    assert "HTTPValidationError" not in json.dumps(document)
