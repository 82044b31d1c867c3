"""Classroom photos uploaded by presigned URL, marked by the mark-attendance worker.

``POST /v1/sessions/{id}/photos`` stores a ``photo_marking`` job (queued; its id is the photo id)
and answers 202 with a presigned PUT URL for ``uploads/<org>/<session>/<photo_id>`` in the photo
bucket (``rollcall.services.uploads``, which the enrolment uploads share). The upload's
ObjectCreated event goes to the photo uploads queue (the bucket's notification), which the
mark-attendance function consumes: the worker reads the photo (at most 15 MiB, else
PHOTO_TOO_LARGE) and marks it with ``rollcall.services.marking.mark_photo``, as the base64 route
does (a photo without a face fails with NO_FACE and writes nothing; the same photo again writes
nothing and answers ``replayed``). It then writes the annotated copy (the photo at its own size,
each face boxed and named, JPEG) at ``annotated/<org>/<session>/<sha256>.jpg`` in the same
expiring bucket. The job's result is the marking; the upload is deleted when the job ends.

``GET /v1/sessions/{id}/photos/{photo_id}`` (or ``GET /v1/jobs/{photo_id}``) follows it; a done
marking carries a presigned GET URL of its annotated copy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from rollcall.platform.auth import Principal, Role
from rollcall.platform.errors import NotFound, RollcallError
from rollcall.platform.observability import logger
from rollcall.platform.settings import FaceSettings
from rollcall.services import jobs, uploads
from rollcall.services.marking import Marking, mark_photo
from rollcall.store.attendance import SessionRepo
from rollcall.store.job_log import SUCCEEDED, Job, JobRepo
from rollcall.store.photo_uploads import PREFIX, PhotoUpload
from rollcall.store.photos import PhotoStore
from rollcall.store.roster import RosterRepo
from rollcall.store.table import OrgRecords, check_id

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

KIND = "photo_marking"
UPLOADS = uploads.UploadKind(KIND, PREFIX, "photo")
MAX_UPLOAD_BYTES = uploads.MAX_UPLOAD_BYTES


def request_upload(
    settings: FaceSettings, records: OrgRecords, who: Principal, session_id: str, now: datetime
) -> dict[str, Any]:
    """A pending photo of ``session_id`` (404 SESSION_NOT_FOUND) and where to PUT it."""
    SessionRepo(records).require(session_id)
    asked = uploads.request(
        records,
        who,
        UPLOADS,
        bucket=settings.photo_bucket,
        owner=session_id,
        params={"session_id": session_id},
        now=now,
    )
    return {"photo_id": asked.pop("upload_id"), **asked}


def photo_status(
    records: OrgRecords, session_id: str, photo_id: str, photos: PhotoStore | None = None
) -> dict[str, Any]:
    """``{status: pending | done | failed, marking?, error?}`` (404 PHOTO_NOT_FOUND, also for
    another session's or organisation's photo); a done marking has ``annotated_url`` (presigned
    GET, ``annotated_url_expires_in`` seconds) when ``photos`` is given and the copy was written."""
    job = JobRepo(records).get(check_id(photo_id, "photo_id"))
    if job is None or job.kind != KIND or job.params.get("session_id") != session_id:
        raise NotFound(f"no photo {photo_id} in session {session_id}", code="PHOTO_NOT_FOUND")
    state = uploads.status_of(job)
    out: dict[str, Any] = {"photo_id": job.job_id, "session_id": session_id, "status": state["status"]}
    if job.status == SUCCEEDED:
        marking = dict(state["result"])
        if photos is not None and marking.get("annotated"):
            url, seconds = photos.annotated_url(session_id, str(marking["photo_hash"]))
            marking |= {"annotated_url": url, "annotated_url_expires_in": seconds}
        out["marking"] = marking
    if "error" in state:
        out["error"] = state["error"]
    return out


def marking_runner(settings: FaceSettings) -> jobs.Runner:
    """The ``photo_marking`` kind: mark the uploaded photo as the base64 route does, and write its
    annotated copy."""

    def run(context: jobs.JobContext) -> dict[str, Any]:
        job: Job = context.job
        org = context.records.org
        session_id = str(job.params.get("session_id", ""))
        upload = PhotoUpload(settings.photo_bucket, org, session_id, job.job_id, prefix=PREFIX)
        photos = PhotoStore(org, settings.photo_bucket, keep=settings.face_store_photos)
        try:
            data, size = uploads.read(upload)
            context.advance(0, 1, "photos")
            who = Principal(job.requested_by, org, Role(job.params.get("role", "teacher")))
            marking = mark_photo(
                context.records,
                who,
                session_id,
                data,
                settings=settings.model_copy(update={"face_max_image_bytes": MAX_UPLOAD_BYTES}),
                photos=photos,
                now=context.clock(),
            )
        finally:
            upload.delete()
        annotated = _write_annotated(context.records, photos, marking, data)
        context.advance(1, 1, "photos")
        logger.info("uploaded photo marked", extra={"job_id": job.job_id, "replayed": marking.replayed})
        result = asdict(marking)
        result.pop("annotated_image_base64", None)
        return {**result, "photo_bytes": size, "annotated": annotated}

    return run


def _write_annotated(records: OrgRecords, photos: PhotoStore, marking: Marking, data: bytes) -> bool:
    """Draw the marked faces on the photo at its own size and write the copy; whether it was (the
    marking is stored already: a copy that cannot be written is logged, and the marking stands)."""
    from rollcall.face.annotate import annotate_original  # Pillow: imported on first use

    roster = RosterRepo(records)
    names = {}
    for student_id in {str(f["student_id"]) for f in marking.faces if f.get("student_id")}:
        student = roster.get(student_id)
        if student is not None:
            names[student_id] = student.name
    try:
        photos.put_annotated(
            marking.session_id, marking.photo_hash, annotate_original(data, marking.faces, names)
        )
    except RollcallError as e:
        logger.warning("annotated photo not written", extra={"code": e.code})
        return False
    return True


def record_handler(
    settings: FaceSettings, records_for: Callable[[str], OrgRecords], lease: timedelta
) -> Callable[[SQSRecord], dict[str, Any]]:
    """One record of the photo uploads queue: an S3 event naming uploaded photos to mark."""
    return uploads.record_handler(
        settings.photo_bucket, records_for, UPLOADS, marking_runner(settings), lease=lease
    )
