"""/v1/sessions: create and read sessions, the attendance register, teachers' corrections.

Marking from a photo (POST .../attendance) is in rollcall.api.marking (it needs the face layer).
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, Field

from rollcall.api.access import Staff
from rollcall.api.deps import now, records_of
from rollcall.api.schemas import AttendanceOut, Id, SessionIn, SessionOut
from rollcall.domain import Status
from rollcall.services import marking
from rollcall.services.marking import correct, create_session, register

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])


class RegisterOut(BaseModel):
    session: SessionOut
    records: list[AttendanceOut]
    present: list[str]
    late: list[str]
    uncertain: list[str] = Field(description="matched between the thresholds: for a teacher to review")
    absent: list[str]
    not_marked: list[str] = Field(description="students of the class with no record yet")


class CorrectionIn(BaseModel):
    status: Literal["present", "late", "absent"]
    note: str | None = Field(default=None, max_length=500)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a session (teacher, admin)")
def post_session(body: SessionIn, request: Request, who: Staff) -> SessionOut:
    session = create_session(
        records_of(request, who),
        who,
        class_id=body.class_id,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        location=body.location,
        session_id=body.session_id,
        now=now(),
    )
    return SessionOut.of(session)


@router.get("/{session_id}", summary="A session (teacher, admin)")
def get_session(session_id: Id, request: Request, who: Staff) -> SessionOut:
    return SessionOut.of(marking.get_session(records_of(request, who), session_id))


@router.get("/{session_id}/attendance", summary="The session's attendance register (teacher, admin)")
def get_attendance(session_id: Id, request: Request, who: Staff) -> RegisterOut:
    reg = register(records_of(request, who), session_id)
    return RegisterOut(
        session=SessionOut.of(reg.session),
        records=[AttendanceOut.of(r) for r in reg.records],
        present=reg.ids(Status.PRESENT),
        late=reg.ids(Status.LATE),
        uncertain=reg.ids(Status.UNCERTAIN),
        absent=reg.ids(Status.ABSENT),
        not_marked=reg.not_marked,
    )


@router.patch(
    "/{session_id}/attendance/{student_id}", summary="Correct a student's attendance (audit-logged)"
)
def patch_attendance(
    session_id: Id, student_id: Id, body: CorrectionIn, request: Request, who: Staff
) -> AttendanceOut:
    record = correct(
        records_of(request, who),
        who,
        session_id,
        student_id,
        status=Status(body.status),
        note=body.note,
        now=now(),
    )
    return AttendanceOut.of(record)
