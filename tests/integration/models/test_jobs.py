"""Jobs of every kind through the functions' handlers (app.py) on moto: asked over HTTP (202 with a
job id), the jobs queue's message delivered to the train function's worker, the job read back
at GET /v1/jobs/{id}; a redelivered message runs nothing twice, and a worker that died mid-job
is taken over after its lease and resumes without duplicating what it wrote.

A small synthetic organisation (12 students, 6 weeks, anomalies injected) ends now.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from rollcall.services import jobs as job_service
from rollcall.services import prediction_jobs
from rollcall.store import clients
from rollcall.store.anomalies import AnomalyRepo
from rollcall.store.job_log import Job, JobRepo
from rollcall.store.prediction_log import PredictionRepo
from rollcall.store.table import OrgRecords
from rollcall_local.config import REPO_ROOT
from rollcall_local.devauth import dev_token
from rollcall_local.emulator import Aws
from rollcall_local.template import Physical
from testkit.seeding import store_history
from testkit.synthetic import SyntheticHistory, generate
from tests.integration.models.conftest import NOW, Stores

SECRET = "an-integration-test-secret-of-32-chars-or-more"
ORG = "jobs-a"
Handler = Callable[[dict[str, Any], Any], Any]


@pytest.fixture(scope="module")
def refs(physical: Physical) -> dict[str, str]:
    return dict(physical.refs)


@pytest.fixture(scope="module")
def handlers(aws: Aws, refs: dict[str, str]) -> Iterator[dict[str, Handler]]:
    env = {
        "STAGE": "local",
        "RECORDS_TABLE": refs["RecordsTable"],
        "REGISTRY_TABLE": refs["ModelRegistryTable"],
        "MODEL_BUCKET": refs["ModelBucket"],
        "ALERT_QUEUE_URL": refs["AlertQueue"],
        "TRAINING_QUEUE_URL": refs["TrainingQueue"],
        "JOBS_QUEUE_URL": refs["JobsQueue"],
        "JOB_FILES_BUCKET": refs["JobFilesBucket"],
        "SCAN_CACHE_BUCKET": refs["ScanCacheBucket"],
        "JOB_HEARTBEAT_SECONDS": "60",
        "AUTH_ISSUER": "rollcall-local",
        "AUTH_AUDIENCE": "rollcall-api",
        "AUTH_HS256_SECRET": SECRET,
        "AWS_ENDPOINT_URL": aws.endpoint,
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    receive(aws, refs["JobsQueue"])  # S3's test event, sent when the bucket's notification was set
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        clients.reset()
        yield {name: _load(name).handler for name in ("predict", "train", "anomaly-scan")}
    clients.reset()


def _load(function: str) -> Any:
    spec = importlib.util.spec_from_file_location(
        f"{function.replace('-', '_')}_jobs_app", REPO_ROOT / "functions" / function / "app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CONTEXT = SimpleNamespace(
    function_name="f", memory_limit_in_mb=1024, aws_request_id="req-jobs",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:f",
)  # fmt: skip


def http(handler: Handler, method: str, path: str, body: Any = None, *, role: str = "teacher") -> Any:
    """An API Gateway v2 request to ``handler``; (status, JSON body)."""
    raw_path, _, query = path.partition("?")
    token = dev_token({}, SECRET, role=role, org=ORG, sub="alice")
    event = {
        "version": "2.0",
        "routeKey": f"{method} {raw_path}",
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": {"authorization": f"Bearer {token}", "content-type": "application/json"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "127.0.0.1",
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": "req-jobs",
            "routeKey": f"{method} {raw_path}",
            "stage": "$default",
            "timeEpoch": 0,
        },
        "isBase64Encoded": False,
        "body": json.dumps(body) if body is not None else None,
    }
    response = handler(event, CONTEXT)
    return response["statusCode"], json.loads(response["body"])


def receive(aws: Aws, queue_url: str) -> list[dict[str, Any]]:
    """Every message on the queue (received, and so invisible for the queue's timeout)."""
    sqs, out = aws.client("sqs"), []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        out += batch
    return out


def deliver(handler: Handler, messages: list[dict[str, Any]], queue_arn: str) -> Any:
    """The messages as the SQS event source delivers them."""
    records = [
        {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "md5OfBody": m["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": "us-east-1",
        }
        for m in messages
    ]
    return handler({"Records": records}, CONTEXT)


@pytest.fixture(scope="module")
def history(stores: Stores) -> SyntheticHistory:
    made = generate(ORG, students=12, weeks=6, seed=7)
    ending = made.shifted(datetime.now(UTC) - timedelta(minutes=1) - made.now)
    store_history(stores.records(ORG), ending)
    return ending


JOBS_ARN = "arn:aws:sqs:us-east-1:123456789012:jobs"


def test_an_anomaly_scan_is_a_job_whose_result_is_the_scan_summary(
    handlers: dict[str, Handler], aws: Aws, refs: dict[str, str], stores: Stores, history: SyntheticHistory
) -> None:
    # When a teacher asks for a scan
    status, queued = http(handlers["anomaly-scan"], "POST", "/v1/anomalies/scan")
    # Then it is a queued job, and one message on the jobs queue
    assert (status, queued["kind"], queued["status"]) == (202, "anomaly_scan", "queued")
    (message,) = receive(aws, refs["JobsQueue"])
    assert json.loads(message["Body"]) == {"org": ORG, "job_id": queued["job_id"], "kind": "anomaly_scan"}
    status, listed = http(handlers["train"], "GET", f"/v1/jobs/{queued['job_id']}")
    assert (status, listed["status"], listed["result"]) == (200, "queued", {})

    # When the worker gets the message
    assert deliver(handlers["train"], [message], JOBS_ARN) == {"batchItemFailures": []}
    # Then the job succeeded with the scan's summary, and the anomalies are stored
    status, job = http(handlers["train"], "GET", f"/v1/jobs/{queued['job_id']}")
    assert (status, job["status"], job["attempts"], job["error"]) == (200, "succeeded", 1, {})
    assert job["progress"] == {"done": 1, "total": 1, "unit": "scans"}
    assert job["started_at"] and job["finished_at"]
    result = job["result"]
    assert result["read"]["attendance_records"] == len(history.records)
    stored = AnomalyRepo(stores.records(ORG)).list(status="open", limit=200)[0]
    assert result["raised"] == len(stored) > 0
    assert sorted(result["raised_ids"]) == sorted(a.anomaly_id for a in stored)

    # When the same message is delivered again, Then nothing runs again
    assert deliver(handlers["train"], [message], JOBS_ARN) == {"batchItemFailures": []}
    again = JobRepo(stores.records(ORG)).require(queued["job_id"])
    assert (again.attempts, again.result["raised"]) == (1, result["raised"])
    # A student may not scan
    assert http(handlers["anomaly-scan"], "POST", "/v1/anomalies/scan", role="student")[0] == 403


def _items(history: SyntheticHistory, count: int) -> list[dict[str, Any]]:
    sessions = history.sessions
    students = [s.student_id for s in history.students]
    return [
        {"student_id": students[i % len(students)], "session_id": sessions[i % len(sessions)].session_id}
        for i in range(count)
    ]


def _predictions_of(stores: Stores, job: Job) -> list[Any]:
    made = PredictionRepo(stores.records(ORG)).made_between(
        job.created_at - timedelta(seconds=1), job.created_at + timedelta(seconds=1)
    )
    return [p for p in made if p.prediction_id.startswith(job.job_id)]


def test_a_large_prediction_batch_is_a_job_with_json_lines_results(
    handlers: dict[str, Handler], aws: Aws, refs: dict[str, str], stores: Stores, history: SyntheticHistory
) -> None:
    items = _items(history, 1_200)
    # A batch of 1,000 is answered at once
    status, at_once = http(handlers["predict"], "POST", "/v1/predictions/batch", {"items": items[:1000]})
    assert (status, at_once["count"]) == (200, 1000)

    # When a batch of 1,200 is asked, Then it is a job
    status, queued = http(handlers["predict"], "POST", "/v1/predictions/batch", {"items": items})
    assert (status, queued["kind"], queued["status"]) == (202, "prediction_batch", "queued")
    (message,) = receive(aws, refs["JobsQueue"])
    assert deliver(handlers["train"], [message], JOBS_ARN) == {"batchItemFailures": []}

    status, job = http(handlers["train"], "GET", f"/v1/jobs/{queued['job_id']}")
    assert (status, job["status"], job["attempts"]) == (200, "succeeded", 1), job
    assert job["progress"] == {"done": 1200, "total": 1200, "unit": "predictions"}
    assert job["result"]["count"] == 1200 and sum(job["result"]["methods"].values()) == 1200
    # And the results are JSON Lines behind a presigned URL, in the order asked
    lines = httpx.get(job["result"]["results_url"], timeout=30).text.splitlines()
    rows = [json.loads(line) for line in lines]
    assert [(r["student_id"], r["session_id"]) for r in rows] == [
        (i["student_id"], i["session_id"]) for i in items
    ]
    assert len({r["prediction_id"] for r in rows}) == 1200
    # And each prediction is stored once
    stored = _predictions_of(stores, JobRepo(stores.records(ORG)).require(queued["job_id"]))
    assert len(stored) == len({p.prediction_id for p in stored}) == 1200


class Died(BaseException):
    """A worker killed mid-job: nothing after this point runs (no failure is recorded)."""


def test_a_job_whose_worker_died_resumes_after_its_lease_without_duplicates(
    stores: Stores, refs: dict[str, str], aws: Aws, history: SyntheticHistory, handlers: dict[str, Handler]
) -> None:
    from rollcall.platform.settings import PredictSettings, load_settings

    settings = load_settings(PredictSettings)
    records = stores.records(ORG)
    principal = SimpleNamespace(sub="alice", role=SimpleNamespace(value="teacher"))
    items = _items(history, 3 * prediction_jobs.CHUNK)
    job = prediction_jobs.request_batch(settings, records, principal, items, NOW)  # type: ignore[arg-type]
    message = job_service.JobMessage(ORG, job.job_id, "prediction_batch")
    runner = prediction_jobs.batch_runner(settings)
    lease = timedelta(seconds=60)

    # Given an attempt that dies after its second chunk
    def dying(context: job_service.JobContext) -> dict[str, Any]:
        original = context.advance

        def advance(done: int, total: int, unit: str, checkpoint: dict[str, Any] | None = None) -> None:
            original(done, total, unit, checkpoint)
            if done >= 2 * prediction_jobs.CHUNK:
                raise Died

        context.advance = advance  # type: ignore[method-assign]
        return runner(context)

    with pytest.raises(Died):
        job_service.run(records, message, dying, lease=lease)
    held = JobRepo(records).require(job.job_id)
    assert (held.status, held.attempts, held.counts["done"]) == ("running", 1, 2 * prediction_jobs.CHUNK)

    # When the message comes back while the lease holds, Then it is left for later
    with pytest.raises(job_service.JobHeld):
        job_service.run(records, message, runner, lease=lease)

    # When it comes back after the lease, Then a second attempt resumes at the third chunk
    later = datetime.now(UTC) + lease + timedelta(seconds=5)
    done = job_service.run(records, message, runner, lease=lease, clock=lambda: later)
    assert done is not None and (done.status, done.attempts) == ("succeeded", 2)
    assert done.result["count"] == len(items)
    assert sum(done.result["methods"].values()) == len(items)
    # And every prediction is stored once, and the results hold each item once
    stored = _predictions_of(stores, done)
    assert len(stored) == len({p.prediction_id for p in stored}) == len(items)
    url = job_service.result_with_links(records, done, refs["JobFilesBucket"])["results_url"]
    lines = httpx.get(url, timeout=30).text.splitlines()
    assert [json.loads(line)["prediction_id"] for line in lines] == [
        f"{job.job_id}-{i}" for i in range(len(items))
    ]


def test_jobs_are_paged_newest_first_by_kind_and_scoped_by_organisation(
    stores: Stores, handlers: dict[str, Handler]
) -> None:
    records: OrgRecords = stores.records("jobs-paged")
    repo = JobRepo(records)
    for i in range(5):
        kind = "anomaly_scan" if i % 2 else "prediction_batch"
        repo.create(Job(f"job-p{i}", "", "queued", "manual", "alice", NOW + timedelta(seconds=i), kind=kind))
    first, cursor = job_service.page(records, limit=2)
    assert [j.job_id for j in first] == ["job-p4", "job-p3"] and cursor == "job-p3"
    rest, end = job_service.page(records, limit=10, cursor=cursor)
    assert [j.job_id for j in rest] == ["job-p2", "job-p1", "job-p0"] and end is None
    scans, _ = job_service.page(records, limit=10, kind="anomaly_scan")
    assert [j.job_id for j in scans] == ["job-p3", "job-p1"]
    # Over HTTP, another organisation's job is not found, and kinds are checked
    status, missing = http(handlers["train"], "GET", "/v1/jobs/job-p4")
    assert (status, missing["code"]) == (404, "JOB_NOT_FOUND")
    status, page = http(handlers["train"], "GET", "/v1/jobs?kind=anomaly_scan&limit=5")
    assert status == 200 and all(j["kind"] == "anomaly_scan" for j in page["items"])
    assert http(handlers["train"], "GET", "/v1/jobs?kind=nonsense")[0] == 422


def _upload(handlers: dict[str, Handler], aws: Aws, refs: dict[str, str], data: bytes) -> dict[str, Any]:
    """POST /v1/attendance/imports, PUT the file, deliver the upload's event; the job as it ends."""
    status, asked = http(handlers["train"], "POST", "/v1/attendance/imports")
    assert (status, asked["kind"], asked["status"], asked["upload_method"]) == (
        202,
        "attendance_import",
        "queued",
        "PUT",
    )
    assert httpx.put(asked["upload_url"], content=data, timeout=30).status_code == 200
    (message,) = [m for m in receive(aws, refs["JobsQueue"]) if "Records" in json.loads(m["Body"])]
    assert json.loads(message["Body"])["Records"][0]["s3"]["object"]["key"].endswith(f"{asked['job_id']}.csv")
    assert deliver(handlers["train"], [message], JOBS_ARN) == {"batchItemFailures": []}
    status, job = http(handlers["train"], "GET", f"/v1/jobs/{asked['job_id']}")
    assert status == 200
    return dict(job)


def _import_csv(rows: int, *, bad_line: int | None = None) -> bytes:
    lines = ["student_id,class_id,session_id,starts_at,ends_at,status"]
    for i in range(rows):
        day = datetime(2026, 3, 2, 9, tzinfo=UTC) + timedelta(days=i // 20)
        status = "sometimes" if bad_line is not None and i + 2 == bad_line else "present"
        lines.append(
            f"imp-{i % 20:03d},imp-class,imp-{i // 20:04d},{day:%Y-%m-%dT%H:%M:%SZ},"
            f"{day + timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ},{status}"
        )
    return ("\n".join(lines) + "\n").encode()


def test_an_uploaded_import_is_a_job_whole_or_nothing_and_once(
    handlers: dict[str, Handler], aws: Aws, refs: dict[str, str], stores: Stores
) -> None:
    # Given a file with a bad row, When it is uploaded, Then its job fails and nothing is written
    failed = _upload(handlers, aws, refs, _import_csv(400, bad_line=300))
    assert (failed["status"], failed["error"]["code"]) == ("failed", "INVALID_CSV")
    assert [e["line"] for e in failed["error"]["detail"]["errors"]] == [300]
    assert stores.records(ORG).get(stores.records(ORG).key("SESSION", "imp-0000"), "META") is None

    # When a good file is uploaded, Then its job imports every row, and says so
    data = _import_csv(400)
    done = _upload(handlers, aws, refs, data)
    assert (done["status"], done["attempts"]) == ("succeeded", 1), done
    result = done["result"]
    assert (result["rows"], result["records_written"], result["sessions_created"], result["replayed"]) == (
        400,
        400,
        20,
        False,
    )
    assert result["file_sha256"] == hashlib.sha256(data).hexdigest() and result["file_bytes"] == len(data)
    rows = data.count(b"\n")  # progress counts records (the header's line in: near enough)
    assert done["progress"] == {"done": rows, "total": rows, "unit": "records"}

    # When the same file is uploaded again, Then it adds nothing
    again = _upload(handlers, aws, refs, data)
    assert again["status"] == "succeeded"
    assert (again["result"]["replayed"], again["result"]["records_written"]) == (True, 0)
    assert again["result"]["import_id"] == result["import_id"]
