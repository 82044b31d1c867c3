"""Prediction batches as jobs: more than :data:`SYNC_LIMIT` items are answered by a job.

``POST /v1/predictions/batch`` with up to ``SYNC_LIMIT`` items answers at once; with more, the
items are stored in the job files bucket (``jobs/<org>/<job>/input.json``), a
``prediction_batch`` job is queued (202 ``{job_id}``) and the train function's jobs consumer runs
it: :data:`CHUNK` items at a time, each chunk's answers written as one part
(``part-<n>.jsonl``) and the progress and checkpoint (``parts_done``) recorded after it, then the
parts joined into ``results.jsonl`` (one prediction a line, in the order asked). The job's result
names that object; ``GET /v1/jobs/{id}`` adds a presigned GET URL.

A job whose worker died resumes at the first chunk not recorded as done. Redoing a chunk is
harmless: the predictions of a job are made "as of" the job's creation, with ids fixed by their
position (``<job_id>-<n>``), so their history items and their part are rewritten, not added.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from rollcall.platform.auth import Principal, Role
from rollcall.platform.errors import ConfigurationError
from rollcall.platform.settings import PredictSettings
from rollcall.services import jobs
from rollcall.services.prediction import Ask, PredictionService
from rollcall.store.job_log import Job
from rollcall.store.job_results import JobFiles
from rollcall.store.table import OrgRecords

SYNC_LIMIT = 1000  # items answered in the request; more: a job
CHUNK = 500  # items per step of a job (a part, a checkpoint)
KIND = "prediction_batch"


def _configured(settings: PredictSettings) -> tuple[str, str]:
    if not settings.jobs_queue_url or not settings.job_files_bucket:
        raise ConfigurationError("JOBS_QUEUE_URL and JOB_FILES_BUCKET are needed for prediction batch jobs")
    return settings.jobs_queue_url, settings.job_files_bucket


def request_batch(
    settings: PredictSettings,
    records: OrgRecords,
    who: Principal,
    items: Sequence[Mapping[str, Any]],
    now: datetime,
) -> Job:
    """Store the items and queue a job that answers them (the caller checked who may ask)."""
    queue_url, bucket = _configured(settings)
    job_id = jobs.new_job_id()
    JobFiles(bucket, records.org, job_id).put_input({"items": list(items)})
    return jobs.enqueue(
        records,
        kind=KIND,
        requested_by=who.sub,
        queue_url=queue_url,
        params={"items": len(items), "role": who.role.value},
        now=now,
        job_id=job_id,
    )


def _ask(item: Mapping[str, Any]) -> Ask:
    starts = item.get("starts_at")
    return Ask(
        item["student_id"],
        item.get("session_id"),
        item.get("class_id"),
        datetime.fromisoformat(starts.replace("Z", "+00:00")) if starts else None,
    )


def batch_runner(settings: PredictSettings) -> jobs.Runner:
    """The ``prediction_batch`` kind for the jobs consumer."""

    def run(context: jobs.JobContext) -> dict[str, Any]:
        job = context.job
        _, bucket = _configured(settings)
        files = JobFiles(bucket, context.records.org, job.job_id)
        asks = [_ask(item) for item in files.input()["items"]]
        who = Principal(job.requested_by, context.records.org, Role(job.params.get("role", "teacher")))
        service = PredictionService.of(settings, context.records.org, job.created_at)
        total, parts = len(asks), -(-len(asks) // CHUNK)
        done_parts = int(context.checkpoint.get("parts_done", 0))
        methods: Counter[str] = Counter(context.checkpoint.get("methods") or {})
        context.advance(min(total, done_parts * CHUNK), total, "predictions")
        for n in range(done_parts, parts):
            first, last = n * CHUNK, min(total, (n + 1) * CHUNK)
            answers = service.predict(
                who, asks[first:last], ids=[f"{job.job_id}-{i}" for i in range(first, last)]
            )
            files.put_part(n, answers)
            methods.update(a["method"] for a in answers)
            context.advance(
                last, total, "predictions", checkpoint={"parts_done": n + 1, "methods": dict(methods)}
            )
        key = files.join_parts(parts)
        return {
            "count": total,
            "methods": dict(methods),
            "results_key": key,
            "format": "application/x-ndjson",
        }

    return run
