"""POST /v1/sessions/{id}/attendance: mark attendance from a classroom photo."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from rollcall.api.access import Staff
from rollcall.api.deps import now, photos_of, records_of, settings_of
from rollcall.api.schemas import Id
from rollcall.platform.settings import FaceSettings
from rollcall.services.marking import mark_photo

router = APIRouter(prefix="/v1/sessions", tags=["attendance"])


class MarkIn(BaseModel):
    image_base64: str = Field(
        min_length=1, description="a JPEG, PNG, WebP or HEIC photo, base64 (at most 5 MB decoded)"
    )
    annotate: bool = Field(default=False, description="also answer the photo with boxes and names drawn")


class FaceResult(BaseModel):
    box: dict[str, int] = Field(description="top, right, bottom, left in the photo's pixels")
    student_id: str | None
    distance: float | None = Field(description="to the assigned student; for an unknown face, to the nearest")
    status: str = Field(description="present | uncertain | unknown")
    reason: str | None = Field(
        default=None,
        description="why an unknown face is unknown: NO_ENROLLED_STUDENTS | NO_STUDENT_WITHIN_THRESHOLD | "
        "STUDENT_MATCHED_TO_ANOTHER_FACE",
    )
    quality: dict[str, float | int | bool] = Field(
        default_factory=dict,
        description="face_area_ratio, width_px, height_px, sharpness, brightness, cut_by_edge",
    )
    quality_issues: list[str] = Field(
        default_factory=list,
        description="what makes this face a poor match (Rekognition's names): SMALL_BOUNDING_BOX, "
        "LOW_SHARPNESS, EXCESSIVE_CUT; the status is not changed by them",
    )


class MarkOut(BaseModel):
    session_id: str
    photo_hash: str
    faces: list[FaceResult]
    present: list[str]
    uncertain: list[str] = Field(description="recorded for a teacher to review")
    absent: list[str] = Field(description="students of the class not seen in this photo")
    unknown_count: int
    replayed: bool = Field(description="this photo was marked before: its first answer, nothing written")
    timings: dict[str, float] = Field(description="milliseconds: decode, detect, encode")
    annotated_image_base64: str | None = None


@router.post("/{session_id}/attendance", summary="Mark attendance from a classroom photo (teacher, admin)")
def post_attendance(session_id: Id, body: MarkIn, request: Request, who: Staff) -> MarkOut:
    settings = settings_of(request, FaceSettings)
    marking = mark_photo(
        records_of(request, who),
        who,
        session_id,
        body.image_base64,
        settings=settings,
        photos=photos_of(request, who),
        annotate=body.annotate,
        now=now(),
    )
    return MarkOut.model_validate(marking, from_attributes=True)
