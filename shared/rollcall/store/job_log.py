"""Jobs in the records table (every long operation: training, anomaly scans, prediction
batches), with conditional state transitions.

Items::

    job  pk ORG#o#JOB#<job_id>  sk META   gsi1 ORG#o#JOBS / <created_at>#<job_id>

A job has a ``kind`` (training | anomaly_scan | prediction_batch | attendance_import), ``progress``
(``{done, total, unit}``, written by the attempt that holds it) and, once done, a ``result`` or
an ``error``. A job goes ``queued`` → ``running`` → ``succeeded`` | ``failed``, and every transition is a
conditional write, which is what makes a redelivered job message harmless:

- :meth:`JobRepo.claim` moves a job to ``running`` only if it is ``queued``, or ``running`` with
  an expired lease (the attempt holding it died: timed out or crashed). A second delivery of the
  message while the first attempt runs, or after it finished, claims nothing and does nothing.
- :meth:`JobRepo.finish` records the outcome only for the attempt that holds the job.

Jobs expire (``expires_at``) ``RETENTION_DAYS`` after they were created.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from rollcall.domain import iso, parse_time
from rollcall.platform.errors import ConcurrentUpdate, NotFound
from rollcall.store.table import OrgRecords, check_id, ttl_after

QUEUED, RUNNING = "queued", "running"
TRAINING: Final = "training"
KINDS: Final = (
    "training",
    "anomaly_scan",
    "prediction_batch",
    "attendance_import",
    "photo_marking",
    "face_enrolment",
)
SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"
RETENTION_DAYS = 365


@dataclass(frozen=True)
class Job:
    job_id: str
    model_type: str  # training: the model trained; other kinds: ""
    status: str
    reason: str  # manual | weekly (what asked for it)
    requested_by: str
    created_at: datetime
    mode: str = "always"  # always | if_needed (the weekly check: train only when the rules say so)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    attempts: int = 0
    lease_until: datetime | None = None
    progress: str | None = None  # the step a running attempt is at (free text)
    result: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] = field(default_factory=dict)
    kind: str = TRAINING
    counts: dict[str, Any] = field(default_factory=dict)  # {done, total, unit} of a running job
    params: dict[str, Any] = field(default_factory=dict)  # what the job was asked to do

    @property
    def done(self) -> bool:
        return self.status in (SUCCEEDED, FAILED)


def _time(value: Any) -> datetime | None:
    return parse_time(value) if value else None


def _job_from_item(item: dict[str, Any]) -> Job:
    return Job(
        job_id=item["job_id"],
        model_type=item["model_type"],
        status=item["status"],
        reason=item.get("reason", ""),
        requested_by=item.get("requested_by", ""),
        created_at=parse_time(item["created_at"]),
        mode=item.get("mode", "always"),
        started_at=_time(item.get("started_at")),
        finished_at=_time(item.get("finished_at")),
        attempts=int(item.get("attempts", 0)),
        lease_until=_time(item.get("lease_until")),
        progress=item.get("progress"),
        result=dict(item.get("result") or {}),
        error=dict(item.get("error") or {}),
        kind=item.get("job_kind", TRAINING),
        counts=dict(item.get("counts") or {}),
        params=dict(item.get("params") or {}),
    )


class JobRepo:
    def __init__(self, records: OrgRecords) -> None:
        self.records = records

    def _pk(self, job_id: str) -> str:
        return self.records.key("JOB", check_id(job_id, "job_id"))

    def create(self, job: Job) -> bool:
        """Store a new queued job; False when a job with its id exists (nothing is changed)."""
        item = {
            "pk": self._pk(job.job_id),
            "sk": "META",
            "kind": "job",
            "job_id": job.job_id,
            "job_kind": job.kind,
            "model_type": job.model_type,
            "status": QUEUED,
            "mode": job.mode,
            "reason": job.reason,
            "requested_by": job.requested_by,
            "created_at": iso(job.created_at),
            "attempts": 0,
            **({"params": job.params} if job.params else {}),
            "gsi1pk": self.records.key("JOBS"),
            "gsi1sk": f"{iso(job.created_at)}#{job.job_id}",
            "expires_at": ttl_after(RETENTION_DAYS * 86_400, job.created_at.timestamp()),
        }
        return self.records.put(item, if_absent=True)

    def get(self, job_id: str) -> Job | None:
        item = self.records.get(self._pk(job_id), "META", consistent=True)
        return _job_from_item(item) if item else None

    def require(self, job_id: str) -> Job:
        job = self.get(job_id)
        if job is None:
            raise NotFound(f"no job {job_id}", code="JOB_NOT_FOUND")
        return job

    def recent(self, limit: int = 50) -> list[Job]:
        return self.page(limit)[0]

    def page(
        self, limit: int = 50, *, kind: str | None = None, after: str | None = None
    ) -> tuple[list[Job], str | None]:
        """Up to ``limit`` jobs (of ``kind``), newest first, after the job ``after`` (the previous
        page's cursor); the next cursor (the last job's id), None on the last page."""
        between = None
        if after is not None:
            previous = self.require(after)
            between = ("0", f"{iso(previous.created_at)}#{previous.job_id}")
        found: list[Job] = []
        items = self.records.query(
            self.records.key("JOBS"), index="gsi1", newest_first=True, sk_between=between
        )
        for item in items:
            if after is not None and item.get("job_id") == after:
                continue
            job = _job_from_item(item)
            if kind is not None and job.kind != kind:
                continue
            if len(found) == limit:
                return found, found[-1].job_id
            found.append(job)
        return found, None

    def delete(self, job_ids: list[str]) -> int:
        """Delete jobs (a student's erasure takes the jobs that name them); how many were asked."""
        self.records.batch_delete((self._pk(job_id), "META") for job_id in job_ids)
        return len(job_ids)

    def claim(self, job_id: str, *, now: datetime, lease: timedelta) -> Job | None:
        """Start an attempt: the job as running, or None when it is done or another attempt holds it."""
        try:
            item = self.records.update(
                self._pk(job_id),
                "META",
                {"status": RUNNING, "started_at": iso(now), "lease_until": iso(now + lease)},
                set_expression="#attempts = if_not_exists(#attempts, :zero) + :one",
                condition="#status = :queued OR (#status = :running AND #lease < :now)",
                names={"#status": "status", "#lease": "lease_until", "#attempts": "attempts"},
                values={":queued": QUEUED, ":running": RUNNING, ":now": iso(now), ":zero": 0, ":one": 1},
            )
        except ConcurrentUpdate:
            return None
        return _job_from_item(item)

    def progress(self, job: Job, step: str) -> None:
        """Note the step an attempt is at (shown by GET /v1/jobs/{id} while it runs)."""
        self._held(job, {"progress": step})

    def advance(
        self,
        job: Job,
        *,
        done: int,
        total: int,
        unit: str,
        now: datetime,
        lease: timedelta,
        checkpoint: dict[str, Any] | None = None,
    ) -> None:
        """Record an attempt's progress and renew its lease (a heartbeat); ``checkpoint``: what a
        later attempt resumes from. ConcurrentUpdate if the attempt lost the job."""
        changes: dict[str, Any] = {
            "counts": {"done": done, "total": total, "unit": unit},
            "lease_until": iso(now + lease),
        }
        if checkpoint is not None:
            changes["checkpoint"] = checkpoint
        self._held(job, changes)

    def checkpoint(self, job_id: str) -> dict[str, Any]:
        """What the last attempt of a job recorded to resume from (empty: start from the beginning)."""
        item = self.records.get(self._pk(job_id), "META", consistent=True)
        return dict((item or {}).get("checkpoint") or {})

    def finish(
        self,
        job: Job,
        status: Literal["succeeded", "failed"],
        *,
        at: datetime,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> Job:
        """Record the outcome of the attempt that holds ``job``; ConcurrentUpdate if it lost the job."""
        changes: dict[str, Any] = {"status": status, "finished_at": iso(at)}
        if result is not None:
            changes["result"] = result
        if error is not None:
            changes["error"] = error
        return _job_from_item(self._held(job, changes, remove=("lease_until", "progress", "checkpoint")))

    def _held(self, job: Job, changes: dict[str, Any], remove: tuple[str, ...] = ()) -> dict[str, Any]:
        return self.records.update(
            self._pk(job.job_id),
            "META",
            changes,
            remove=remove,
            condition="#status = :running AND #attempts = :attempt",
            names={"#status": "status", "#attempts": "attempts"},
            values={":running": RUNNING, ":attempt": job.attempts},
        )
