"""Enrolling a student's face: one good face, not another student's, within the face limit.

A retried enrolment (the same photo for the same student) answers the face stored the first
time and stores nothing new. When photos are kept (FACE_STORE_PHOTOS), the photo is kept before
the face is stored: a face never lacks its photo, and a photo whose face was then refused (the
face limit, a race) expires with the bucket's lifecycle rule or goes with the student's erasure.
"""

from __future__ import annotations

from datetime import datetime

from rollcall.face.image import DecodedImage, decode_image
from rollcall.face.pipeline import enrol, ensure_not_duplicate
from rollcall.platform.auth import Principal
from rollcall.platform.errors import NotFound
from rollcall.platform.observability import count, logger
from rollcall.platform.settings import FaceSettings
from rollcall.store.faces import FaceRepo, StoredFace
from rollcall.store.photos import PhotoStore
from rollcall.store.roster import RosterRepo
from rollcall.store.table import OrgRecords


def decode(image_base64: str | bytes, settings: FaceSettings) -> DecodedImage:
    """An upload decoded under the settings' limits (size, pixels, working resolution)."""
    return decode_image(
        image_base64,
        max_bytes=settings.face_max_image_bytes,
        max_pixels=settings.face_max_pixels,
        max_side=settings.face_max_side,
    )


def enrol_face(
    records: OrgRecords,
    who: Principal,
    student_id: str,
    image_base64: str | bytes,
    settings: FaceSettings,
    *,
    photos: PhotoStore,
    now: datetime,
    name_the_other: bool,
) -> tuple[StoredFace, bool]:
    """The stored face and whether it is new (False: this photo was enrolled before).

    ``name_the_other``: whether DUPLICATE_FACE may name the other student (the caller decides:
    staff may know, a student enrolling themself may not).
    """
    from rollcall.face.match import Gallery  # numpy: imported on first use, not at cold start

    RosterRepo(records).require(student_id)
    faces = FaceRepo(records)
    photo = decode(image_base64, settings)
    existing = faces.find_by_photo(student_id, photo.sha256)
    if existing is not None:
        return existing, False
    face = enrol(photo, settings)
    labels, embeddings = faces.gallery()
    ensure_not_duplicate(
        face.embedding, Gallery(embeddings, labels), student_id, settings, name_the_other=name_the_other
    )
    photos.put_enrolment(student_id, photo.sha256, photo.data, photo.format)
    stored, new = faces.add(
        student_id,
        face.embedding,
        box=face.box.as_dict(),
        quality=face.quality.as_dict(),
        photo_hash=face.photo_hash,
        created_by=who.sub,
        created_at=now,
        max_faces=settings.face_max_faces_per_student,
    )
    if not new:  # a concurrent enrolment of the same photo stored it first
        return stored, False
    count("FaceEnrolled")
    logger.info(
        "face enrolled", extra={"student_id": student_id, "face_id": stored.face_id, "ms": face.timings}
    )
    return stored, True


def list_faces(records: OrgRecords, student_id: str) -> list[StoredFace]:
    """A student's enrolled faces (404 STUDENT_NOT_FOUND for an unknown student)."""
    RosterRepo(records).require(student_id)
    return FaceRepo(records).of_student(student_id)


def delete_enrolled_face(
    records: OrgRecords, student_id: str, face_id: str, photos: PhotoStore
) -> StoredFace:
    """Delete one enrolled face, and the photo it was enrolled from if it was kept."""
    face = FaceRepo(records).delete(student_id, face_id)
    if face is None:
        raise NotFound(f"no face {face_id} for student {student_id}", code="FACE_NOT_FOUND")
    photos.delete_enrolment(student_id, face.photo_hash)
    return face
