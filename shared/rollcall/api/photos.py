"""/v1/sessions/{id}/photos: mark attendance from a photo uploaded by presigned URL (up to 15 MB)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, Field

from rollcall.api.access import Staff
from rollcall.api.deps import now, photos_of, records_of, settings_of
from rollcall.api.marking import MarkOut
from rollcall.api.schemas import Id, timestamp
from rollcall.platform.settings import FaceSettings
from rollcall.services import photo_uploads

router = APIRouter(prefix="/v1/sessions", tags=["attendance"])


class PhotoUploadOut(BaseModel):
    photo_id: str = Field(description="follow it at GET /v1/sessions/{session_id}/photos/{photo_id}")
    upload_url: str = Field(description="PUT the photo here (a presigned S3 URL): JPEG, PNG, WebP or HEIC")
    upload_method: str = "PUT"
    expires_at: str = Field(description="when the upload URL stops working")
    max_bytes: int = Field(description="the largest photo marked (PHOTO_TOO_LARGE beyond)")


class PhotoMarking(MarkOut):
    photo_bytes: int
    annotated_url: str | None = Field(
        default=None,
        description="a presigned GET URL of the photo at its own size with each face boxed and named "
        "(green present, amber uncertain, red unknown), JPEG",
    )
    annotated_url_expires_in: int | None = Field(default=None, description="seconds the URL stays valid")


class PhotoOut(BaseModel):
    photo_id: str
    session_id: str
    status: str = Field(description="pending (not uploaded or being marked) | done | failed")
    marking: PhotoMarking | None = Field(default=None, description="done: the marking, as the base64 route's")
    error: dict[str, Any] | None = Field(
        default=None, description="failed: code (NO_FACE, PHOTO_TOO_LARGE, UNSUPPORTED_IMAGE, ...) and detail"
    )


@router.post(
    "/{session_id}/photos",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Mark attendance from a large photo: PUT it to the answered URL; its upload starts the marking "
    "(teacher, admin)",
)
def post_photo(session_id: Id, request: Request, who: Staff) -> PhotoUploadOut:
    asked = photo_uploads.request_upload(
        settings_of(request, FaceSettings), records_of(request, who), who, session_id, now()
    )
    return PhotoUploadOut(**{**asked, "expires_at": timestamp(asked["expires_at"])})


@router.get(
    "/{session_id}/photos/{photo_id}",
    summary="An uploaded photo's marking: pending | done (with the marking and its annotated photo's URL) | "
    "failed (teacher, admin)",
)
def get_photo(session_id: Id, photo_id: Id, request: Request, who: Staff) -> PhotoOut:
    return PhotoOut.model_validate(
        photo_uploads.photo_status(records_of(request, who), session_id, photo_id, photos_of(request, who))
    )
