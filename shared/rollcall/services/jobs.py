"""Jobs as their owners see them: the organisation's latest jobs, and one job with its outcome.

Running a job is its kind's service (training: ``rollcall.services.training``); this module is
what every kind shares once a job exists.
"""

from __future__ import annotations

from rollcall.store.job_log import Job, JobRepo
from rollcall.store.table import OrgRecords


def recent_jobs(records: OrgRecords, limit: int) -> list[Job]:
    """The organisation's latest jobs, newest first."""
    return JobRepo(records).recent(limit)


def get_job(records: OrgRecords, job_id: str) -> Job:
    """One job (404 JOB_NOT_FOUND, also for another organisation's)."""
    return JobRepo(records).require(job_id)
