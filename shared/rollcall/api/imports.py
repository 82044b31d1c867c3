"""POST /v1/attendance/import: an attendance CSV, imported whole or not at all, and only once;
POST /v1/attendance/imports: the same as a job, for a file uploaded to S3."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from rollcall.api.access import Staff
from rollcall.api.deps import now, records_of, settings_of
from rollcall.platform.errors import TooLarge, UnsupportedMedia
from rollcall.platform.settings import TrainSettings
from rollcall.services.import_jobs import request_upload
from rollcall.services.importing import import_csv

router = APIRouter(prefix="/v1/attendance", tags=["attendance"])

CSV_TYPES = ("text/csv", "application/csv")
# What the synchronous route takes: a file that imports well within the API's 30 s (issue 10 asks
# for 5 s). Larger files go through POST /v1/attendance/imports (an upload and a job).
SYNC_MAX_BYTES = 1024 * 1024
SYNC_MAX_LINES = 5_000
CSV_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {
                "schema": {"type": "string"},
                "example": "student_id,class_id,session_id,starts_at,ends_at,status,arrived_at\n"
                "s-1,math,math-0907,2026-09-07T09:00:00Z,2026-09-07T10:00:00Z,late,2026-09-07T09:07:00Z\n",
            }
        },
    }
}


class ImportOut(BaseModel):
    import_id: str = Field(description="the content hash of the attendance in the file")
    replayed: bool = Field(description="this attendance was imported before: nothing was written")
    rows: int
    records_written: int
    sessions_created: int
    students_created: int = Field(description="unknown students get a minimal profile (name = id)")
    memberships: int
    imported_at: str
    imported_by: str
    classes: dict[str, str] = Field(
        default_factory=dict, description="class id → display name, for the classes the file named"
    )


@router.post(
    "/import",
    status_code=status.HTTP_201_CREATED,
    summary="Import attendance from a CSV of up to 5,000 rows and 1 MiB (teacher, admin); 200 when the same "
    "attendance was imported before; larger files: POST /v1/attendance/imports",
    openapi_extra=CSV_BODY,
)
async def post_import(request: Request, response: Response, who: Staff) -> ImportOut:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in CSV_TYPES:
        raise UnsupportedMedia(f"send the file as text/csv (got {kind or 'no content type'})", code="NOT_CSV")
    data = await request.body()
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if len(data) > SYNC_MAX_BYTES or lines > SYNC_MAX_LINES + 1:  # + the header
        raise TooLarge(
            {
                "message": "a file this large is imported as a job: POST /v1/attendance/imports",
                "bytes": len(data),
                "max_bytes": SYNC_MAX_BYTES,
                "max_rows": SYNC_MAX_LINES,
            },
            code="CSV_TOO_LARGE",
        )
    result = await run_in_threadpool(import_csv, records_of(request, who), who, data, now=now())
    if result.replayed:
        response.status_code = status.HTTP_200_OK
    return ImportOut(**vars(result))


class UploadOut(BaseModel):
    job_id: str
    kind: str
    status: str = Field(description="queued: the upload starts it; follow it at GET /v1/jobs/{job_id}")
    upload_url: str = Field(description="PUT the CSV file here (a presigned S3 URL)")
    upload_method: str = "PUT"
    expires_in: int = Field(description="seconds the upload URL is valid")
    max_bytes: int = Field(description="the largest file an import accepts (CSV_TOO_LARGE beyond)")


@router.post(
    "/imports",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Import a large attendance CSV as a job: PUT the file to the answered URL; its upload starts "
    "the job, whose result is the import's counts (teacher, admin)",
)
def post_imports(request: Request, who: Staff) -> UploadOut:
    upload = request_upload(settings_of(request, TrainSettings), records_of(request, who), who, now())
    job = upload["job"]
    return UploadOut(
        job_id=job.job_id,
        kind=job.kind,
        status=job.status,
        upload_url=upload["upload_url"],
        expires_in=upload["expires_in"],
        max_bytes=upload["max_bytes"],
    )
