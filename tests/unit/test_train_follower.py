"""make train's terminal: a training job's snapshots as step lines and a progress line (rate, time left)."""

from __future__ import annotations

import io
import threading
from dataclasses import replace
from datetime import UTC, datetime

from rollcall.services.training import JobMessage
from rollcall.store.job_log import Job
from rollcall_local.commands.train import Follower, following, shown

QUEUED = JobMessage("school", "job-1", requested_by="cli").job(datetime(2026, 3, 2, tzinfo=UTC))


def running(step: str | None, done: int | None = None, total: int = 60) -> Job:
    counts = {"done": done, "total": total, "unit": "week slices"} if done is not None else {}
    return replace(QUEUED, status="running", attempts=1, progress=step, counts=counts)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def lines(text: str) -> list[str]:
    """What the terminal shows: each line as last rewritten (``\\r``), without the erase code."""
    return [line.rsplit("\r", 1)[-1].replace("\x1b[K", "") for line in text.split("\n") if line]


def test_steps_get_a_line_each_and_the_read_a_progress_line_with_rate_and_time_left() -> None:
    # Given a job followed every half second: reading its window's 60 week slices, then training
    now = [0.0]
    out = Terminal()
    follower = Follower(stream=out, enabled=True, clock=lambda: now[0])
    snapshots = [
        None,  # the function has not created the job yet
        running("reading attendance"),
        running("reading attendance", 0),
        running("reading attendance", 15),
        running("reading attendance", 30),
        running("building features", 60),  # the read's end and the next step in one snapshot
        running("building features", 60),
        running("training on 900 records", 60),
    ]

    # When each is seen half a second after the one before
    for job in snapshots:
        follower.see(job)
        now[0] += 0.5
    follower.close()

    # Then: the steps in order, the read's line rewritten in place as it went, and kept, complete
    assert lines(out.getvalue()) == [
        "reading attendance",
        "training: 60/60 week slices (100 %) 40/s in 0:02",
        "building features",
        "training on 900 records",
    ]
    assert "training: 15/60 week slices (25 %) 30/s ETA 0:02" in out.getvalue()


def test_a_read_first_seen_in_its_middle_counts_its_rate_from_there() -> None:
    now = [10.0]
    out = Terminal()
    follower = Follower(stream=out, enabled=True, clock=lambda: now[0])
    follower.see(running("reading attendance", 20))
    now[0] = 11.0
    follower.see(running("reading attendance", 30))
    assert lines(out.getvalue())[-1] == "training: 30/60 week slices (50 %) 10/s ETA 0:03"


def test_counts_first_seen_complete_and_a_job_that_ends_show_no_progress_line() -> None:
    out = Terminal()
    follower = Follower(stream=out, enabled=True)
    follower.see(running("storing the artifact", 60))
    follower.see(replace(running(None, 60), status="succeeded"))
    follower.close()
    assert lines(out.getvalue()) == ["storing the artifact"]


def test_nothing_is_written_when_not_on_a_terminal() -> None:
    out = io.StringIO()  # a pipe or a file
    follower = Follower(stream=out)
    for done in (0, 30, 60):
        follower.see(running("reading attendance", done))
    follower.close()
    assert out.getvalue() == ""


def test_following_reads_the_job_on_a_thread_until_the_block_ends_and_skips_failed_reads() -> None:
    from rollcall.platform.errors import StoreUnavailable

    seen: list[Job | None] = []
    reads = iter([None, StoreUnavailable("no answer"), running("reading attendance", 5)])
    enough = threading.Event()

    class Recorder(Follower):
        def see(self, job: Job | None) -> None:
            seen.append(job)
            if len(seen) == 2:
                enough.set()

    def read() -> Job | None:
        answer = next(reads, None)
        if isinstance(answer, Exception):
            raise answer
        return answer

    with following(read, Recorder(enabled=False), interval=0.01):
        assert enough.wait(5)
    assert seen[:2] == [None, running("reading attendance", 5)]


def test_the_printed_job_has_the_fields_of_get_jobs_id() -> None:
    from rollcall.api.jobs import JobOut

    job = replace(running(None, 60), status="succeeded", result={"version": "v0001"})
    assert shown(job) == JobOut.of(job).model_dump()
