"""Raw photos of one organisation, kept only when the deployment asks for it.

Rollcall keeps embeddings, never photos, unless the template's ``StorePhotos`` parameter is
``true`` (``FACE_STORE_PHOTOS``): then each enrolment photo and each marked classroom photo is
kept in the photo bucket, whose lifecycle rule deletes every object ``PhotoRetentionDays`` after
it was written. Keys::

    enrolment/<org>/<student>/<sha256>.<ext>   the photo a student's face was enrolled from
    marking/<org>/<session>/<sha256>.<ext>     a classroom photo marked for a session

The bucket is not versioned, so a deleted photo is gone rather than kept as an old version;
erasing a student deletes their enrolment photos and the classroom photos they were recognised
in (:meth:`PhotoStore.delete_student`), whether or not photos are still being kept.

A :class:`PhotoStore` with ``keep=False`` stores nothing (its ``put_*`` return None without a
request) but still deletes. Writing the same photo twice writes the same key: retries and
concurrent markings of one photo leave one object.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rollcall.platform.errors import StoreUnavailable
from rollcall.store import clients
from rollcall.store.client_errors import translated
from rollcall.store.table import check_id

EXTENSIONS = {
    "JPEG": ("jpg", "image/jpeg"),
    "PNG": ("png", "image/png"),
    "WEBP": ("webp", "image/webp"),
    "HEIF": ("heic", "image/heic"),
}
ENROLMENT, MARKING = "enrolment", "marking"


class PhotoStore:
    def __init__(self, org: str, bucket: str, *, keep: bool, client: Any = None) -> None:
        self.org = check_id(org, "organisation")
        self.bucket = bucket
        self.keep = keep
        self.client = client

    client = clients.Client("s3")

    def _prefix(self, kind: str, owner: str) -> str:
        return f"{kind}/{self.org}/{check_id(owner)}/"

    def put_enrolment(self, student_id: str, photo_hash: str, data: bytes, fmt: str) -> str | None:
        """Keep the photo a face of ``student_id`` was enrolled from; its key (None: not kept)."""
        return self._put(self._prefix(ENROLMENT, student_id), photo_hash, data, fmt)

    def put_marking(self, session_id: str, photo_hash: str, data: bytes, fmt: str) -> str | None:
        """Keep a classroom photo marked for ``session_id``; its key (None: not kept)."""
        return self._put(self._prefix(MARKING, session_id), photo_hash, data, fmt)

    def _put(self, prefix: str, photo_hash: str, data: bytes, fmt: str) -> str | None:
        if not self.keep:
            return None
        extension, content_type = EXTENSIONS[fmt]
        key = f"{prefix}{check_id(photo_hash, 'photo hash')}.{extension}"
        with translated("keep photo"):
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        return key

    def delete_enrolment(self, student_id: str, photo_hash: str) -> int:
        """Delete the photo a face of ``student_id`` was enrolled from (the face was deleted)."""
        return self._delete([f"{self._prefix(ENROLMENT, student_id)}{check_id(photo_hash, 'photo hash')}."])

    def delete_student(self, student_id: str, marked_in: Iterable[tuple[str, str]]) -> int:
        """Delete a student's enrolment photos and the classroom photos ``marked_in`` (session id,
        photo hash) they were recognised in; how many objects were deleted."""
        prefixes = [self._prefix(ENROLMENT, student_id)]
        prefixes += [
            f"{self._prefix(MARKING, session)}{check_id(h, 'photo hash')}." for session, h in marked_in
        ]
        return self._delete(prefixes)

    def delete_session(self, session_id: str) -> int:
        """Delete every classroom photo kept for ``session_id`` (the session was deleted); how many."""
        return self._delete([self._prefix(MARKING, session_id)])

    def _delete(self, prefixes: list[str]) -> int:
        """Delete every object under the prefixes; how many."""
        keys = [key for prefix in dict.fromkeys(prefixes) for key in self._keys(prefix)]
        for start in range(0, len(keys), 1000):  # DeleteObjects takes 1000 keys at most
            with translated("delete photos"):
                response = self.client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": k} for k in keys[start : start + 1000]], "Quiet": True},
                )
            if response.get("Errors"):
                failed = {e.get("Code", "?") for e in response["Errors"]}
                raise StoreUnavailable(
                    f"delete photos: {len(response['Errors'])} not deleted ({', '.join(sorted(failed))})"
                )
        return len(keys)

    def _keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        while True:
            with translated("list photos"):
                page = self.client.list_objects_v2(**kwargs)
            keys += [obj["Key"] for obj in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return keys
            kwargs["ContinuationToken"] = page["NextContinuationToken"]
