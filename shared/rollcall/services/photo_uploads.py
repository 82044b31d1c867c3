"""Classroom photos uploaded by presigned URL, marked by the mark-attendance worker.

``POST /v1/sessions/{id}/photos`` stores a ``photo_marking`` job (queued; its id is the photo id)
and answers 202 with a presigned PUT URL for ``uploads/<org>/<session>/<photo_id>`` in the photo
bucket. The upload's ObjectCreated event goes to the photo uploads queue (the bucket's
notification), which the mark-attendance function consumes: the worker reads the photo (at most
:data:`MAX_UPLOAD_BYTES`, else PHOTO_TOO_LARGE) and marks it with
``rollcall.services.marking.mark_photo``, as the base64 route does (a photo without a face fails
with NO_FACE and writes nothing; the same photo again writes nothing and answers ``replayed``).
The job's result is the marking; the upload is deleted when the job ends, done or failed.

``GET /v1/sessions/{id}/photos/{photo_id}`` (or ``GET /v1/jobs/{photo_id}``) follows it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from rollcall.platform.auth import Principal, Role
from rollcall.platform.errors import ImageTooLarge, InvalidInput, NotFound
from rollcall.platform.observability import logger
from rollcall.platform.settings import FaceSettings
from rollcall.services import jobs
from rollcall.services.marking import mark_photo
from rollcall.store.attendance import SessionRepo
from rollcall.store.job_log import FAILED, SUCCEEDED, Job, JobRepo
from rollcall.store.photo_uploads import PREFIX, PhotoUpload
from rollcall.store.photos import PhotoStore
from rollcall.store.table import OrgRecords, check_id

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

KIND = "photo_marking"
MAX_UPLOAD_BYTES = 15 * 1024 * 1024
STATUS = {"queued": "pending", "running": "pending", SUCCEEDED: "done", FAILED: "failed"}


def request_upload(
    settings: FaceSettings, records: OrgRecords, who: Principal, session_id: str, now: datetime
) -> dict[str, Any]:
    """A pending photo of ``session_id`` (404 SESSION_NOT_FOUND) and where to PUT it."""
    SessionRepo(records).require(session_id)
    photo_id = f"photo-{jobs.new_job_id()[4:]}"
    job = jobs.create(
        records,
        kind=KIND,
        requested_by=who.sub,
        params={"role": who.role.value, "session_id": session_id},
        now=now,
        job_id=photo_id,
    )
    url, seconds = PhotoUpload(settings.photo_bucket, records.org, session_id, photo_id).upload_url()
    return {
        "photo_id": job.job_id,
        "upload_url": url,
        "upload_method": "PUT",
        "expires_at": now + timedelta(seconds=seconds),
        "max_bytes": MAX_UPLOAD_BYTES,
    }


def photo_status(records: OrgRecords, session_id: str, photo_id: str) -> dict[str, Any]:
    """``{status: pending | done | failed, marking?, error?}`` (404 PHOTO_NOT_FOUND, also for
    another session's or organisation's photo)."""
    job = JobRepo(records).get(check_id(photo_id, "photo_id"))
    if job is None or job.kind != KIND or job.params.get("session_id") != session_id:
        raise NotFound(f"no photo {photo_id} in session {session_id}", code="PHOTO_NOT_FOUND")
    out: dict[str, Any] = {"photo_id": job.job_id, "session_id": session_id, "status": STATUS[job.status]}
    if job.status == SUCCEEDED:
        out["marking"] = job.result
    if job.status == FAILED:
        out["error"] = job.error
    return out


def uploads(body: Mapping[str, Any]) -> list[jobs.JobMessage]:
    """The photo markings an S3 event (a message of the photo uploads queue) starts; [] for S3's
    test event."""
    if body.get("Event") == "s3:TestEvent":
        return []
    found = []
    for record in body.get("Records") or []:
        key = unquote_plus(str(((record.get("s3") or {}).get("object") or {}).get("key", "")))
        parts = key.split("/")
        if len(parts) != 4 or f"{parts[0]}/" != PREFIX:
            raise InvalidInput(f"not a photo upload: {key[:200]!r}")
        found.append(jobs.JobMessage(check_id(parts[1], "org"), check_id(parts[3], "photo_id"), KIND))
    return found


def marking_runner(settings: FaceSettings) -> jobs.Runner:
    """The ``photo_marking`` kind: mark the uploaded photo as the base64 route does."""

    def run(context: jobs.JobContext) -> dict[str, Any]:
        job: Job = context.job
        org = context.records.org
        session_id = str(job.params.get("session_id", ""))
        upload = PhotoUpload(settings.photo_bucket, org, session_id, job.job_id)
        try:
            size = upload.size()
            if size > MAX_UPLOAD_BYTES:
                raise ImageTooLarge(
                    f"the photo has {size} bytes; at most {MAX_UPLOAD_BYTES} are marked",
                    code="PHOTO_TOO_LARGE",
                )
            context.advance(0, 1, "photos")
            who = Principal(job.requested_by, org, Role(job.params.get("role", "teacher")))
            marking = mark_photo(
                context.records,
                who,
                session_id,
                upload.read(),
                settings=settings.model_copy(update={"face_max_image_bytes": MAX_UPLOAD_BYTES}),
                photos=PhotoStore(org, settings.photo_bucket, keep=settings.face_store_photos),
                now=context.clock(),
            )
        finally:
            upload.delete()
        context.advance(1, 1, "photos")
        logger.info("uploaded photo marked", extra={"job_id": job.job_id, "replayed": marking.replayed})
        result = asdict(marking)
        result.pop("annotated_image_base64", None)
        return {**result, "photo_bytes": size}

    return run


def record_handler(
    settings: FaceSettings, records_for: Callable[[str], OrgRecords], lease: timedelta
) -> Callable[[SQSRecord], dict[str, Any]]:
    """One record of the photo uploads queue: an S3 event naming uploaded photos to mark."""
    work = jobs.consumer(records_for, {KIND: marking_runner(settings)}, lease)

    def handle(record: SQSRecord) -> dict[str, Any]:
        try:  # a message that is no upload's event can never succeed: consumed, not retried
            body = record.json_body
            if not isinstance(body, dict):
                raise InvalidInput("a photo uploads message is an S3 event")
            messages = uploads(body)
        except (InvalidInput, ValueError) as e:
            logger.warning("photo uploads message dropped", extra={"detail": str(e)[:200]})
            return {"dropped": True}
        return {"photos": [work(message.body()) for message in messages]}

    return handle
