"""Photos uploaded with a presigned PUT, in the photo bucket::

    uploads/<org>/<session_id>/<photo_id>          a classroom photo to mark (its ObjectCreated
                                                   event, on the photo uploads queue, starts its
                                                   marking by mark-attendance)
    face-uploads/<org>/<student_id>/<upload_id>    a photo to enrol a student's face from (its
                                                   event, on the face uploads queue, starts the
                                                   enrolment by encode-face)

An upload is read once by its worker and deleted when its job ends (done or failed), so it lives
only in the expiring photo bucket and only until it is used; one never used expires with the
bucket's lifecycle rule, or goes with the student's erasure. :func:`parse_key` reads an S3 event's
key back into its prefix, organisation, owner (session or student) and id.
"""

from __future__ import annotations

from typing import Any

from rollcall.platform.errors import InvalidInput, NotFound
from rollcall.store import clients
from rollcall.store.client_errors import translated
from rollcall.store.table import check_id

UPLOAD_SECONDS = 900
PREFIX = "uploads/"  # classroom photos to mark
FACE_PREFIX = "face-uploads/"  # photos to enrol a face from
PREFIXES = (PREFIX, FACE_PREFIX)


def upload_key(org: str, owner: str, upload_id: str, *, prefix: str = PREFIX) -> str:
    if prefix not in PREFIXES:
        raise ValueError(f"unknown upload prefix {prefix!r}")
    parts = (check_id(org, "org"), check_id(owner, "owner"), check_id(upload_id, "upload_id"))
    return prefix + "/".join(parts)


def owner_prefix(org: str, owner: str, *, prefix: str) -> str:
    """Where every upload of ``owner`` (a session or a student) lies."""
    return f"{prefix}{check_id(org, 'org')}/{check_id(owner, 'owner')}/"


def parse_key(key: str) -> tuple[str, str, str, str]:
    """``(prefix, org, owner, upload_id)`` of an upload's key (InvalidInput: not an upload's)."""
    parts = key.split("/")
    if len(parts) != 4 or f"{parts[0]}/" not in PREFIXES:
        raise InvalidInput(f"not a photo upload: {key[:200]!r}")
    return (
        f"{parts[0]}/",
        check_id(parts[1], "org"),
        check_id(parts[2], "owner"),
        check_id(parts[3], "upload_id"),
    )


class PhotoUpload:
    """One uploaded photo in ``bucket`` (``owner``: the session it marks, or the student it enrols)."""

    def __init__(
        self, bucket: str, org: str, owner: str, upload_id: str, *, prefix: str = PREFIX, client: Any = None
    ) -> None:
        self.bucket = bucket
        self.key = upload_key(org, owner, upload_id, prefix=prefix)
        self.client = client

    client = clients.Client("s3")

    def upload_url(self) -> tuple[str, int]:
        """A presigned PUT URL for the photo, and how long it is valid."""
        with translated("presign upload"):
            url = self.client.generate_presigned_url(
                "put_object", Params={"Bucket": self.bucket, "Key": self.key}, ExpiresIn=UPLOAD_SECONDS
            )
        return str(url), UPLOAD_SECONDS

    def size(self) -> int:
        """The uploaded photo's size in bytes (404 PHOTO_NOT_FOUND when it is gone)."""
        try:
            with translated("read upload"):
                return int(self.client.head_object(Bucket=self.bucket, Key=self.key)["ContentLength"])
        except NotFound:
            raise NotFound("the uploaded photo is gone", code="PHOTO_NOT_FOUND") from None

    def read(self) -> bytes:
        try:
            with translated("read upload"):
                return bytes(self.client.get_object(Bucket=self.bucket, Key=self.key)["Body"].read())
        except NotFound:
            raise NotFound("the uploaded photo is gone", code="PHOTO_NOT_FOUND") from None

    def delete(self) -> None:
        with translated("delete upload"):
            self.client.delete_object(Bucket=self.bucket, Key=self.key)


class FaceUploadLog:
    """The enrolment uploads asked for a student, in the student's partition (so that erasing the
    student finds them and their jobs)::

        face_upload  pk ORG#o#STUDENT#<student_id>  sk UPLOAD#<upload_id>   (expires with its job)
    """

    KIND = "face_upload"

    def __init__(self, records: Any) -> None:  # an OrgRecords
        self.records = records

    def add(self, student_id: str, upload_id: str, *, at: float, keep_seconds: int) -> None:
        from rollcall.store.table import ttl_after

        self.records.put(
            {
                "pk": self.records.key("STUDENT", check_id(student_id, "student_id")),
                "sk": f"UPLOAD#{check_id(upload_id, 'upload_id')}",
                "kind": self.KIND,
                "upload_id": upload_id,
                "expires_at": ttl_after(keep_seconds, at),
            }
        )

    @classmethod
    def upload_ids(cls, items: Any) -> list[str]:
        """The upload ids among a student partition's items (each with ``sk`` and ``kind``)."""
        return [str(i["sk"]).split("#", 1)[1] for i in items if i.get("kind") == cls.KIND]
