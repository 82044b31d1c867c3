"""The local HTTP API delivers API Gateway HTTP API v2.0 events and answers as API Gateway does."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from rollcall_local.api import MAX_BODY_BYTES
from rollcall_local.stack import Stack


@pytest.fixture(scope="module")
def client(fixture_stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fixture_stack.session.config.api_url, timeout=30) as client:
        yield client


def echoed(response: httpx.Response) -> dict[str, Any]:
    """The event the probe function received (it echoes it back)."""
    assert response.status_code == 200, response.text
    event: dict[str, Any] = response.json()["event"]
    return event


def test_the_most_specific_route_wins(client: httpx.Client) -> None:
    # Given routes GET /items/{id} and GET /items/special
    # When each is requested
    special = echoed(client.get("/items/special"))
    item = echoed(client.get("/items/42"))

    # Then the literal route takes its own path, the parameter route the others
    assert special["routeKey"] == "GET /items/special"
    assert "pathParameters" not in special
    assert item["routeKey"] == "GET /items/{id}"
    assert item["pathParameters"] == {"id": "42"}


def test_a_request_becomes_a_v2_event(client: httpx.Client, fixture_stack: Stack) -> None:
    # When a request with a query, repeated headers, cookies and a JSON body is sent to an ANY route
    response = client.post(
        "/files/reports/2026/march.json?a=1&a=2&empty=",
        headers=[
            ("X-Multi", "one"),
            ("X-Multi", "two"),
            ("Cookie", "s=1; theme=dark"),
            ("User-Agent", "tests"),
        ],
        json={"hello": "world"},
    )
    event = echoed(response)

    # Then the event is API Gateway's payload format 2.0
    assert event["version"] == "2.0"
    assert event["routeKey"] == "ANY /files/{proxy+}"
    assert event["rawPath"] == "/files/reports/2026/march.json"
    assert event["rawQueryString"] == "a=1&a=2&empty="
    assert event["queryStringParameters"] == {"a": "1,2", "empty": ""}
    assert event["pathParameters"] == {"proxy": "reports/2026/march.json"}
    assert event["headers"]["x-multi"] == "one,two"
    assert "cookie" not in event["headers"]
    assert event["cookies"] == ["s=1", "theme=dark"]
    assert (event["body"], event["isBase64Encoded"]) == ('{"hello":"world"}', False)
    context = event["requestContext"]
    assert context["http"] == {
        "method": "POST",
        "path": "/files/reports/2026/march.json",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "tests",
    }
    assert (context["stage"], context["routeKey"], context["accountId"]) == (
        "$default",
        "ANY /files/{proxy+}",
        "123456789012",
    )
    assert context["requestId"] == response.headers["apigw-requestid"]
    assert isinstance(context["timeEpoch"], int)
    assert context["time"].endswith("+0000")
    # And the function's cookies come back as Set-Cookie
    assert response.headers["set-cookie"] == "seen=1"


def test_a_binary_body_is_base64_encoded(client: httpx.Client) -> None:
    photo = bytes(range(256)) * 4

    event = echoed(client.put("/files/photo.jpg", content=photo, headers={"content-type": "image/jpeg"}))

    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == photo


def test_no_route_is_api_gateways_404(client: httpx.Client) -> None:
    for method, path in (
        ("GET", "/nowhere"),
        ("GET", "/items/1/more"),
        ("POST", "/items/1"),
        ("GET", "/files/"),
    ):
        response = client.request(method, path)
        assert (response.status_code, response.json()) == (404, {"message": "Not Found"}), (method, path)


def test_a_failing_or_timed_out_function_is_api_gateways_500(
    client: httpx.Client, fixture_stack: Stack
) -> None:
    # Given a function whose init fails, and one that runs past its 1 s timeout
    for path in ("/broken", "/slow"):
        # When it is requested
        response = client.get(path)

        # Then the client gets API Gateway's answer, not the function's error
        assert (response.status_code, response.json()) == (500, {"message": "Internal Server Error"}), path
    lines = fixture_stack.console.stream.getvalue()  # type: ignore[union-attr]
    assert "http GET /slow" in lines
    assert "timeout" in lines


def test_a_body_above_10_mb_is_refused(client: httpx.Client) -> None:
    response = client.post("/files/big.bin", content=b"x" * (MAX_BODY_BYTES + 1))

    assert (response.status_code, response.json()) == (413, {"message": "Request Entity Too Large"})


def test_a_chunked_body_is_read_whole(client: httpx.Client) -> None:
    chunks = [b"first,", b"second,", b"third"]

    event = echoed(
        client.post("/files/stream.txt", content=iter(chunks), headers={"content-type": "text/plain"})
    )

    assert event["body"] == "first,second,third"


def test_no_answer_is_html_and_the_server_names_no_python(client: httpx.Client) -> None:
    # TRACE is routed like any method (no route here: API Gateway's 404); a method http.server
    # does not know is JSON too
    for method in ("TRACE", "FOO"):
        response = client.request(method, "/items/1")
        assert response.headers["content-type"] == "application/json", method
        assert response.status_code in (404, 501) and "message" in response.json()
    server = client.get("/items/1").headers["server"]
    assert server == "rollcall-local" and "Python" not in server


def test_docs_load_nothing_from_elsewhere(client: httpx.Client) -> None:
    # Given the docs page
    page = client.get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    # Then every file it loads is served by the local API itself (no CDN, works offline)
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sorted(sources) == ["/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css"]
    assert "//" not in "".join(sources)
    for source, kind in (("/docs/swagger-ui-bundle.js", "javascript"), ("/docs/swagger-ui.css", "css")):
        asset = client.get(source)
        assert asset.status_code == 200 and kind in asset.headers["content-type"]
        assert len(asset.content) > 100_000
    assert b"SwaggerUIBundle" in client.get("/docs/swagger-ui-bundle.js").content
    # And no other file is served from there
    assert client.get("/docs/../template.yaml").status_code == 404
    assert client.get("/docs/index.html").status_code == 404
