"""Jobs: every long operation (training, anomaly scans, prediction batches) as one model.

A job is an item of the records table (``rollcall.store.job_log``): its ``kind``, ``status``
(queued → running → succeeded | failed), ``progress`` (``{done, total, unit}``), ``started_at``,
``finished_at`` and a ``result`` or an ``error``. A route stores the job ``queued`` and sends
``{org, job_id, kind}`` to the jobs queue (202 with the job id); the train function's consumer
runs it (:func:`run`) and ``GET /v1/jobs/{id}`` shows it.

Running a job is safe however often its message is delivered and wherever its worker dies:

- the attempt **claims** the job with a conditional write and a lease; a second delivery while
  the lease is alive claims nothing (the message is retried later: :class:`JobHeld`), a delivery
  after the job is done does nothing;
- the attempt renews its lease with every progress report (a heartbeat), so a lease can be short;
  a worker killed mid-job (SIGKILL, out of memory, a timeout) stops renewing it, and the message's
  redelivery (after the queue's visibility timeout) takes the job over once the lease has passed;
- each kind writes its output so that doing a step twice adds nothing (deterministic keys and
  object names), and records a **checkpoint** with its progress: the next attempt resumes from it.

Training keeps its own queue and message (``rollcall.services.training``); this module is what
every kind shares.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from rollcall.platform.errors import InvalidInput, RollcallError
from rollcall.platform.observability import count, logger
from rollcall.store.job_log import FAILED, KINDS, SUCCEEDED, Job, JobRepo
from rollcall.store.queues import send_json
from rollcall.store.table import OrgRecords, check_id

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord


def new_job_id() -> str:
    return f"job-{uuid.uuid4().hex[:16]}"


class JobHeld(RuntimeError):
    """Another attempt holds the job under a live lease: retry the message later."""


@dataclass(frozen=True)
class JobMessage:
    """The body of a jobs queue message."""

    org: str
    job_id: str
    kind: str

    @classmethod
    def parse(cls, body: Any) -> JobMessage:
        if not isinstance(body, dict) or not all(
            isinstance(body.get(k), str) for k in ("org", "job_id", "kind")
        ):
            raise InvalidInput("a job message is a JSON object with 'org', 'job_id' and 'kind'")
        if body["kind"] not in KINDS:
            raise InvalidInput(f"unknown job kind {body['kind']!r}")
        return cls(check_id(body["org"], "org"), check_id(body["job_id"], "job_id"), body["kind"])

    def body(self) -> dict[str, str]:
        return {"org": self.org, "job_id": self.job_id, "kind": self.kind}


@dataclass
class JobContext:
    """What a running kind sees: its job, its checkpoint, and how to report progress."""

    jobs: JobRepo
    job: Job
    lease: timedelta
    clock: Callable[[], datetime]
    checkpoint: dict[str, Any]

    @property
    def records(self) -> OrgRecords:
        return self.jobs.records

    def advance(self, done: int, total: int, unit: str, checkpoint: dict[str, Any] | None = None) -> None:
        """Report progress, renew the lease, and (optionally) record where a later attempt resumes."""
        self.jobs.advance(
            self.job,
            done=done,
            total=total,
            unit=unit,
            now=self.clock(),
            lease=self.lease,
            checkpoint=checkpoint,
        )
        if checkpoint is not None:
            self.checkpoint = dict(checkpoint)


Runner = Callable[[JobContext], dict[str, Any]]


# --- asking ----------------------------------------------------------------------------------------


def enqueue(
    records: OrgRecords,
    *,
    kind: str,
    requested_by: str,
    queue_url: str,
    params: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    job_id: str | None = None,
    send: Callable[[str, dict[str, Any]], Any] = send_json,
) -> Job:
    """Store a queued job of ``kind`` and send its message; the job (a queue that cannot be reached
    fails the job with QUEUE_UNAVAILABLE and raises)."""
    job = create(records, kind=kind, requested_by=requested_by, params=params, now=now, job_id=job_id)
    jobs = JobRepo(records)
    try:
        send(queue_url, JobMessage(records.org, job.job_id, kind).body())
    except RollcallError:
        held = jobs.claim(job.job_id, now=job.created_at, lease=timedelta(minutes=1))
        if held is not None:
            error = {"code": "QUEUE_UNAVAILABLE", "detail": "the job could not be queued"}
            jobs.finish(held, FAILED, at=job.created_at, error=error)
        raise
    logger.info("job queued", extra={"job_id": job.job_id, "kind": kind})
    count("JobQueued")
    return job


def create(
    records: OrgRecords,
    *,
    kind: str,
    requested_by: str,
    params: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    job_id: str | None = None,
) -> Job:
    """Store a queued job of ``kind`` whose message something else sends (an upload's S3 event)."""
    if kind not in KINDS:
        raise InvalidInput(f"unknown job kind {kind!r}")
    job = Job(
        job_id=job_id or new_job_id(),
        model_type="",
        status="queued",
        reason="manual",
        requested_by=requested_by[:64],
        created_at=now or datetime.now(UTC),
        kind=kind,
        params=dict(params or {}),
    )
    JobRepo(records).create(job)
    return job


# --- running ---------------------------------------------------------------------------------------


def run(
    records: OrgRecords,
    message: JobMessage,
    runner: Runner,
    *,
    lease: timedelta,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Job | None:
    """Run the job of ``message`` once, resuming from its checkpoint; the job as it ends.

    None when there is no such job (nothing to run). Raises :class:`JobHeld` when another attempt
    holds it under a live lease (the message should come back later)."""
    jobs = JobRepo(records)
    if jobs.get(message.job_id) is None:
        logger.warning("job message for no job: dropped", extra={"job_id": message.job_id})
        return None
    job = jobs.claim(message.job_id, now=clock(), lease=lease)
    if job is None:
        current = jobs.require(message.job_id)
        if current.done:
            logger.info("job already done: nothing to do", extra={"job_id": current.job_id})
            count("JobRedelivered")
            return current
        raise JobHeld(f"job {current.job_id} is held by another attempt until {current.lease_until}")
    context = JobContext(jobs, job, lease, clock, jobs.checkpoint(job.job_id))
    logger.info(
        "job started",
        extra={
            "job_id": job.job_id,
            "kind": job.kind,
            "attempt": job.attempts,
            "resuming": bool(context.checkpoint),
        },
    )
    try:
        result = runner(context)
    except RollcallError as e:
        logger.warning("job failed", extra={"job_id": job.job_id, "code": e.code, "detail": e.detail})
        count("JobFailed")
        return jobs.finish(job, FAILED, at=clock(), error={"code": e.code, "detail": e.detail})
    except Exception as e:
        logger.exception("job crashed", extra={"job_id": job.job_id})
        count("JobFailed")
        error = {"code": "INTERNAL_ERROR", "detail": f"{type(e).__name__}: the job failed unexpectedly"}
        return jobs.finish(job, FAILED, at=clock(), error=error)
    count("JobSucceeded")
    logger.info("job succeeded", extra={"job_id": job.job_id, "kind": job.kind})
    return jobs.finish(job, SUCCEEDED, at=clock(), result=result)


def consumer(
    records_for: Callable[[str], OrgRecords], runners: Mapping[str, Runner], lease: timedelta
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A handler of one jobs queue message body (``{org, job_id, kind}``)."""

    def handle(body: dict[str, Any]) -> dict[str, Any]:
        message = JobMessage.parse(body)
        runner = runners.get(message.kind)
        if runner is None:
            raise InvalidInput(f"this worker runs no {message.kind} jobs")
        job = run(records_for(message.org), message, runner, lease=lease)
        return {"job_id": message.job_id, "status": job.status if job else "missing"}

    return handle


def record_handler(
    training: Callable[[SQSRecord], dict[str, Any]],
    jobs: Callable[[dict[str, Any]], dict[str, Any]],
    uploads: Callable[[dict[str, Any]], list[JobMessage]] | None = None,
) -> Callable[[SQSRecord], dict[str, Any]]:
    """One SQS record handler for the train function: a body with a ``kind`` other than training
    is a job of the jobs queue; an S3 event (``Records``, or S3's test event) names the uploads
    whose jobs to run (``uploads``); anything else is a training message."""

    def handle(record: SQSRecord) -> dict[str, Any]:
        try:
            body = json.loads(record.body or "")
        except ValueError:  # not JSON: the training consumer rejects it (consumed, not retried)
            return training(record)
        if isinstance(body, dict) and uploads is not None and ("Records" in body or "Event" in body):
            return {"jobs": [jobs(message.body()) for message in uploads(body)]}
        if isinstance(body, dict) and body.get("kind") not in (None, "training"):
            return jobs(body)
        return training(record)

    return handle


# --- reading ---------------------------------------------------------------------------------------


def recent_jobs(records: OrgRecords, limit: int) -> list[Job]:
    """The organisation's latest jobs, newest first."""
    return JobRepo(records).recent(limit)


def page(
    records: OrgRecords, *, limit: int, kind: str | None = None, cursor: str | None = None
) -> tuple[list[Job], str | None]:
    """A page of the organisation's jobs (of ``kind``), newest first, and the next cursor."""
    if kind is not None and kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}")
    return JobRepo(records).page(limit, kind=kind, after=cursor)


def get_job(records: OrgRecords, job_id: str) -> Job:
    """One job (404 JOB_NOT_FOUND, also for another organisation's)."""
    return JobRepo(records).require(job_id)


def result_with_links(records: OrgRecords, job: Job, bucket: str | None) -> dict[str, Any]:
    """The job's result, with a presigned GET URL (``results_url``, valid an hour) for the result
    file it names."""
    key = job.result.get("results_key")
    if not key or not bucket or job.status != SUCCEEDED:
        return job.result
    from rollcall.store.job_results import URL_SECONDS, JobFiles

    url = JobFiles(bucket, records.org, job.job_id).url(str(key))
    return {**job.result, "results_url": url, "results_url_expires_in": URL_SECONDS}
