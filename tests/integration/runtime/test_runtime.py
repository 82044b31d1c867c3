"""The local runtime runs the fixture app as Lambda would: isolation, SQS, schedules, failures."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import re
import sys
import time
from concurrent.futures import wait
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from rollcall_local.api import CONTROL_HEADER
from rollcall_local.console import Console
from rollcall_local.cron import Rate
from rollcall_local.schedules import Scheduler
from rollcall_local.stack import Stack
from tests.integration.runtime.helpers import wait_for

RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")


def invoke(stack: Stack, function: str, event: Any) -> Any:
    return stack.invoker.invoke(function, event)


# --- isolation ------------------------------------------------------------------------------------


def test_an_invocation_sees_its_code_its_layer_and_the_runtime_only(fixture_stack: Stack) -> None:
    build, runtime = fixture_stack.session.config.build_dir, fixture_stack.session.runtime

    # Given the probe function (its code folder and the tiny layer)
    # When it imports the layer's module and everything the Lambda runtime provides
    result = invoke(fixture_stack, "ProbeFunction", {"import": ["tinylib", *RUNTIME_PROVIDED]})

    # Then each comes from where Lambda would take it
    assert result.ok, result.payload
    modules, sys_path = result.payload["modules"], result.payload["sys_path"]
    assert result.payload["layer"] == "from the layer"
    assert Path(modules["tinylib"]).parent == build / "TinyLayer" / "python"
    for name in RUNTIME_PROVIDED:
        assert Path(modules[name]).is_relative_to(runtime), name
    # And the path is code, layer, runtime, then the standard library: no venv, no site-packages
    assert sys_path[:3] == [str(build / "ProbeFunction"), str(build / "TinyLayer" / "python"), str(runtime)]
    assert not [p for p in sys_path if "site-packages" in p or p.startswith(sys.prefix)]


@pytest.mark.parametrize("module", ["yaml", "requests", "moto", "rollcall"])
def test_a_module_of_the_venv_that_no_layer_provides_fails_to_import(
    fixture_stack: Stack, module: str
) -> None:
    # Given a module installed in the venv the stack runs from, but in no layer of the function
    assert importlib.util.find_spec(module) is not None

    # When the function imports it
    result = invoke(fixture_stack, "ProbeFunction", {"import": [module]})

    # Then the invocation fails as on Lambda, with the error and its trace
    assert result.status == "error"
    assert result.payload["errorType"] == "ModuleNotFoundError"
    assert result.payload["errorMessage"] == f"No module named '{module}'"
    assert any("probe.py" in frame for frame in result.payload["stackTrace"])


def test_an_invocation_gets_the_template_environment_and_a_lambda_context(fixture_stack: Stack) -> None:
    # When the probe reports its environment and context
    result = invoke(fixture_stack, "ProbeFunction", {})

    # Then the template's variables are resolved (samconfig override, Ref, GetAtt, Sub)
    assert result.ok, result.payload
    env, context = result.payload["environment"], result.payload["context"]
    assert env["GREETING"] == "bonjour"
    assert env["EVENTS_TABLE"] == "runtime-fixture-events"
    assert env["QUEUE_ARN"] == "arn:aws:sqs:us-east-1:123456789012:runtime-fixture-JobsQueue"
    assert env["STACK_REGION"] == "runtime-fixture@us-east-1"
    # And Lambda's own variables are there
    assert env["AWS_ENDPOINT_URL"] == fixture_stack.session.aws.endpoint
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "ProbeFunction"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["POWERTOOLS_TRACE_DISABLED"] == "true"
    assert env["_HANDLER"] == "probe.handler"
    # And the context is Lambda's
    assert context["function_name"] == "ProbeFunction"
    assert context["function_version"] == "$LATEST"
    assert context["invoked_function_arn"] == "arn:aws:lambda:us-east-1:123456789012:function:ProbeFunction"
    assert context["memory_limit_in_mb"] == "256"
    assert context["aws_request_id"] == result.request_id
    assert context["log_group_name"] == "/aws/lambda/ProbeFunction"
    assert "[$LATEST]" in context["log_stream_name"]
    assert 0 < context["remaining_ms"] <= 5000


# --- failures -------------------------------------------------------------------------------------


def test_a_handler_past_its_timeout_is_stopped_and_reported_then_replaced(fixture_stack: Stack) -> None:
    # Given a function with Timeout: 1
    # When an invocation sleeps 5 s
    started = time.monotonic()
    result = invoke(fixture_stack, "SlowFunction", {"seconds": 5})

    # Then it is stopped at 1 s and reported as Lambda reports a timeout
    assert result.status == "timeout"
    assert result.payload["errorMessage"].endswith("Task timed out after 1.00 seconds")
    assert time.monotonic() - started < 4
    # And the next invocation runs on a new worker
    assert invoke(fixture_stack, "SlowFunction", {"seconds": 0}).ok


def test_a_process_that_exits_during_an_invocation_is_reported_then_replaced(fixture_stack: Stack) -> None:
    result = invoke(fixture_stack, "SlowFunction", {"exit": 3})

    assert result.status == "error"
    assert result.payload["errorType"] == "Runtime.ExitError"
    assert result.payload["errorMessage"].endswith("Runtime exited with error: exit status 3")
    assert invoke(fixture_stack, "SlowFunction", {"seconds": 0}).ok


def test_a_function_past_its_memory_size_is_stopped_and_reported_then_replaced(fixture_stack: Stack) -> None:
    # Given the probe, with MemorySize 256
    # When an invocation holds 400 MB
    result = invoke(fixture_stack, "ProbeFunction", {"allocate_mb": 400, "hold_seconds": 3})
    # Then it is stopped and reported as Lambda reports running out of memory
    assert result.status == "error", result.payload
    assert result.payload["errorType"] == "Runtime.OutOfMemory"
    assert "of 256 MB" in result.payload["errorMessage"]
    # And within its memory it runs, on a new worker
    assert invoke(fixture_stack, "ProbeFunction", {"allocate_mb": 64, "hold_seconds": 0}).payload == {
        "allocated_mb": 64
    }


def test_a_failing_init_is_reported_on_every_invocation(fixture_stack: Stack) -> None:
    # Given a function whose module raises when imported
    for _ in range(2):
        # When it is invoked
        result = invoke(fixture_stack, "BrokenFunction", {})

        # Then the init error is the invocation's error, with the trace into the module
        assert result.status == "error"
        assert result.payload["errorType"] == "RuntimeError"
        assert result.payload["errorMessage"] == "broken at init"
        assert any("broken.py" in frame for frame in result.payload["stackTrace"])


def test_concurrent_invocations_run_in_separate_workers_at_the_same_time(fixture_stack: Stack) -> None:
    # Given a pool of 2 workers per function; When two invocations are submitted together
    futures = [fixture_stack.invoker.submit("SlowFunction", {"seconds": 0.5}) for _ in range(2)]
    done, _ = wait(futures, timeout=20)

    # Then they ran in two processes, overlapping in time
    first, second = (f.result().payload for f in done)
    assert first["pid"] != second["pid"]
    assert first["started"] < second["ended"]
    assert second["started"] < first["ended"]


def test_the_function_log_gets_its_output_with_lambda_report_lines(fixture_stack: Stack) -> None:
    invoke(fixture_stack, "SlowFunction", {"seconds": 5})  # a timeout, reported in the log too

    log = (fixture_stack.session.config.logs_dir / "SlowFunction.log").read_text()
    assert "START RequestId:" in log
    assert "REPORT RequestId:" in log
    assert "Task timed out after 1.00 seconds" in log


# --- SQS ------------------------------------------------------------------------------------------


def test_an_sqs_batch_with_one_failing_record_leaves_only_that_record_which_goes_to_the_dlq(
    fixture_stack: Stack,
) -> None:
    aws, refs = fixture_stack.session.aws, fixture_stack.session.physical.refs
    sqs, dynamodb = aws.client("sqs"), aws.client("dynamodb")
    queue, dlq = refs["JobsQueue"], refs["JobsDeadLetterQueue"]
    table = refs["EventsTable"]

    # Given three messages, one of which the function reports as failed (maxReceiveCount 3, visibility 1 s)
    entries = [{"Id": body, "MessageBody": body} for body in ("alpha", "beta", "fail")]
    sqs.send_message_batch(QueueUrl=queue, Entries=entries)

    # When the poller delivers them
    def processed() -> list[dict[str, Any]]:
        items = [
            dynamodb.get_item(TableName=table, Key={"pk": {"S": f"sqs#{b}"}}).get("Item")
            for b in ("alpha", "beta")
        ]
        return items if all(items) else []

    items = wait_for(processed, timeout=20, what="alpha and beta processed")

    # Then the good records were delivered as real SQS records
    record = json.loads(items[0]["record"]["S"])
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == fixture_stack.session.physical.attribute("JobsQueue", "Arn")
    assert record["md5OfBody"] == hashlib.md5(b"alpha").hexdigest()  # noqa: S324  # SQS's checksum
    assert {
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    } <= set(record["attributes"])
    # And only the failed one lands in the dead-letter queue, after its receives
    dead = wait_for(
        lambda: sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1, AttributeNames=["All"]).get("Messages"),
        timeout=30,
        what="the failed message in the DLQ",
    )
    assert [m["Body"] for m in dead] == ["fail"]
    assert int(dead[0]["Attributes"]["ApproximateReceiveCount"]) > 3
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
    assert "sqs runtime-fixture-JobsQueue" in fixture_stack.console.stream.getvalue()  # type: ignore[union-attr]


# --- schedules ------------------------------------------------------------------------------------


def test_a_fired_schedule_invokes_its_function_with_a_scheduled_event(fixture_stack: Stack) -> None:
    # When the Tick schedule is fired (by its logical id)
    result = fixture_stack.scheduler.fire("TickFunctionTick")

    # Then the function got EventBridge's scheduled event for that rule
    assert result.ok, result.payload
    event = result.payload["received"]
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["resources"] == [
        "arn:aws:events:us-east-1:123456789012:rule/runtime-fixture-TickFunctionTick"
    ]
    assert (event["version"], event["account"], event["region"], event["detail"]) == (
        "0",
        "123456789012",
        "us-east-1",
        {},
    )
    assert "schedule TickFunctionTick" in fixture_stack.console.stream.getvalue()  # type: ignore[union-attr]


def test_the_control_endpoint_fires_a_schedule_by_event_name_with_its_input(fixture_stack: Stack) -> None:
    # Given the Nightly schedule, which has an Input
    url = f"{fixture_stack.session.config.api_url}/_local/schedules/Nightly/fire"

    # When `make fire` asks the running stack (the control header is required)
    answer = httpx.post(url, headers={CONTROL_HEADER: "1"}, timeout=30).json()

    # Then the function received the Input instead of the scheduled event
    assert answer["schedule"] == "TickFunctionNightly"
    assert answer["status"] == "ok"
    assert answer["response"] == {"received": {"job": "nightly"}}


def test_the_control_endpoint_refuses_a_post_without_its_header(fixture_stack: Stack) -> None:
    url = f"{fixture_stack.session.config.api_url}/_local/schedules/Tick/fire"

    assert httpx.post(url, timeout=10).status_code == 403


def test_schedules_are_rules_in_eventbridge_and_a_disabled_one_is_not_timed(fixture_stack: Stack) -> None:
    events = fixture_stack.session.aws.client("events")

    nightly = events.describe_rule(Name="runtime-fixture-nightly")
    paused = events.describe_rule(Name="runtime-fixture-TickFunctionPaused")
    targets = events.list_targets_by_rule(Rule="runtime-fixture-nightly")["Targets"]

    assert nightly["ScheduleExpression"] == "cron(0 2 * * ? *)"
    assert nightly["State"] == "ENABLED"
    assert paused["State"] == "DISABLED"
    assert targets[0]["Arn"] == "arn:aws:lambda:us-east-1:123456789012:function:TickFunction"
    assert json.loads(targets[0]["Input"]) == {"job": "nightly"}
    assert set(fixture_stack.scheduler.next_times(datetime.now(UTC))) == {
        "TickFunctionTick",
        "TickFunctionNightly",
    }


def test_a_response_json_cannot_hold_is_a_marshal_error(fixture_stack: Stack) -> None:
    result = invoke(fixture_stack, "ProbeFunction", {"unserialisable": True})

    assert result.status == "error"
    assert result.payload["errorType"] == "Runtime.MarshalError"
    assert result.payload["errorMessage"].startswith("Unable to marshal response:")


def test_the_scheduler_fires_on_time_again_and_again_until_stopped(fixture_stack: Stack) -> None:
    # Given a scheduler of the Tick schedule, due every 1.5 s
    session = fixture_stack.session
    console = Console(io.StringIO())
    tick = session.template.schedules(session.physical)["TickFunctionTick"]
    scheduler = Scheduler(
        {tick.logical_id: tick},
        session.physical,
        fixture_stack.invoker,
        console,
        account_id="123456789012",
        region="us-east-1",
    )
    scheduler.expressions[tick.logical_id] = Rate(timedelta(seconds=1.5))  # real ones: a minute at least

    # When it runs
    scheduler.start()
    try:
        fired = wait_for(
            lambda: len(re.findall(r"schedule TickFunctionTick +ok", console.stream.getvalue())) >= 2,  # type: ignore[union-attr]
            timeout=15,
            what="two firings",
        )
    finally:
        scheduler.stop()

    # Then it fired each time, and no more after it stopped
    assert fired
    count = console.stream.getvalue().count("schedule TickFunctionTick")  # type: ignore[union-attr]
    time.sleep(2)
    assert console.stream.getvalue().count("schedule TickFunctionTick") == count  # type: ignore[union-attr]
