"""A real-sized history end to end on the local stack: upload, import job, training job.

About 110,000 appointments (the size of the public no-show history of the histories issue: the
synthetic appointment world, ``testkit.synthetic.appointments``, 61,000 people over 52 weeks of
2016, with lead times, reminders, attributes and clinics by name) go the way a client sends them:
``POST /v1/attendance/imports``, a PUT of the CSV to the presigned URL, the S3 event starting the
import job on the jobs queue; then ``POST /v1/models/attendance/train`` and its job, which reads
the window back from the local DynamoDB. Both jobs are followed at ``GET /v1/jobs/{id}``.

The reference is the same training in process on the same records, with no store: what the
stack adds (import, S3, queue, the store read) is the ratio; the model's holdout ROC-AUC is
compared with the in-process one's.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from bench.harness import Report, Row
from bench.local_stack import running_stack

ORG, SEED, PEOPLE, WEEKS = "bench-clinic-110k", 11, 61_000, 52
JOB_SECONDS = 1_800  # the bench's own bound on each job


def run(report: Report) -> None:
    from rollcall.ml import train
    from rollcall.platform.observability import logger
    from testkit.synthetic.appointments import appointments_csv, generate_appointments

    logger.setLevel("WARNING")
    section = report.section(
        "A 110,000-row history end to end on the local stack (upload, import job, training job)",
        "training the same records in process, with no store",
    )
    world = generate_appointments(ORG, PEOPLE, WEEKS, SEED)
    data = appointments_csv(world.records)
    rows = len(world.records)

    start = time.perf_counter()
    reference = train.train(train.build_dataset(world.records)).metrics
    in_process = time.perf_counter() - start

    with running_stack() as api:
        admin = api.client("admin", org=ORG, sub="bench")
        start = time.perf_counter()
        asked = admin.post("/v1/attendance/imports")
        asked.raise_for_status()
        httpx.put(asked.json()["upload_url"], content=data, timeout=300).raise_for_status()
        imported = _finished(admin, asked.json()["job_id"])
        import_seconds = time.perf_counter() - start

        start = time.perf_counter()
        queued = admin.post("/v1/models/attendance/train")
        queued.raise_for_status()
        trained = _finished(admin, queued.json()["job_id"])
        train_seconds = time.perf_counter() - start

    counts = trained["result"]["counts"]
    auc = trained["result"]["activation"]["roc_auc"]
    section.rows += [
        Row(
            f"import of {rows:,} rows ({len(data) / 2**20:.1f} MiB) by upload, as a job (POST to success)",
            f"{import_seconds:.0f} s, {imported['result']['records_written']:,} written",
            "-",
            f"{rows / import_seconds:,.0f} rows/s",
            "110,000 rows ≤ 30 s (issue 10)",
            import_seconds <= 30,
        ),
        Row(
            f"training job on {counts['usable_records']:,} records (window read from the local DynamoDB)",
            f"{train_seconds:.0f} s",
            f"{in_process:.0f} s in process",
            f"{train_seconds / in_process:.1f}x",
            "≤ 60 s end to end (issue 10)",
            train_seconds <= 60,
        ),
        Row(
            "holdout ROC-AUC of the version trained through the stack",
            f"{auc:.4f}",
            f"{reference['roc_auc']:.4f}",
            f"{auc / reference['roc_auc']:.3f}x",
            "the same model (within 0.01)",
            abs(auc - reference["roc_auc"]) < 0.01,
        ),
    ]


def _finished(client: httpx.Client, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + JOB_SECONDS
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] == "succeeded":
            return job
        if job["status"] == "failed":
            raise RuntimeError(f"job {job_id} failed: {job.get('error')}")
        time.sleep(2)
    raise TimeoutError(f"job {job_id} not done in {JOB_SECONDS} s")
