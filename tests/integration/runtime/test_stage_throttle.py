"""The HttpApi stage's throttling (DefaultRouteSettings) applied by the local API as API Gateway
applies it: one bucket for the stage, 429 {"message":"Too Many Requests"} before any function runs."""

from __future__ import annotations

import io
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import httpx

from rollcall_local.api import ApiServer
from rollcall_local.apigw import Router, StageThrottle
from rollcall_local.cfn import load_yaml
from rollcall_local.console import Console
from rollcall_local.invoke import Result
from rollcall_local.openapi import OpenApi
from rollcall_local.template import HttpRoute, Template, pseudo_parameters
from tests.integration.runtime.helpers import free_port

ROOT = Path(__file__).resolve().parents[3]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_bucket_allows_the_burst_then_the_rate() -> None:
    clock = Clock()
    throttle = StageThrottle(burst=3, rate=2, clock=clock)
    assert [throttle.admit() for _ in range(4)] == [True, True, True, False]
    clock.now += 0.5  # one token back
    assert [throttle.admit(), throttle.admit()] == [True, False]
    clock.now += 60  # never more than the burst
    assert sum(throttle.admit() for _ in range(10)) == 3


def template_of(doc: dict[str, Any], **overrides: str) -> Template:
    return Template(
        doc, base_dir=ROOT, overrides=overrides, pseudo=pseudo_parameters("t", "us-east-1", "123456789012")
    )


def test_the_project_template_sets_the_stage_throttling_from_its_parameters() -> None:
    doc = load_yaml(ROOT / "template.yaml")
    throttle = StageThrottle.of(template_of(doc))
    assert throttle is not None and (throttle.burst, throttle.rate) == (200, 100.0)
    tight = StageThrottle.of(template_of(doc, ApiThrottlingBurstLimit="5", ApiThrottlingRateLimit="1"))
    assert tight is not None and (tight.burst, tight.rate) == (5, 1.0)
    assert StageThrottle.of(template_of({"Resources": {}})) is None


class CountingInvoker:
    """Stands in for the functions: answers 200 and counts what reached it."""

    def __init__(self) -> None:
        self.calls = 0

    def submit(self, logical_id: str, event: Any) -> Future[Result]:
        self.calls += 1
        future: Future[Result] = Future()
        future.set_result(Result("ok", {"statusCode": 200, "body": "{}"}, 1.0, "r"))
        return future


def test_the_local_api_answers_429_over_the_stage_limit_before_the_function_runs() -> None:
    # Given a local API whose stage allows a burst of 3 and 1 request a minute
    routes = [HttpRoute("Fn", "Get", "GET", "/items")]
    invoker = CountingInvoker()
    clock = Clock()
    api = ApiServer(
        free_port(),
        Router(routes),
        invoker,  # type: ignore[arg-type]
        account_id="123456789012",
        openapi=OpenApi(routes, invoker, title="t", account_id="123456789012"),  # type: ignore[arg-type]
        console=Console(io.StringIO()),
        throttle=StageThrottle(3, 1 / 60, clock=clock),
    )
    api.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{api.port}", timeout=10) as client:
            # When 5 requests are sent
            answers = [client.get("/items") for _ in range(5)]
    finally:
        api.stop()
    # Then 3 reach the function and 2 get API Gateway's own 429
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    assert answers[-1].json() == {"message": "Too Many Requests"}
    assert invoker.calls == 3
