"""Attendance imports as jobs: a file uploaded to S3, imported by the jobs worker.

``POST /v1/attendance/imports`` stores an ``attendance_import`` job (queued) and answers 202 with
a presigned PUT URL for ``imports/<org>/<job_id>.csv`` in the job files bucket. The upload's S3
event goes to the jobs queue (the bucket's notification), and the train function's worker runs
the job: it reads the file and imports it with ``rollcall.services.importing.import_csv``, as the
synchronous route does: whole or nothing (every row is checked before anything is written), and
once per content (the import's marker is keyed by the file's content hash: the same file again
writes nothing and answers ``replayed``). The job's result is the import's counts, with the
file's sha256 and size.

Files up to 100 MiB (about 1.5 million rows) are taken: the import checks the whole file, then
writes it in chunks, noting after each on the import's marker how many rows are written. A worker
that died mid-import leaves the marker ``importing``; the redelivery checks the file again and
resumes writing where the note says (every write of an import is idempotent). Progress is
reported in records every ``PROGRESS_EVERY`` (each report renews the job's lease).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

from rollcall.ml.history_csv import MAX_BYTES
from rollcall.platform.auth import Principal, Role
from rollcall.platform.errors import ConfigurationError, InvalidInput
from rollcall.platform.observability import logger
from rollcall.platform.settings import TrainSettings
from rollcall.services import jobs
from rollcall.services.importing import import_csv
from rollcall.store.job_log import Job
from rollcall.store.job_results import UPLOAD_PREFIX, JobFiles
from rollcall.store.table import OrgRecords, check_id

KIND = "attendance_import"
MAX_UPLOAD_BYTES = MAX_BYTES  # what rollcall.ml.history_csv accepts (CSV_TOO_LARGE beyond)
PROGRESS_EVERY = 5_000  # records between two progress reports (each renews the job's lease)


def _bucket(settings: TrainSettings) -> str:
    if not settings.job_files_bucket:
        raise ConfigurationError("JOB_FILES_BUCKET is needed for uploaded imports")
    return settings.job_files_bucket


def request_upload(
    settings: TrainSettings, records: OrgRecords, who: Principal, now: datetime
) -> dict[str, Any]:
    """A queued import job and where to PUT its file (the upload starts the job)."""
    bucket = _bucket(settings)
    job_id = jobs.new_job_id()
    files = JobFiles(bucket, records.org, job_id)
    job = jobs.create(
        records, kind=KIND, requested_by=who.sub, params={"role": who.role.value}, now=now, job_id=job_id
    )
    url, seconds = files.upload_url()
    return {"job": job, "upload_url": url, "expires_in": seconds, "max_bytes": MAX_UPLOAD_BYTES}


def uploads(body: Mapping[str, Any]) -> list[jobs.JobMessage]:
    """The import jobs an S3 event (a jobs queue message from the bucket) starts; [] for S3's
    test event."""
    if body.get("Event") == "s3:TestEvent":
        return []
    found = []
    for record in body.get("Records") or []:
        key = unquote_plus(str(((record.get("s3") or {}).get("object") or {}).get("key", "")))  # URL-encoded
        parts = key.split("/")
        if len(parts) != 3 or f"{parts[0]}/" != UPLOAD_PREFIX or not parts[2].endswith(".csv"):
            raise InvalidInput(f"not an import upload: {key[:200]!r}")
        found.append(jobs.JobMessage(check_id(parts[1], "org"), check_id(parts[2][:-4], "job_id"), KIND))
    return found


def import_runner(settings: TrainSettings) -> jobs.Runner:
    """The ``attendance_import`` kind for the jobs consumer."""

    def run(context: jobs.JobContext) -> dict[str, Any]:
        job: Job = context.job
        files = JobFiles(_bucket(settings), context.records.org, job.job_id)
        data = files.upload()
        size, sha256 = len(data), hashlib.sha256(data).hexdigest()
        total = max(1, data.count(b"\n"))  # the rows, near enough for progress (header and blanks in)
        context.advance(0, total, "records")
        written = 0

        def progress(n: int) -> None:
            nonlocal written
            written += n
            if written % PROGRESS_EVERY < n:
                context.advance(min(written, total), total, "records")

        who = Principal(job.requested_by, context.records.org, Role(job.params.get("role", "teacher")))
        result = import_csv(context.records, who, data, now=context.clock(), progress=progress)
        context.advance(total, total, "records")
        logger.info("uploaded import done", extra={"job_id": job.job_id, "replayed": result.replayed})
        return {
            "import_id": result.import_id,
            "replayed": result.replayed,
            **result.counts(),
            "imported_at": result.imported_at,
            "imported_by": result.imported_by,
            "file_sha256": sha256,
            "file_bytes": size,
        }

    return run
