"""/v1/jobs: every long operation (training, anomaly scans, prediction batches) as a job."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from rollcall.api.access import Staff
from rollcall.api.deps import records_of
from rollcall.api.schemas import Id, timestamp
from rollcall.services import jobs

if TYPE_CHECKING:
    from rollcall.store.job_log import Job

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

Kind = Literal[
    "training", "anomaly_scan", "prediction_batch", "attendance_import", "photo_marking", "face_enrolment"
]


class ProgressOut(BaseModel):
    done: int
    total: int
    unit: str = Field(description="what is counted: predictions, scans, ...")


class JobOut(BaseModel):
    job_id: str
    kind: str = Field(
        description="training | anomaly_scan | prediction_batch | attendance_import | photo_marking | "
        "face_enrolment"
    )
    model_type: str = Field(description="training: the model type; other kinds: empty")
    status: str = Field(description="queued | running | succeeded | failed")
    mode: str = Field(
        description="training: always (asked for) | if_needed (the weekly check: trains when the rules say)"
    )
    reason: str
    requested_by: str
    created_at: str
    started_at: str | None
    finished_at: str | None
    attempts: int = Field(
        description="attempts that claimed the job (more than 1: a worker died or timed out)"
    )
    progress: ProgressOut | None = Field(
        default=None, description="{done, total, unit} of a job that reports it"
    )
    step: str | None = Field(default=None, description="the step a running training job is at")
    result: dict[str, Any] = Field(
        description="succeeded: training: the version, its metrics, the activation decision; anomaly_scan: "
        "the scan's summary; prediction_batch: count, methods and results_url (JSON Lines, presigned GET); "
        "attendance_import: the import's counts, replayed, the file's sha256"
    )
    error: dict[str, Any] = Field(description="failed: code and detail (INSUFFICIENT_DATA: the counts)")

    @classmethod
    def of(cls, job: Job, result: dict[str, Any] | None = None) -> JobOut:
        counts = job.counts
        return cls(
            job_id=job.job_id,
            kind=job.kind,
            model_type=job.model_type,
            status=job.status,
            mode=job.mode,
            reason=job.reason,
            requested_by=job.requested_by,
            created_at=timestamp(job.created_at) or "",
            started_at=timestamp(job.started_at),
            finished_at=timestamp(job.finished_at),
            attempts=job.attempts,
            progress=ProgressOut.model_validate(counts) if counts else None,
            step=job.progress,
            result=job.result if result is None else result,
            error=job.error,
        )


class JobPage(BaseModel):
    items: list[JobOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last")


@router.get("", summary="The organisation's jobs, newest first, by kind (staff)")
def get_jobs(
    request: Request,
    who: Staff,
    *,
    kind: Kind | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[Id | None, Query(description="next_cursor of the previous page")] = None,
) -> JobPage:
    items, next_cursor = jobs.page(records_of(request, who), limit=limit, kind=kind, cursor=cursor)
    return JobPage(items=[JobOut.of(j) for j in items], next_cursor=next_cursor)


@router.get("/{job_id}", summary="A job: queued | running | succeeded | failed, with its result (staff)")
def get_job(job_id: Id, request: Request, who: Staff) -> JobOut:
    records = records_of(request, who)
    job = jobs.get_job(records, job_id)
    bucket = getattr(request.app.state.settings, "job_files_bucket", None)
    return JobOut.of(job, jobs.result_with_links(records, job, bucket))
