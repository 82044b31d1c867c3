"""Photos uploaded by presigned URL, each worked on as a job: what the marking and the enrolment
uploads share.

A route stores a queued job whose id is the upload's id (:func:`request`) and answers where to
PUT the photo (``rollcall.store.photo_uploads``: the key names the organisation, the owner, a
session or a student, and the id). The upload's ObjectCreated event reaches the function's
uploads queue (the photo bucket's notification, one queue per prefix); :func:`record_handler`
reads the event's keys back into job messages and runs each job with the kind's runner, which
reads the photo, at most :data:`MAX_UPLOAD_BYTES` (else PHOTO_TOO_LARGE), and deletes it when it
ends. An upload whose job is gone (the student was erased meanwhile) is deleted unread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from rollcall.platform.auth import Principal
from rollcall.platform.errors import ImageTooLarge, InvalidInput
from rollcall.platform.observability import logger
from rollcall.services import jobs
from rollcall.store.job_log import FAILED, SUCCEEDED, Job
from rollcall.store.photo_uploads import PhotoUpload, parse_key
from rollcall.store.table import OrgRecords

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

MAX_UPLOAD_BYTES = 15 * 1024 * 1024
STATUS = {"queued": "pending", "running": "pending", SUCCEEDED: "done", FAILED: "failed"}


@dataclass(frozen=True)
class UploadKind:
    """One use of uploads: its job kind, where its photos lie, how its ids begin."""

    kind: str
    prefix: str  # rollcall.store.photo_uploads.PREFIX or FACE_PREFIX
    id_prefix: str


def request(
    records: OrgRecords,
    who: Principal,
    what: UploadKind,
    *,
    bucket: str,
    owner: str,
    params: Mapping[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """Store a pending upload's job; ``{upload_id, upload_url, upload_method, expires_at, max_bytes}``."""
    upload_id = f"{what.id_prefix}-{jobs.new_job_id()[4:]}"
    job = jobs.create(
        records,
        kind=what.kind,
        requested_by=who.sub,
        params={"role": who.role.value, **params},
        now=now,
        job_id=upload_id,
    )
    url, seconds = PhotoUpload(bucket, records.org, owner, upload_id, prefix=what.prefix).upload_url()
    return {
        "upload_id": job.job_id,
        "upload_url": url,
        "upload_method": "PUT",
        "expires_at": now + timedelta(seconds=seconds),
        "max_bytes": MAX_UPLOAD_BYTES,
    }


def read(upload: PhotoUpload) -> tuple[bytes, int]:
    """The uploaded photo and its size (PHOTO_TOO_LARGE past :data:`MAX_UPLOAD_BYTES`, unread)."""
    size = upload.size()
    if size > MAX_UPLOAD_BYTES:
        raise ImageTooLarge(
            f"the photo has {size} bytes; at most {MAX_UPLOAD_BYTES} are read", code="PHOTO_TOO_LARGE"
        )
    return upload.read(), size


def status_of(job: Job) -> dict[str, Any]:
    """``{status: pending | done | failed}`` with the job's ``result`` (done) or ``error`` (failed)."""
    out: dict[str, Any] = {"status": STATUS[job.status]}
    if job.status == SUCCEEDED:
        out["result"] = job.result
    if job.status == FAILED:
        out["error"] = job.error
    return out


def events(body: Mapping[str, Any], prefix: str) -> list[tuple[str, str, str]]:
    """``(org, owner, upload_id)`` of each upload under ``prefix`` an S3 event names; [] for S3's
    test event (InvalidInput for a key that is not such an upload's)."""
    if body.get("Event") == "s3:TestEvent":
        return []
    found = []
    for record in body.get("Records") or []:
        key = unquote_plus(str(((record.get("s3") or {}).get("object") or {}).get("key", "")))
        key_prefix, org, owner, upload_id = parse_key(key)
        if key_prefix != prefix:
            raise InvalidInput(f"not an upload under {prefix}: {key[:200]!r}")
        found.append((org, owner, upload_id))
    return found


def record_handler(
    bucket: str,
    records_for: Callable[[str], OrgRecords],
    what: UploadKind,
    runner: jobs.Runner,
    *,
    lease: timedelta,
) -> Callable[[SQSRecord], dict[str, Any]]:
    """One record of an uploads queue: an S3 event naming uploads (under ``what.prefix``) whose
    jobs to run."""
    work = jobs.consumer(records_for, {what.kind: runner}, lease)
    prefix, kind = what.prefix, what.kind

    def handle(record: SQSRecord) -> dict[str, Any]:
        try:  # a message that is no upload's event can never succeed: consumed, not retried
            body = record.json_body
            if not isinstance(body, dict):
                raise InvalidInput("an uploads message is an S3 event")
            found = events(body, prefix)
        except (InvalidInput, ValueError) as e:
            logger.warning("uploads message dropped", extra={"detail": str(e)[:200]})
            return {"dropped": True}
        done = []
        for org, owner, upload_id in found:
            outcome = work(jobs.JobMessage(org, upload_id, kind).body())
            if outcome["status"] == "missing":  # its job is gone (erased): the photo goes unread
                PhotoUpload(bucket, org, owner, upload_id, prefix=prefix).delete()
            done.append(outcome)
        return {"uploads": done}

    return handle
