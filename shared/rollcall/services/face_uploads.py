"""Enrolment photos uploaded by presigned URL, enrolled by the encode-face worker.

``POST /v1/students/{id}/faces/uploads`` stores a ``face_enrolment`` job (queued; its id is the
upload id), notes the upload in the student's partition (``FaceUploadLog``: erasing the student
finds it, deletes its job and its photo) and answers 202 with a presigned PUT URL for
``face-uploads/<org>/<student>/<upload_id>`` in the photo bucket, with the marking uploads'
limits (15 MiB; JPEG, PNG, WebP, HEIC/HEIF). The upload's ObjectCreated event goes to the face
uploads queue, which encode-face consumes (``rollcall.services.uploads``): the worker enrols the
photo with ``rollcall.services.enrolment.enrol_face``, as the base64 route does (NO_FACE,
MULTIPLE_FACES, LOW_QUALITY_FACE, DUPLICATE_FACE, FACE_LIMIT_REACHED, ... fail the job with
their code), and deletes the upload when the job ends.

``GET /v1/students/{id}/faces/uploads/{upload_id}`` answers ``pending``, then the face enrolled
(``done``) or the error (``failed``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from rollcall.platform.auth import Principal, Role
from rollcall.platform.errors import NotFound
from rollcall.platform.observability import logger
from rollcall.platform.settings import FaceSettings
from rollcall.services import jobs, uploads
from rollcall.services.enrolment import enrol_face
from rollcall.store.job_log import RETENTION_DAYS, SUCCEEDED, JobRepo
from rollcall.store.photo_uploads import FACE_PREFIX, FaceUploadLog, PhotoUpload
from rollcall.store.photos import PhotoStore
from rollcall.store.roster import RosterRepo
from rollcall.store.table import OrgRecords, check_id

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

KIND = "face_enrolment"
UPLOADS = uploads.UploadKind(KIND, FACE_PREFIX, "upload")


def request_upload(
    settings: FaceSettings,
    records: OrgRecords,
    who: Principal,
    student_id: str,
    now: datetime,
    *,
    name_the_other: bool,
) -> dict[str, Any]:
    """A pending enrolment photo of ``student_id`` (404 STUDENT_NOT_FOUND) and where to PUT it.

    ``name_the_other``: whether a DUPLICATE_FACE refusal may name the other student."""
    student = RosterRepo(records).require(student_id)
    asked = uploads.request(
        records,
        who,
        UPLOADS,
        bucket=settings.photo_bucket,
        owner=student.student_id,
        params={"student_id": student.student_id, "name_the_other": name_the_other},
        now=now,
    )
    FaceUploadLog(records).add(
        student.student_id, asked["upload_id"], at=now.timestamp(), keep_seconds=RETENTION_DAYS * 86_400
    )
    return asked


def upload_status(records: OrgRecords, student_id: str, upload_id: str) -> dict[str, Any]:
    """``{upload_id, student_id, status: pending | done | failed, face?, created?, error?}``
    (404 UPLOAD_NOT_FOUND, also for another student's or organisation's upload)."""
    job = JobRepo(records).get(check_id(upload_id, "upload_id"))
    if job is None or job.kind != KIND or job.params.get("student_id") != student_id:
        raise NotFound(f"no enrolment upload {upload_id} for student {student_id}", code="UPLOAD_NOT_FOUND")
    state = uploads.status_of(job)
    out: dict[str, Any] = {"upload_id": job.job_id, "student_id": student_id, "status": state["status"]}
    if job.status == SUCCEEDED:
        result = dict(state["result"])
        out["created"] = bool(result.pop("created", True))
        out["photo_bytes"] = result.pop("photo_bytes", None)
        out["face"] = result
    if "error" in state:
        out["error"] = state["error"]
    return out


def enrolment_runner(settings: FaceSettings) -> jobs.Runner:
    """The ``face_enrolment`` kind: enrol the uploaded photo as the base64 route does."""

    def run(context: jobs.JobContext) -> dict[str, Any]:
        job = context.job
        org = context.records.org
        student_id = str(job.params.get("student_id", ""))
        upload = PhotoUpload(settings.photo_bucket, org, student_id, job.job_id, prefix=FACE_PREFIX)
        try:
            data, size = uploads.read(upload)
            context.advance(0, 1, "photos")
            who = Principal(job.requested_by, org, Role(job.params.get("role", "teacher")))
            face, created = enrol_face(
                context.records,
                who,
                student_id,
                data,
                settings.model_copy(update={"face_max_image_bytes": uploads.MAX_UPLOAD_BYTES}),
                photos=PhotoStore(org, settings.photo_bucket, keep=settings.face_store_photos),
                now=context.clock(),
                name_the_other=bool(job.params.get("name_the_other", False)),
            )
        finally:
            upload.delete()
        context.advance(1, 1, "photos")
        logger.info("uploaded face enrolled", extra={"job_id": job.job_id, "new_face": created})
        return {
            "face_id": face.face_id,
            "student_id": face.student_id,
            "location": face.box,
            "quality": face.quality,
            "created_at": face.created_at,
            "created_by": face.created_by,
            "created": created,
            "photo_bytes": size,
        }

    return run


def record_handler(
    settings: FaceSettings, records_for: Callable[[str], OrgRecords], lease: timedelta
) -> Callable[[SQSRecord], dict[str, Any]]:
    """One record of the face uploads queue: an S3 event naming uploaded photos to enrol."""
    return uploads.record_handler(
        settings.photo_bucket, records_for, UPLOADS, enrolment_runner(settings), lease=lease
    )
