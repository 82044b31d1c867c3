"""Raw photos of one organisation, kept only when the deployment asks for it.

Rollcall keeps embeddings, never photos, unless the template's ``StorePhotos`` parameter is
``true`` (``FACE_STORE_PHOTOS``): then each enrolment photo and each marked classroom photo is
kept in the photo bucket, whose lifecycle rule deletes every object ``PhotoRetentionDays`` after
it was written. Keys::

    enrolment/<org>/<student>/<sha256>.<ext>   the photo a student's face was enrolled from
    marking/<org>/<session>/<sha256>.<ext>     a classroom photo marked for a session
    annotated/<org>/<session>/<sha256>.jpg     an uploaded classroom photo with its faces boxed and
                                               named (written always: the teacher reads it by a
                                               presigned GET; it expires with the bucket's rule)

The bucket is not versioned, so a deleted photo is gone rather than kept as an old version;
erasing a student deletes their enrolment photos and the classroom photos they were recognised
in (:meth:`PhotoStore.delete_student`), whether or not photos are still being kept, with the
annotated copies of those photos (they show the student's name) and the student's pending
enrolment uploads (``rollcall.store.photo_uploads``).

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
from rollcall.store.photo_uploads import FACE_PREFIX, owner_prefix
from rollcall.store.table import check_id

EXTENSIONS = {
    "JPEG": ("jpg", "image/jpeg"),
    "PNG": ("png", "image/png"),
    "WEBP": ("webp", "image/webp"),
    "HEIF": ("heic", "image/heic"),
}
ENROLMENT, MARKING, ANNOTATED = "enrolment", "marking", "annotated"
ANNOTATED_URL_SECONDS = 3600


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

    def annotated_key(self, session_id: str, photo_hash: str) -> str:
        return f"{self._prefix(ANNOTATED, session_id)}{check_id(photo_hash, 'photo hash')}.jpg"

    def put_annotated(self, session_id: str, photo_hash: str, jpeg: bytes) -> str:
        """Write the annotated copy of a marked photo (whether or not photos are kept); its key."""
        key = self.annotated_key(session_id, photo_hash)
        with translated("write annotated photo"):
            self.client.put_object(Bucket=self.bucket, Key=key, Body=jpeg, ContentType="image/jpeg")
        return key

    def annotated_url(self, session_id: str, photo_hash: str) -> tuple[str, int]:
        """A presigned GET URL of a marked photo's annotated copy, and how long it is valid."""
        with translated("presign annotated photo"):
            url = self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": self.annotated_key(session_id, photo_hash)},
                ExpiresIn=ANNOTATED_URL_SECONDS,
            )
        return str(url), ANNOTATED_URL_SECONDS

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
        """Delete a student's enrolment photos, their pending enrolment uploads, and the classroom
        photos ``marked_in`` (session id, photo hash) they were recognised in with their annotated
        copies; how many objects were deleted."""
        prefixes = [
            self._prefix(ENROLMENT, student_id),
            owner_prefix(self.org, student_id, prefix=FACE_PREFIX),
        ]
        for session, h in marked_in:
            prefixes += [
                f"{self._prefix(kind, session)}{check_id(h, 'photo hash')}." for kind in (MARKING, ANNOTATED)
            ]
        return self._delete(prefixes)

    def delete_session(self, session_id: str) -> int:
        """Delete every classroom photo kept for ``session_id`` and their annotated copies (the session
        was deleted); how many."""
        return self._delete([self._prefix(MARKING, session_id), self._prefix(ANNOTATED, session_id)])

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
