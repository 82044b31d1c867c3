"""/v1/students/{id}/faces: enrol a face, list them (never the embeddings), delete one."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, Field

from rollcall.api.deps import now, records_of, settings_of
from rollcall.api.models import Id
from rollcall.enrolment import enrol_face
from rollcall.errors import NotFound
from rollcall.http import AnyUser, ensure_self_or_staff
from rollcall.settings import FaceSettings
from rollcall.store.faces import FaceRepo, StoredFace
from rollcall.store.roster import RosterRepo

router = APIRouter(prefix="/v1/students/{student_id}/faces", tags=["faces"])


class FaceIn(BaseModel):
    image_base64: str = Field(
        min_length=1,
        description="a JPEG, PNG or WebP photo with exactly one face, base64 (at most 5 MB decoded)",
    )


class FaceOut(BaseModel):
    face_id: str
    student_id: str
    location: dict[str, int] = Field(description="the face's box in the photo: top, right, bottom, left")
    quality: dict[str, float | int | bool]
    created_at: str
    created_by: str

    @classmethod
    def of(cls, face: StoredFace) -> FaceOut:
        return cls(
            face_id=face.face_id,
            student_id=face.student_id,
            location=face.box,
            quality=face.quality,
            created_at=face.created_at,
            created_by=face.created_by,
        )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Enrol a face (staff; a student: itself). 200 when this photo was enrolled before.",
)
def post_face(student_id: Id, body: FaceIn, request: Request, response: Response, who: AnyUser) -> FaceOut:
    ensure_self_or_staff(who, student_id)
    settings = settings_of(request, FaceSettings)
    face, created = enrol_face(
        records_of(request, who), who, student_id, body.image_base64, settings, now=now()
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return FaceOut.of(face)


@router.get("", summary="A student's enrolled faces (ids, dates, quality; never embeddings)")
def get_faces(student_id: Id, request: Request, who: AnyUser) -> list[FaceOut]:
    ensure_self_or_staff(who, student_id)
    records = records_of(request, who)
    RosterRepo(records).require(student_id)
    return [FaceOut.of(f) for f in FaceRepo(records).of_student(student_id)]


@router.delete("/{face_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete one enrolled face")
def delete_face(student_id: Id, face_id: Id, request: Request, who: AnyUser) -> Response:
    ensure_self_or_staff(who, student_id)
    if not FaceRepo(records_of(request, who)).delete(student_id, face_id):
        raise NotFound(f"no face {face_id} for student {student_id}", code="FACE_NOT_FOUND")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
