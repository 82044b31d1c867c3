"""Jobs through the local stack, and what a SIGKILL of the worker mid-job leaves: the job done once.

The stack runs with a short jobs queue visibility timeout (10 s) and a short job lease (5 s,
renewed at each progress report), given as samconfig parameter overrides in a project folder of
the test's own, so that a killed worker's message comes back within seconds instead of 90 minutes.
For each kind, the test waits until the job runs (a prediction batch: until it has reported a
chunk done), SIGKILLs every worker process of the train function, and then waits for the job:
it must end succeeded on its second attempt, with every output written once.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from rollcall.domain import parse_time
from rollcall.store.anomalies import AnomalyRepo
from rollcall.store.prediction_log import PredictionRepo
from rollcall.store.table import OrgRecords
from testkit.seeding import store_history
from testkit.synthetic import SyntheticHistory, generate
from tests.e2e.conftest import ROOT, LocalStack
from tests.integration.runtime.helpers import wait_for

ORG = "jobs-school"
TABLE = "rollcall-local-records"
JOB_SECONDS = 240
STOP_SECONDS = 300
OVERRIDES = "Stage=local JobsVisibilityTimeout=10 JobHeartbeatSeconds=5"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    project = tmp_path_factory.mktemp("project")
    config = (ROOT / "samconfig.toml").read_text()
    config = config.replace('parameter_overrides = "Stage=local"', f'parameter_overrides = "{OVERRIDES}"')
    assert OVERRIDES in config
    (project / "samconfig.toml").write_text(config)
    running = LocalStack(tmp_path_factory.mktemp("local"))
    running.env |= {
        "ROLLCALL_PROJECT_DIR": str(project),
        "ROLLCALL_BUILD_DIR": str(ROOT / ".aws-sam" / "build"),
    }
    running.start()
    try:
        yield running
    finally:  # a clean stop saves the stack's state: given longer than conftest's 45 s on a busy machine
        assert running.process is not None
        running.process.send_signal(signal.SIGINT)
        try:
            running.process.wait(timeout=STOP_SECONDS)
        finally:
            if running.process.poll() is None:
                running.process.kill()
                running.process.wait(timeout=10)


def records(stack: LocalStack) -> OrgRecords:
    client = boto3.client(
        "dynamodb",
        endpoint_url=stack.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return OrgRecords(ORG, TABLE, client=client)


@pytest.fixture(scope="module")
def seeded(stack: LocalStack) -> SyntheticHistory:
    made = generate(ORG, students=16, weeks=6, seed=11)
    history = made.shifted(datetime.now(UTC) - timedelta(minutes=1) - made.now)
    store_history(records(stack), history)
    return history


def train_workers(stack: LocalStack) -> list[int]:
    """The train function's worker processes (children of the stack running its code)."""
    assert stack.process is not None
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            ppid = int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))
            cwd = os.readlink(entry / "cwd")
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, StopIteration):
            continue
        if ppid == stack.process.pid and b"bootstrap.py" in cmdline and cwd.endswith("TrainFunction"):
            found.append(int(entry.name))
    return found


def kill_train_workers(stack: LocalStack) -> int:
    killed = 0
    for pid in train_workers(stack):
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except ProcessLookupError:
            pass
    return killed


def job_of(client: httpx.Client, job_id: str) -> dict[str, Any]:
    """The job; asked again (up to 3 times) when the request met a train worker the test killed
    while it was idle (the runtime learns of it on that invocation, and replaces the worker)."""
    for _ in range(3):
        response = client.get(f"/v1/jobs/{job_id}")
        if response.status_code != 500:
            break
        time.sleep(0.5)
    assert response.status_code == 200, response.text
    return dict(response.json())


def finished(client: httpx.Client, job_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        job = job_of(client, job_id)
        return job if job["status"] in ("succeeded", "failed") else None

    return wait_for(done, timeout=JOB_SECONDS, interval=0.5, what=f"job {job_id} done")


def test_a_prediction_batch_whose_worker_was_killed_completes_once(
    stack: LocalStack, seeded: SyntheticHistory
) -> None:
    teacher = stack.client("teacher", org=ORG)
    students = [s.student_id for s in seeded.students]
    sessions = seeded.sessions[-40:]
    items = [
        {"student_id": students[i % len(students)], "session_id": sessions[i % len(sessions)].session_id}
        for i in range(4_000)
    ]
    # Given a batch job of 4,000 items (8 chunks)
    queued = teacher.post("/v1/predictions/batch", json={"items": items})
    assert queued.status_code == 202, queued.text
    job_id = queued.json()["job_id"]

    # When its worker is killed once it has reported a chunk done
    def mid_job() -> dict[str, Any] | None:
        job = job_of(teacher, job_id)
        assert job["status"] != "succeeded", "the job ended before it could be killed"
        return job if job["status"] == "running" and (job["progress"] or {}).get("done", 0) > 0 else None

    before = wait_for(mid_job, timeout=JOB_SECONDS, interval=0.1, what="the job running a chunk")
    assert kill_train_workers(stack) >= 1

    # Then the job ends succeeded, on a second attempt that resumed after the chunks done
    job = finished(teacher, job_id)
    assert (job["status"], job["attempts"]) == ("succeeded", 2), job
    assert before["progress"]["done"] < len(items)
    assert job["progress"] == {"done": len(items), "total": len(items), "unit": "predictions"}
    # And the results hold each item once, in order
    lines = httpx.get(job["result"]["results_url"], timeout=60).text.splitlines()
    assert len(lines) == len(items)
    assert [line.split('"prediction_id":"')[1].split('"')[0] for line in lines] == [
        f"{job_id}-{i}" for i in range(len(items))
    ]
    # And each prediction is stored once
    made = parse_time(job["created_at"])
    stored = [
        p
        for p in PredictionRepo(records(stack)).made_between(
            made - timedelta(seconds=1), made + timedelta(seconds=1)
        )
        if p.prediction_id.startswith(job_id)
    ]
    assert len(stored) == len({p.prediction_id for p in stored}) == len(items)


def test_an_anomaly_scan_whose_worker_was_killed_completes_once(
    stack: LocalStack, seeded: SyntheticHistory
) -> None:
    teacher = stack.client("teacher", org=ORG)
    # Given a scan job
    queued = teacher.post("/v1/anomalies/scan")
    assert queued.status_code == 202, queued.text
    job_id = queued.json()["job_id"]

    # When its worker is killed while it runs
    def running() -> bool:
        status = job_of(teacher, job_id)["status"]
        assert status != "succeeded", "the scan ended before it could be killed"
        return status == "running"

    wait_for(running, timeout=JOB_SECONDS, interval=0.05, what="the scan running")
    assert kill_train_workers(stack) >= 1

    # Then the scan job ends succeeded on its second attempt
    job = finished(teacher, job_id)
    assert (job["status"], job["attempts"]) == ("succeeded", 2), job
    # And every injected anomaly is stored once (whatever the first attempt raised before it died)
    stored = AnomalyRepo(records(stack)).list(status="open", limit=500)[0]
    pairs = [(a.type, a.subject) for a in stored]
    assert len(pairs) == len(set(pairs))
    truth = {(a.type, a.subject) for a in seeded.anomalies if a.type != "model_drift"}
    assert truth <= set(pairs)
    # And the job's result is the scan summary of the attempt that finished
    assert job["result"]["read"]["attendance_records"] == len(seeded.records)
    assert job["result"]["raised"] + job["result"]["suppressed"] + job["result"]["refreshed"] >= len(truth)


def test_jobs_are_listed_by_kind(stack: LocalStack, seeded: SyntheticHistory) -> None:
    admin = stack.client("admin", org=ORG)
    page = admin.get("/v1/jobs", params={"kind": "anomaly_scan", "limit": "10"})
    assert page.status_code == 200, page.text
    assert page.json()["items"] and {j["kind"] for j in page.json()["items"]} == {"anomaly_scan"}
    assert stack.client("student", org=ORG, sub="s00001").get("/v1/jobs").status_code == 403
    assert stack.client("admin", org="elsewhere").get("/v1/jobs").json()["items"] == []


def _import_csv(rows: int) -> bytes:
    lines = ["student_id,class_id,session_id,starts_at,ends_at,status"]
    for i in range(rows):
        day = datetime(2026, 3, 2, 9, tzinfo=UTC) + timedelta(hours=i // 20)
        lines.append(
            f"up-{i % 20:03d},up-class,up-{i // 20:04d},{day:%Y-%m-%dT%H:%M:%SZ},"
            f"{day + timedelta(minutes=50):%Y-%m-%dT%H:%M:%SZ},{('present', 'absent', 'late')[i % 3]}"
        )
    return ("\n".join(lines) + "\n").encode()


def _upload(teacher: httpx.Client, data: bytes) -> str:
    asked = teacher.post("/v1/attendance/imports")
    assert asked.status_code == 202, asked.text
    assert httpx.put(asked.json()["upload_url"], content=data, timeout=60).status_code == 200
    return str(asked.json()["job_id"])


def test_an_uploaded_import_whose_worker_was_killed_completes_once(
    stack: LocalStack, seeded: SyntheticHistory
) -> None:
    teacher = stack.client("teacher", org=ORG)
    rows = 5_000
    data = _import_csv(rows)
    # Given an import file uploaded (its S3 event starts the job)
    job_id = _upload(teacher, data)

    # When the worker is killed while it imports
    def running() -> bool:
        status = job_of(teacher, job_id)["status"]
        assert status != "succeeded", "the import ended before it could be killed"
        return status == "running"

    wait_for(running, timeout=JOB_SECONDS, interval=0.05, what="the import running")
    assert kill_train_workers(stack) >= 1

    # Then the job ends succeeded on its second attempt, every row imported
    job = finished(teacher, job_id)
    assert (job["status"], job["attempts"]) == ("succeeded", 2), job
    assert (job["result"]["rows"], job["result"]["sessions_created"] <= rows // 20) == (rows, True)
    assert job["result"]["file_bytes"] == len(data)
    # And each (session, student) has one record
    store = records(stack)
    stored = sum(
        len(list(store.query(store.key("SESSION", f"up-{s:04d}"), sk_prefix="ATT#")))
        for s in range(rows // 20)
    )
    assert stored == rows

    # When the same file is uploaded again, Then nothing is written
    again = finished(teacher, _upload(teacher, data))
    assert (again["status"], again["result"]["replayed"], again["result"]["records_written"]) == (
        "succeeded",
        True,
        0,
    )
