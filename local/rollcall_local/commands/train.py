"""Train a model now, through the built train function: make train ORG=demo

The job is the one POST /v1/models/{type}/train queues (mode always), handed as its SQS message
to the built TrainFunction in a fresh process, as the training queue's event source would hand
it (the training queue itself is not used, so a running stack does not take the job too). The
function's output goes to .local/logs/TrainFunction.log. On a terminal, while it runs, the job
is read every half second: each step it reaches, and a line for the week slices of attendance read
(the rate and the time left). At the end the job is printed as JSON, as GET /v1/jobs/{id} shows it;
exits 0 if it succeeded, 1 if it failed (the error's code on stderr: INSUFFICIENT_DATA when the
organisation has too little data in the window). --until ends the training window at that date
or time (UTC; default: the latest record). Uses the running stack's emulator if one is listening,
else starts the embedded one (and keeps its state).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TextIO

from rollcall_local.progress import Progress, on_terminal

if TYPE_CHECKING:
    from datetime import datetime

    from rollcall.store.job_log import Job

FUNCTION, QUEUE = "TrainFunction", "TrainingQueue"
POLL_SECONDS = 0.5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--org", default="demo")
    parser.add_argument("--type", dest="model_type", default="attendance", help="the model type")
    parser.add_argument("--until", help="the training window's end: an ISO date or time (UTC)")
    parser.add_argument("--as", dest="actor", default="cli", help="who the job names (default: cli)")


def main(args: argparse.Namespace) -> int:
    from rollcall.domain import iso
    from rollcall.platform.observability import logger
    from rollcall.services.training import ALWAYS, JobMessage, new_job_id
    from rollcall.store.job_log import JobRepo
    from rollcall.store.table import OrgDirectory, OrgRecords
    from rollcall_local.config import LocalConfig, private_dir
    from rollcall_local.session import Session
    from rollcall_local.sqs import sqs_event

    logger.setLevel("WARNING")
    org, model_type, until, actor = _checked(args)
    message = JobMessage(
        org, new_job_id(), model_type, ALWAYS, "manual", actor, iso(until) if until else None
    )
    config = LocalConfig.from_env()
    with Session.open(config) as session:
        client = session.aws.client("dynamodb")
        table = session.physical.refs["RecordsTable"]
        if not OrgDirectory(table, client=client).knows(org):
            detail = f"the organisation {org} has no data: seed or import some first"
            print(json.dumps({"code": "ORG_NOT_FOUND", "detail": {"message": detail}}, indent=2))
            print(f"refused (ORG_NOT_FOUND): {detail}", file=sys.stderr)
            return 1
        jobs = JobRepo(OrgRecords(org, table, client=client))
        log = private_dir(config.logs_dir) / f"{FUNCTION}.log"
        print(f"training job {message.job_id} of {org} (the function's log: {log})", file=sys.stderr)
        event = sqs_event(
            [_received(json.dumps(message.body()), session.template.account_id)],
            queue_arn=session.physical.attribute(QUEUE, "Arn"),
            region=session.aws.region,
        )
        follower = Follower()
        worker = session.spawn_logged(session.function(FUNCTION))
        with following(lambda: jobs.get(message.job_id), follower):
            try:
                result = worker.invoke(event)
            finally:
                worker.close()
        job = jobs.get(message.job_id)
        follower.see(job)
        follower.close()
    if job is not None:
        print(json.dumps(shown(job), indent=2))
    if not result.ok:
        print(f"the function failed: {result.error_summary()} (see {log})", file=sys.stderr)
        return 1
    if job is None or (result.payload or {}).get("batchItemFailures"):
        print(f"the function did not take the job (see {log})", file=sys.stderr)
        return 1
    if job.status == "failed":
        print(f"failed ({job.error.get('code')}): nothing was trained", file=sys.stderr)
        return 1
    return 0 if job.status == "succeeded" else 1


def _checked(args: argparse.Namespace) -> tuple[str, str, datetime | None, str]:
    """The arguments, checked as the API checks them; LocalError (no traceback) says which is wrong."""
    from rollcall.domain import parse_time
    from rollcall.platform.errors import RollcallError
    from rollcall.store.model_versions import check_model_type
    from rollcall.store.table import check_id
    from rollcall_local.errors import LocalError

    try:
        org, actor = check_id(args.org, "--org"), check_id(args.actor, "--as")
        model_type = check_model_type(args.model_type)
    except RollcallError as e:
        raise LocalError(str(e)) from None
    try:
        until = parse_time(args.until) if args.until else None
    except ValueError:
        raise LocalError(
            f"--until: {args.until!r} is not an ISO date or time (2026-03-02, 2026-03-02T12:00:00Z)"
        ) from None
    return org, model_type, until, actor


def _received(body: str, account_id: str) -> dict[str, Any]:
    """``body`` as SQS's ReceiveMessage answers a message just sent (received once)."""
    now = str(int(time.time() * 1000))
    return {
        "MessageId": str(uuid.uuid4()),
        "ReceiptHandle": f"local-train-{uuid.uuid4().hex}",  # never deleted: not on a queue
        "Body": body,
        "MD5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
        "Attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": now,
            "SenderId": account_id,
            "ApproximateFirstReceiveTimestamp": now,
        },
    }


def shown(job: Job) -> dict[str, Any]:
    """The job as GET /v1/jobs/{id} shows it."""
    from rollcall.domain import iso

    return {
        "job_id": job.job_id,
        "kind": job.kind,
        "model_type": job.model_type,
        "status": job.status,
        "mode": job.mode,
        "reason": job.reason,
        "requested_by": job.requested_by,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at) if job.started_at else None,
        "finished_at": iso(job.finished_at) if job.finished_at else None,
        "attempts": job.attempts,
        "progress": job.counts or None,
        "step": job.progress,
        "result": job.result,
        "error": job.error,
    }


class Follower:
    """A job's snapshots, as the terminal shows them: each step the job reaches on a line of its
    own, and its counts (``{done, total, unit}``) as a :class:`Progress` line (rate and time left),
    kept on the terminal when the next step begins. Nothing at all when not on a terminal."""

    def __init__(
        self,
        *,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled if enabled is not None else on_terminal(self.stream)
        self.clock = clock
        self.step: str | None = None
        self.line: Progress | None = None  # the counts' line while it is the last one written
        self._counted: tuple[str, int, int] | None = None  # the counts last shown (unit, total, done)

    def see(self, job: Job | None) -> None:
        """Show what changed since the last snapshot (None: no job yet)."""
        if job is None:
            return
        if self.line is not None:  # counts made during the step being left end its line
            self._count(job)
        if job.progress and job.progress != self.step:
            self._end_line()
            self.step = job.progress
            self._write(f"{job.progress}\n")
        if self.line is None:
            self._count(job)

    def close(self) -> None:
        self._end_line()

    def _count(self, job: Job) -> None:
        if not job.counts:
            return
        counts = job.counts
        unit, total, done = (
            str(counts.get("unit", "")),
            int(counts.get("total", 0)),
            int(counts.get("done", 0)),
        )
        line = self.line
        if line is not None and (line.unit, line.total) == (unit, total) and done >= line.done:
            if done > line.done:
                line.add(done - line.done)
        elif (unit, total, done) != self._counted:  # new counts (a new attempt counts from 0 again)
            self._end_line()
            if done < total:  # counts first seen complete have nothing left to follow
                self.line = Progress(
                    job.kind, total, unit=unit, stream=self.stream, enabled=self.enabled, clock=self.clock
                ).from_done(done)
        self._counted = (unit, total, done)
        if done >= total:  # complete: the line ends now, with the rate it reached
            self._end_line()

    def _end_line(self) -> None:
        if self.line is not None:
            self.line.finish()
            self.line = None

    def _write(self, text: str) -> None:
        if self.enabled:
            self.stream.write(text)
            self.stream.flush()


@contextlib.contextmanager
def following(
    read: Callable[[], Job | None], follower: Follower, interval: float = POLL_SECONDS
) -> Iterator[None]:
    """While the block runs, the job is read (``read()``) every ``interval`` seconds on a thread and
    shown by ``follower``; a read the store does not answer is skipped (the next one will do)."""
    from rollcall.platform.errors import RollcallError

    stop = threading.Event()

    def run() -> None:
        while not stop.wait(interval):
            try:
                job = read()
            except RollcallError:
                continue
            follower.see(job)

    thread = threading.Thread(target=run, name="train-follower", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
