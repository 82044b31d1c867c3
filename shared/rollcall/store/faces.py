"""Enrolled faces of one organisation: 128-d embeddings (float32), their box and quality.

Items::

    face  pk ORG#o#STUDENT#<student>  sk FACE#<face>   gsi1 ORG#o#FACES / <student>#<face>

Embeddings are stored as 512 raw bytes (float32, little-endian) and never leave the store layer
except as a numpy gallery for matching: no API answer and no log line carries one.

The per-student face limit is enforced atomically with a counter on the student's profile
(``face_count``, conditional increment), so two concurrent enrolments cannot pass it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rollcall.domain import iso
from rollcall.platform.errors import ConcurrentUpdate, FaceLimit, NotFound
from rollcall.store.table import OrgRecords, check_id

if TYPE_CHECKING:
    import numpy as np

EMBEDDING_BYTES = 128 * 4


@dataclass(frozen=True, slots=True)
class StoredFace:
    face_id: str
    student_id: str
    box: dict[str, int]
    quality: dict[str, Any]
    photo_hash: str
    created_at: str
    created_by: str


def face_id_of(photo_hash: str) -> str:
    """A face's id, from its photo's hash: one face per (student, photo)."""
    return hashlib.sha256(photo_hash.encode()).hexdigest()[:16]


def _face(item: dict[str, Any]) -> StoredFace:
    return StoredFace(
        face_id=item["face_id"],
        student_id=item["student_id"],
        box=item.get("box", {}),
        quality=item.get("quality", {}),
        photo_hash=item.get("photo_hash", ""),
        created_at=item.get("created_at", ""),
        created_by=item.get("created_by", ""),
    )


class FaceRepo:
    def __init__(self, records: OrgRecords) -> None:
        self.records = records

    def _student_pk(self, student_id: str) -> str:
        return self.records.key("STUDENT", check_id(student_id, "student_id"))

    def add(
        self,
        student_id: str,
        embedding: np.ndarray,
        *,
        box: dict[str, int],
        quality: dict[str, Any],
        photo_hash: str,
        created_by: str,
        created_at: datetime,
        max_faces: int,
    ) -> tuple[StoredFace, bool]:
        """Store a face for an existing student; the face and whether it is new.

        The face id is the photo's hash, and the face is put only if absent: of any number of
        concurrent enrolments of one photo, one stores it and the others answer it (False). The
        face is then counted on the profile, on condition that the profile exists, is not being
        erased and is under ``max_faces``; if not, the face is taken back (NotFound, FaceLimit).
        An erasure marks the profile first, so a face either is counted before the mark (and the
        erasure finds it) or is taken back by its enrolment.
        """
        import numpy as np

        vector = np.ascontiguousarray(embedding, dtype="<f4").reshape(-1)
        if vector.size != 128:
            raise ValueError("an embedding has 128 dimensions")
        pk = self._student_pk(student_id)
        sk = f"FACE#{face_id_of(photo_hash)}"
        face = StoredFace(
            face_id_of(photo_hash), student_id, box, quality, photo_hash, iso(created_at), created_by
        )
        item = {
            "pk": pk,
            "sk": sk,
            "kind": "face",
            "face_id": face.face_id,
            "student_id": student_id,
            "embedding": vector.tobytes(),
            "box": box,
            "quality": quality,
            "photo_hash": photo_hash,
            "created_at": face.created_at,
            "created_by": created_by,
            "gsi1pk": self.records.key("FACES"),
            "gsi1sk": f"{student_id}#{face.face_id}",
        }
        if not self.records.put(item, if_absent=True):
            existing = self.records.get(pk, sk, consistent=True)
            if existing is not None:
                return _face(existing), False
            raise ConcurrentUpdate("the same photo is being enrolled concurrently; retry")
        try:
            self._change_count(pk, +1, max_faces=max_faces, student_id=student_id)
        except BaseException:
            self.records.delete(pk, sk)
            raise
        return face, True

    def _change_count(
        self, pk: str, delta: int, *, max_faces: int | None = None, student_id: str = ""
    ) -> None:
        if delta > 0:
            condition = (
                "attribute_exists(pk) AND attribute_not_exists(erasing)"
                " AND (attribute_not_exists(face_count) OR face_count < :max)"
            )
            values = {":max": max_faces, ":zero": 0, ":delta": delta}
        else:
            condition, values = "attribute_exists(pk)", {":zero": 0, ":delta": delta}
        try:
            self.records.update(
                pk,
                "PROFILE",
                {},
                condition=condition,
                values=values,
                set_expression="face_count = if_not_exists(face_count, :zero) + :delta",
            )
        except ConcurrentUpdate:
            if delta < 0:
                return
            profile = self.records.get(pk, "PROFILE", consistent=True)
            if profile is None or profile.get("erasing"):
                raise NotFound(f"no student {student_id}", code="STUDENT_NOT_FOUND") from None
            raise FaceLimit(
                {
                    "message": "the student has as many faces as allowed; delete one first",
                    "max_faces": max_faces,
                }
            ) from None

    def of_student(self, student_id: str) -> list[StoredFace]:
        items = self.records.query(self._student_pk(student_id), sk_prefix="FACE#", consistent=True)
        return [_face(i) for i in items]

    def find_by_photo(self, student_id: str, photo_hash: str) -> StoredFace | None:
        """The face already enrolled from this exact photo, if any (a retried enrolment)."""
        return next((f for f in self.of_student(student_id) if f.photo_hash == photo_hash), None)

    def delete(self, student_id: str, face_id: str) -> StoredFace | None:
        """Delete one face; the face as it was, or None if there was none."""
        pk = self._student_pk(student_id)
        old = self.records.delete(pk, f"FACE#{check_id(face_id, 'face_id')}")
        if old is None:
            return None
        self._change_count(pk, -1)
        return _face(old)

    def delete_all(self, student_id: str) -> int:
        """Erase every face of a student; returns how many."""
        pk = self._student_pk(student_id)
        keys = [
            (i["pk"], i["sk"]) for i in self.records.query(pk, sk_prefix="FACE#", attributes=("pk", "sk"))
        ]
        return self.records.batch_delete(keys)

    def gallery(self, student_ids: set[str] | None = None) -> tuple[list[str], np.ndarray]:
        """(student id per row, float32 embeddings n×128) of the organisation, or of ``student_ids``."""
        import numpy as np

        labels: list[str] = []
        rows: list[bytes] = []
        for item in self.records.query(
            self.records.key("FACES"), index="gsi1", attributes=("student_id", "embedding")
        ):
            if student_ids is None or item["student_id"] in student_ids:
                labels.append(item["student_id"])
                rows.append(item["embedding"])
        matrix = (
            np.frombuffer(b"".join(rows), dtype="<f4").reshape(len(rows), 128)
            if rows
            else np.empty((0, 128), "f4")
        )
        return labels, matrix.astype(np.float32, copy=False)
