"""The event files of the predict and train functions, through their handlers (app.py), on moto.

What `make invoke` and `sam local invoke -e` send: the import creates session math-0907, whose
class the batch event then predicts; too little data for the training request; the training job
message fails its job with INSUFFICIENT_DATA (and the record is consumed); the schedules run.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from rollcall.domain import Student
from rollcall.store import clients
from rollcall.store.job_log import JobRepo
from rollcall.store.roster import RosterRepo
from rollcall_local.config import REPO_ROOT
from rollcall_local.devauth import dev_token, render_event
from rollcall_local.emulator import Aws
from rollcall_local.template import Physical
from tests.integration.models.conftest import NOW, Stores

SECRET = "an-integration-test-secret-of-32-chars-or-more"
Handler = Callable[[dict[str, Any], Any], Any]


@pytest.fixture(scope="module")
def handlers(aws: Aws, physical: Physical) -> Iterator[dict[str, Handler]]:
    refs = physical.refs
    env = {
        "STAGE": "local",
        "RECORDS_TABLE": refs["RecordsTable"],
        "REGISTRY_TABLE": refs["ModelRegistryTable"],
        "MODEL_BUCKET": refs["ModelBucket"],
        "ALERT_QUEUE_URL": refs["AlertQueue"],
        "TRAINING_QUEUE_URL": refs["TrainingQueue"],
        "AUTH_ISSUER": "rollcall-local",
        "AUTH_AUDIENCE": "rollcall-api",
        "AUTH_HS256_SECRET": SECRET,
        "AWS_ENDPOINT_URL": aws.endpoint,
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        clients.reset()
        yield {name: load(name).handler for name in ("predict", "train")}
    clients.reset()


def load(function: str) -> Any:
    spec = importlib.util.spec_from_file_location(
        f"{function}_app", REPO_ROOT / "functions" / function / "app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def invoke(handlers: dict[str, Handler], name: str) -> Any:
    event = json.loads((REPO_ROOT / "events" / f"{name}.json").read_text())
    event = render_event(event, lambda role, org, sub: dev_token({}, SECRET, role=role, org=org, sub=sub))
    context = SimpleNamespace(
        function_name=name, memory_limit_in_mb=1024, aws_request_id=f"req-{name}",
        invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
    )  # fmt: skip
    response = handlers[name.split("-")[0]](event, context)
    if "statusCode" in response:
        return response["statusCode"], json.loads(response["body"])
    return response


def test_the_http_events_answer_as_documented(handlers: dict[str, Handler], stores: Stores) -> None:
    status, imported = invoke(handlers, "train-import")
    assert (status, imported["records_written"], imported["imported_by"]) == (201, 2, "alice")
    # predict-one asks about s00001 of the seeded demo organisation: here, a new student
    RosterRepo(stores.records("demo")).put_profile(Student("s00001", "S", ()), created_by="t", created_at=NOW)

    status, one = invoke(handlers, "predict-one")
    assert (status, one["method"], one["fallback_reason"]) == (200, "heuristic", "no active model")
    status, batch = invoke(handlers, "predict-batch-session")
    assert (status, sorted(p["student_id"] for p in batch["predictions"])) == (200, ["s-1042", "s-1043"])

    status, models = invoke(handlers, "train-models")
    assert (status, models["models"][0]["model_type"]) == (200, "attendance")
    status, refused = invoke(handlers, "train-request")
    assert (status, refused["code"], refused["detail"]["usable_records"]) == (422, "INSUFFICIENT_DATA", 2)
    status, missing = invoke(handlers, "train-activate")
    assert (status, missing["code"]) == (404, "VERSION_NOT_FOUND")


def test_the_job_message_and_the_schedules_run(handlers: dict[str, Handler], stores: Stores) -> None:
    assert invoke(handlers, "train-sqs-job") == {"batchItemFailures": []}
    job = JobRepo(stores.records("demo")).require("job-event-0001")
    assert (job.status, job.error["code"]) == ("failed", "INSUFFICIENT_DATA")

    weekly = invoke(handlers, "train-weekly-retrain")
    assert "demo" in weekly["queued"]
    retention = invoke(handlers, "train-daily-retention")
    assert retention["removed"] == 0 and "demo" in retention["by_organisation"]


def sqs_event(*bodies: str) -> dict[str, Any]:
    (record,) = json.loads((REPO_ROOT / "events" / "train-sqs-job.json").read_text())["Records"]
    return {"Records": [record | {"messageId": f"m-{i}", "body": body} for i, body in enumerate(bodies)]}


def test_a_poison_training_message_fails_its_job_at_once_and_is_not_retried(
    handlers: dict[str, Handler], stores: Stores
) -> None:
    # Given a queued job, and messages that can never succeed: not JSON, not a job message, a bad
    # mode for that queued job, an organisation that has no data
    from datetime import UTC, datetime

    from rollcall.services.training import JobMessage

    jobs = JobRepo(stores.records("demo"))
    jobs.create(JobMessage("demo", "job-poisoned").job(datetime.now(UTC)))
    event = sqs_event(
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({"org": 42}),
        json.dumps({"org": "demo", "job_id": "job-poisoned", "mode": "sometimes"}),
        json.dumps({"org": "no-such-org", "job_id": "job-elsewhere"}),
    )
    context = SimpleNamespace(
        function_name="train", memory_limit_in_mb=1024, aws_request_id="req-poison",
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:train",
    )  # fmt: skip
    # When the training function receives them
    response = handlers["train"](event, context)
    # Then every record is consumed (none goes back to the queue to wait for the DLQ)
    assert response == {"batchItemFailures": []}
    # And the queued job failed at once, saying why; nothing was written for the unknown organisation
    job = jobs.require("job-poisoned")
    assert (job.status, job.error["code"]) == ("failed", "INVALID_REQUEST")
    assert JobRepo(stores.records("no-such-org")).get("job-elsewhere") is None
    assert (
        list(stores.records("no-such-org").query(stores.records("no-such-org").key("JOBS"), index="gsi1"))
        == []
    )
