"""/v1/jobs: training jobs (queued by POST /v1/models/{type}/train and by the weekly schedule)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from rollcall.api.access import Staff
from rollcall.api.deps import records_of
from rollcall.api.schemas import Id, timestamp
from rollcall.services import jobs

if TYPE_CHECKING:
    from rollcall.store.job_log import Job

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


class JobOut(BaseModel):
    job_id: str
    model_type: str
    status: str = Field(description="queued | running | succeeded | failed")
    mode: str = Field(
        description="always (asked for) | if_needed (the weekly check: trains when the rules say)"
    )
    reason: str
    requested_by: str
    created_at: str
    started_at: str | None
    finished_at: str | None
    attempts: int
    progress: str | None = Field(default=None, description="the step a running job is at")
    result: dict[str, Any] = Field(description="succeeded: the version, its metrics, the activation decision")
    error: dict[str, Any] = Field(description="failed: code and detail (INSUFFICIENT_DATA: the counts)")

    @classmethod
    def of(cls, job: Job) -> JobOut:
        return cls(
            job_id=job.job_id,
            model_type=job.model_type,
            status=job.status,
            mode=job.mode,
            reason=job.reason,
            requested_by=job.requested_by,
            created_at=timestamp(job.created_at) or "",
            started_at=timestamp(job.started_at),
            finished_at=timestamp(job.finished_at),
            attempts=job.attempts,
            progress=job.progress,
            result=job.result,
            error=job.error,
        )


@router.get("", summary="The organisation's latest jobs, newest first (staff)")
def get_jobs(request: Request, who: Staff, limit: int = Query(default=20, ge=1, le=100)) -> list[JobOut]:
    return [JobOut.of(j) for j in jobs.recent_jobs(records_of(request, who), limit)]


@router.get("/{job_id}", summary="A job: queued | running | succeeded | failed, with its result (staff)")
def get_job(job_id: Id, request: Request, who: Staff) -> JobOut:
    return JobOut.of(jobs.get_job(records_of(request, who), job_id))
