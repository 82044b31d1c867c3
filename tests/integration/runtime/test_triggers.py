"""The triggers' rules on their own: route priority, schedule expressions, partial batch failures,
the merged OpenAPI document and event placeholders (no AWS, no processes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rollcall_local.apigw import Cors, Request, Response, Router, http_response
from rollcall_local.cron import ScheduleError, parse
from rollcall_local.devauth import render_event
from rollcall_local.invoke import Result
from rollcall_local.openapi import merge
from rollcall_local.sqs import to_delete
from rollcall_local.template import HttpRoute

TUESDAY = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)


def route(method: str, path: str, function: str = "F") -> HttpRoute:
    return HttpRoute(function, f"{method}{path}", method, path)


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/a/b", "GET /a/b"),
        ("GET", "/a/x", "GET /a/{p}"),
        ("POST", "/a/b", "ANY /a/{p}"),
        ("GET", "/a/b/c", "ANY /a/{proxy+}"),
        ("GET", "/a/b/c/d", "ANY /a/{proxy+}"),
        ("GET", "/z", "$default"),
    ],
)
def test_the_most_specific_route_matches(method: str, path: str, expected: str) -> None:
    router = Router(
        [
            route("ANY", "$default"),
            route("ANY", "/a/{proxy+}"),
            route("ANY", "/a/{p}"),
            route("GET", "/a/{p}"),
            route("GET", "/a/b"),
        ]
    )

    found = router.match(method, path)

    assert found is not None
    matched = found[0]
    assert ("$default" if matched.path == "$default" else f"{matched.method} {matched.path}") == expected


def test_a_response_without_status_code_is_a_200_of_its_json() -> None:
    assert http_response({"ok": True}).status == 200
    assert http_response({"ok": True}).body == b'{"ok": true}'
    assert http_response([1, 2]).body == b"[1, 2]"
    assert http_response({"statusCode": "200"}).status == 500  # malformed: API Gateway's 500
    encoded = http_response({"statusCode": 201, "body": "aGk=", "isBase64Encoded": True, "cookies": ["a=1"]})
    assert (encoded.status, encoded.body, encoded.headers) == (201, b"hi", [("set-cookie", "a=1")])


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("cron(0 3 ? * MON *)", datetime(2026, 11, 30, 3, 0, tzinfo=UTC)),
        ("cron(30 3 * * ? *)", datetime(2026, 11, 25, 3, 30, tzinfo=UTC)),
        ("cron(0/15 8-17 ? * MON-FRI *)", datetime(2026, 11, 24, 17, 15, tzinfo=UTC)),
        ("cron(0 12 1 JAN,JUL ? 2027)", datetime(2027, 1, 1, 12, 0, tzinfo=UTC)),
        ("cron(5 0 ? * 1 *)", datetime(2026, 11, 29, 0, 5, tzinfo=UTC)),  # 1 is Sunday
        ("rate(6 hours)", TUESDAY + timedelta(hours=6)),
        ("rate(1 minute)", TUESDAY + timedelta(minutes=1)),
    ],
)
def test_schedule_expressions_give_the_next_time_in_utc(expression: str, expected: datetime) -> None:
    assert parse(expression).next_after(TUESDAY, TUESDAY) == expected


def test_a_rate_ticks_from_its_anchor() -> None:
    anchor = TUESDAY - timedelta(minutes=50)

    assert parse("rate(20 minutes)").next_after(TUESDAY, anchor) == TUESDAY + timedelta(minutes=10)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("cron(0 3 L * ? *)", "not supported"),
        ("cron(0 3 ? * 2#1 *)", "not supported"),
        ("cron(0 3 15W * ? *)", "not supported"),
        ("cron(0 3 * * * *)", "exactly one"),
        ("cron(0 3 * *)", "6 fields"),
        ("cron(61 3 * * ? *)", "within 0-59"),
        ("rate(0 days)", "positive"),
        ("at(2026-01-01T00:00:00)", "neither"),
    ],
)
def test_unsupported_or_invalid_expressions_are_refused_clearly(expression: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        parse(expression)


MESSAGES = [{"MessageId": f"m{i}", "ReceiptHandle": f"r{i}"} for i in range(3)]


def result(status: str, payload: Any) -> Result:
    return Result(status, payload, 1.0, "request")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("outcome", "report_failures", "deleted"),
    [
        (result("ok", None), True, ["m0", "m1", "m2"]),
        (result("ok", {"batchItemFailures": []}), True, ["m0", "m1", "m2"]),
        (result("ok", {"batchItemFailures": [{"itemIdentifier": "m1"}]}), True, ["m0", "m2"]),
        (result("ok", {"batchItemFailures": [{"itemIdentifier": "m1"}]}), False, ["m0", "m1", "m2"]),
        (result("ok", {"batchItemFailures": [{"itemIdentifier": "unknown"}]}), True, []),
        (result("ok", {"batchItemFailures": [{"itemIdentifier": ""}]}), True, []),
        (result("error", {"errorType": "ValueError"}), True, []),
        (result("timeout", {"errorType": "Sandbox.Timedout"}), False, []),
    ],
)
def test_the_event_source_deletes_what_the_outcome_allows(
    outcome: Result, report_failures: bool, deleted: list[str]
) -> None:
    assert [m["MessageId"] for m in to_delete(MESSAGES, outcome, report_failures)] == deleted


def test_the_merged_openapi_keeps_each_functions_routed_paths_and_all_components() -> None:
    documents: dict[str, dict[str, Any]] = {
        "A": {
            "openapi": "3.1.0",
            "paths": {"/health": {"get": {"x": "A"}}, "/a": {"get": {}, "post": {}}},
            "components": {"schemas": {"Shared": {"from": "A"}, "OnlyA": {}}},
        },
        "B": {
            "paths": {"/health": {"get": {"x": "B"}}, "/b/{id}": {"put": {}}, "/b/files/x": {"get": {}}},
            "components": {"schemas": {"Shared": {"from": "B"}, "OnlyB": {}}},
        },
    }
    routes = [
        route("GET", "/health", "A"),
        route("POST", "/a", "A"),
        route("ANY", "/b/{id}", "B"),
        route("ANY", "/b/files/{proxy+}", "B"),
    ]

    merged = merge(documents, routes, "test")

    assert merged["paths"] == {
        "/health": {"get": {"x": "A"}},
        "/a": {"post": {}},
        "/b/{id}": {"put": {}},
        "/b/files/x": {"get": {}},
    }
    assert merged["components"]["schemas"] == {"Shared": {"from": "A"}, "OnlyA": {}, "OnlyB": {}}


def test_token_placeholders_are_replaced_everywhere_in_an_event() -> None:
    event = {
        "headers": {"authorization": "Bearer {{token:teacher:demo:alice}}"},
        "list": ["{{token:admin:x:y}}"],
    }

    rendered = render_event(event, lambda role, org, sub: f"<{role}/{org}/{sub}>")

    assert rendered == {"headers": {"authorization": "Bearer <teacher/demo/alice>"}, "list": ["<admin/x/y>"]}


def test_cors_preflights_are_answered_and_responses_decorated_as_the_http_api_configures() -> None:
    cors = Cors(
        origins=("https://app.example",), methods=("GET", "POST"), headers=("authorization",), max_age=600
    )
    preflight = Request(
        "OPTIONS",
        "/v1/me",
        "",
        [("Origin", "https://app.example"), ("Access-Control-Request-Method", "GET")],
        b"",
    )

    answer = cors.preflight(preflight)
    decorated = cors.decorate(preflight, Response(200))
    foreign = cors.decorate(
        Request("GET", "/v1/me", "", [("Origin", "https://evil.example")], b""), Response(200)
    )

    assert answer is not None
    assert answer.status == 204
    assert dict(answer.headers) == {
        "access-control-allow-origin": "https://app.example",
        "access-control-allow-methods": "GET,POST",
        "access-control-allow-headers": "authorization",
        "access-control-max-age": "600",
    }
    assert ("access-control-allow-origin", "https://app.example") in decorated.headers
    assert foreign.headers == []
    assert cors.preflight(Request("OPTIONS", "/v1/me", "", [], b"")) is None  # not a preflight: routed
