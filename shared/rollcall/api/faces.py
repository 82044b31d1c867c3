"""/v1/students/{id}/faces: enrol a face, list them (never the embeddings), delete one;
/v1/faces/search: the students nearest to the largest face of a photo."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, Field

from rollcall.api.access import AnyUser, Staff, ensure_self_or_staff
from rollcall.api.deps import now, photos_of, records_of, settings_of
from rollcall.api.schemas import Id, timestamp
from rollcall.platform.settings import FaceSettings
from rollcall.services import face_uploads
from rollcall.services.enrolment import delete_enrolled_face, enrol_face, list_faces
from rollcall.services.face_search import search_faces

if TYPE_CHECKING:
    from rollcall.store.faces import StoredFace

router = APIRouter(prefix="/v1/students/{student_id}/faces", tags=["faces"])
search_router = APIRouter(prefix="/v1/faces", tags=["faces"])


class FaceIn(BaseModel):
    image_base64: str = Field(
        min_length=1,
        description="a JPEG, PNG, WebP or HEIC photo with exactly one face, base64 (at most 5 MB decoded)",
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
        records_of(request, who),
        who,
        student_id,
        body.image_base64,
        settings,
        photos=photos_of(request, who),
        now=now(),
        name_the_other=who.is_staff(),  # a student is never told whose face theirs matches
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return FaceOut.of(face)


class FaceUploadOut(BaseModel):
    upload_id: str = Field(description="follow it at GET /v1/students/{student_id}/faces/uploads/{upload_id}")
    upload_url: str = Field(
        description="PUT the photo here (a presigned S3 URL): JPEG, PNG, WebP or HEIC with exactly one face"
    )
    upload_method: str = "PUT"
    expires_at: str = Field(description="when the upload URL stops working")
    max_bytes: int = Field(description="the largest photo enrolled (PHOTO_TOO_LARGE beyond)")


class FaceUploadStatusOut(BaseModel):
    upload_id: str
    student_id: str
    status: str = Field(description="pending (not uploaded or being enrolled) | done | failed")
    face: FaceOut | None = Field(default=None, description="done: the face enrolled, as the base64 route's")
    created: bool | None = Field(default=None, description="done: false when this photo was enrolled before")
    photo_bytes: int | None = None
    error: dict[str, Any] | None = Field(
        default=None,
        description="failed: code (NO_FACE, MULTIPLE_FACES, LOW_QUALITY_FACE, DUPLICATE_FACE, "
        "FACE_LIMIT_REACHED, PHOTO_TOO_LARGE, UNSUPPORTED_IMAGE, ...) and detail",
    )


@router.post(
    "/uploads",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Enrol a face from a large photo: PUT it to the answered URL; its upload starts the enrolment "
    "(staff; a student: itself)",
)
def post_face_upload(student_id: Id, request: Request, who: AnyUser) -> FaceUploadOut:
    ensure_self_or_staff(who, student_id)
    asked = face_uploads.request_upload(
        settings_of(request, FaceSettings),
        records_of(request, who),
        who,
        student_id,
        now(),
        name_the_other=who.is_staff(),  # a student is never told whose face theirs matches
    )
    return FaceUploadOut(**{**asked, "expires_at": timestamp(asked["expires_at"])})


@router.get(
    "/uploads/{upload_id}",
    summary="An uploaded enrolment photo: pending | done (with the face) | failed (with the error code)",
)
def get_face_upload(student_id: Id, upload_id: Id, request: Request, who: AnyUser) -> FaceUploadStatusOut:
    ensure_self_or_staff(who, student_id)
    return FaceUploadStatusOut.model_validate(
        face_uploads.upload_status(records_of(request, who), student_id, upload_id)
    )


@router.get("", summary="A student's enrolled faces (ids, dates, quality; never embeddings)")
def get_faces(student_id: Id, request: Request, who: AnyUser) -> list[FaceOut]:
    ensure_self_or_staff(who, student_id)
    return [FaceOut.of(f) for f in list_faces(records_of(request, who), student_id)]


@router.delete(
    "/{face_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete one enrolled face (and its kept photo)",
)
def delete_face(student_id: Id, face_id: Id, request: Request, who: AnyUser) -> Response:
    ensure_self_or_staff(who, student_id)
    delete_enrolled_face(records_of(request, who), student_id, face_id, photos_of(request, who))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class SearchIn(BaseModel):
    image_base64: str = Field(
        min_length=1,
        description="a JPEG, PNG, WebP or HEIC photo, base64 (at most 5 MB decoded); its largest face is "
        "searched",
    )
    class_id: Id | None = Field(
        default=None, description="search this class only; default: the whole organisation"
    )
    max_results: int = Field(default=5, ge=1, le=50)


class Candidate(BaseModel):
    student_id: str
    name: str
    distance: float = Field(description="to the student's closest enrolled face")
    similarity: float = Field(
        ge=0,
        le=1,
        description="0-1, higher is more alike: 0.8 at the confident threshold, 0.5 at the uncertain one",
    )
    status: str = Field(description="what marking would make of this distance: present | uncertain | unknown")


class SearchOut(BaseModel):
    searched_face: dict[str, Any] = Field(description="the largest face: box, quality, quality_issues")
    face_count: int = Field(description="faces found in the photo")
    matches: list[Candidate] = Field(description="the nearest students, nearest first")
    timings: dict[str, float]


@search_router.post(
    "/search", summary="The students nearest to a photo's largest face (teacher, admin; audited)"
)
def post_search(body: SearchIn, request: Request, who: Staff) -> SearchOut:
    settings = settings_of(request, FaceSettings)
    found = search_faces(
        records_of(request, who),
        who,
        body.image_base64,
        settings,
        class_id=body.class_id,
        max_results=body.max_results,
        now=now(),
    )
    result, face = found.result, found.result.face
    return SearchOut(
        searched_face={
            "box": face.box.as_dict(),
            "quality": face.quality.as_dict(),
            "quality_issues": found.quality_issues,
        },
        face_count=result.face_count,
        matches=[
            Candidate(
                student_id=c.student_id,
                name=found.names[c.student_id],
                distance=round(c.distance, 4),
                similarity=c.similarity,
                status=str(c.status),
            )
            for c in result.candidates
        ],
        timings=result.timings,
    )
