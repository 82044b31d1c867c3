"""Training jobs: conditional transitions make a redelivered message harmless (moto)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rollcall.platform.errors import ConcurrentUpdate, NotFound
from rollcall.store.job_log import Job, JobRepo
from tests.integration.models.conftest import NOW, Stores

LEASE = timedelta(minutes=16)


def queued(job_id: str) -> Job:
    return Job(job_id, "attendance", "queued", "manual", "root", NOW)


def test_a_job_is_claimed_once_and_finished_by_its_holder(stores: Stores) -> None:
    jobs = JobRepo(stores.records("jobs-once"))
    assert jobs.create(queued("job-1"))
    assert not jobs.create(queued("job-1"))

    held = jobs.claim("job-1", now=NOW, lease=LEASE)
    assert held is not None and (held.status, held.attempts) == ("running", 1)
    assert jobs.claim("job-1", now=NOW + timedelta(minutes=1), lease=LEASE) is None  # a redelivery

    jobs.progress(held, "training")
    assert jobs.require("job-1").progress == "training"
    done = jobs.finish(held, "succeeded", at=NOW, result={"version": "v0001"})
    assert (done.status, done.result, done.progress) == ("succeeded", {"version": "v0001"}, None)
    assert jobs.claim("job-1", now=NOW + timedelta(days=1), lease=LEASE) is None  # done stays done


def test_an_attempt_that_died_is_taken_over_after_its_lease(stores: Stores) -> None:
    jobs = JobRepo(stores.records("jobs-lease"))
    jobs.create(queued("job-2"))
    first = jobs.claim("job-2", now=NOW, lease=LEASE)
    assert first is not None

    # When the lease has passed, Then a redelivery takes the job over as a second attempt
    second = jobs.claim("job-2", now=NOW + LEASE + timedelta(seconds=1), lease=LEASE)
    assert second is not None and second.attempts == 2

    # And the first attempt can no longer record an outcome
    with pytest.raises(ConcurrentUpdate):
        jobs.finish(first, "failed", at=NOW, error={"code": "X"})
    assert jobs.finish(second, "failed", at=NOW, error={"code": "Y"}).error == {"code": "Y"}


def test_jobs_are_listed_newest_first_and_scoped_by_organisation(stores: Stores) -> None:
    jobs = JobRepo(stores.records("jobs-list"))
    for i in range(3):
        jobs.create(
            Job(f"job-l{i}", "attendance", "queued", "weekly", "schedule", NOW + timedelta(seconds=i))
        )
    assert [j.job_id for j in jobs.recent(2)] == ["job-l2", "job-l1"]
    with pytest.raises(NotFound) as missing:
        JobRepo(stores.records("jobs-other")).require("job-l1")
    assert missing.value.code == "JOB_NOT_FOUND"
