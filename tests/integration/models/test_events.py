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

from rollcall.store import clients
from rollcall.store.job_log import JobRepo
from rollcall_local.config import REPO_ROOT
from rollcall_local.devauth import dev_token, render_event
from rollcall_local.emulator import Aws
from rollcall_local.template import Physical
from tests.integration.models.conftest import Stores

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


def test_the_http_events_answer_as_documented(handlers: dict[str, Handler]) -> None:
    status, imported = invoke(handlers, "train-import")
    assert (status, imported["records_written"], imported["imported_by"]) == (201, 2, "alice")

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
