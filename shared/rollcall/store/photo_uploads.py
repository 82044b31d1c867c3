"""Classroom photos uploaded with a presigned PUT, in the photo bucket::

    uploads/<org>/<session_id>/<photo_id>    a photo to mark (its ObjectCreated event, on the
                                             photo uploads queue, starts its marking)

An upload is read once by the mark-attendance worker and deleted when its marking ends (done or
failed), so it lives only in the expiring photo bucket and only until it is marked; one never
marked expires with the bucket's lifecycle rule.
"""

from __future__ import annotations

from typing import Any

from rollcall.platform.errors import NotFound
from rollcall.store import clients
from rollcall.store.client_errors import translated
from rollcall.store.table import check_id

UPLOAD_SECONDS = 900
PREFIX = "uploads/"


def upload_key(org: str, session_id: str, photo_id: str) -> str:
    parts = (check_id(org, "org"), check_id(session_id, "session_id"), check_id(photo_id, "photo_id"))
    return PREFIX + "/".join(parts)


class PhotoUpload:
    """One uploaded photo in ``bucket``."""

    def __init__(self, bucket: str, org: str, session_id: str, photo_id: str, *, client: Any = None) -> None:
        self.bucket = bucket
        self.key = upload_key(org, session_id, photo_id)
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
