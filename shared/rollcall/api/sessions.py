"""/v1/sessions: create, list, read and delete sessions, the attendance register, teachers'
corrections.

Marking from a photo (POST .../attendance) is in rollcall.api.marking (it needs the face layer).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, status
from pydantic import AwareDatetime, BaseModel, Field

from rollcall.api.access import AdminOnly, Staff
from rollcall.api.deps import now, photos_of, records_of
from rollcall.api.schemas import AttendanceOut, Cursor, Id, PageLimit, SessionIn, SessionOut
from rollcall.domain import Status
from rollcall.services import marking
from rollcall.services.marking import KEEP, correct, create_session, register
from rollcall.services.sessions import delete_session, list_sessions, parse_bound

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])


class RegisterOut(BaseModel):
    session: SessionOut
    records: list[AttendanceOut]
    present: list[str]
    late: list[str]
    uncertain: list[str] = Field(description="matched between the thresholds: for a teacher to review")
    absent: list[str]
    excused: list[str] = Field(description="absent with a reason a teacher accepted")
    not_marked: list[str] = Field(description="students of the class with no record yet")


class CorrectionIn(BaseModel):
    status: Literal["present", "late", "absent", "excused"]
    note: str | None = Field(
        default=None, max_length=500, description="left out: the record keeps its note; null: no note"
    )
    arrived_at: AwareDatetime | None = Field(
        default=None,
        description="with status late only: when the student arrived, after the session's start and on "
        "its day (UTC) or before its end (else 422 INVALID_ARRIVAL); left out: the record keeps its arrival",
    )


class SessionPage(BaseModel):
    items: list[SessionOut] = Field(description="in order of start")
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last")


class SessionDeletedOut(BaseModel):
    session_id: str
    deleted: dict[str, int] = Field(
        description="what was deleted, counted by kind: session, attendance_records, marking_events, photos"
    )


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


@router.get("", summary="Sessions, paged in order of start; by class and time window (teacher, admin)")
def get_sessions(
    request: Request,
    who: Staff,
    *,
    class_id: Annotated[Id | None, Query(description="only this class's sessions (any dates)")] = None,
    from_: Annotated[
        str | None,
        Query(
            alias="from",
            max_length=40,
            description="sessions starting at or after: a date "
            "(YYYY-MM-DD) or ISO-8601 time; without class_id, default 30 days before now",
        ),
    ] = None,
    to: Annotated[
        str | None,
        Query(
            max_length=40,
            description="sessions starting at or before (a date: to its end); without "
            "class_id, default 60 days after from (at most 366 days after it)",
        ),
    ] = None,
    limit: PageLimit = 50,
    cursor: Cursor = None,
) -> SessionPage:
    items, next_cursor = list_sessions(
        records_of(request, who),
        class_id=class_id,
        since=parse_bound(from_, "from", end_of_day=False),
        until=parse_bound(to, "to", end_of_day=True),
        limit=limit,
        cursor=cursor,
        now=now(),
    )  # fmt: skip
    return SessionPage(items=[SessionOut.of(s) for s in items], next_cursor=next_cursor)


@router.get("/{session_id}", summary="A session (teacher, admin)")
def get_session(session_id: Id, request: Request, who: Staff) -> SessionOut:
    return SessionOut.of(marking.get_session(records_of(request, who), session_id))


@router.delete(
    "/{session_id}",
    summary="Delete a session, its attendance records, marking events and kept photos (audit-logged; admin)",
)
def delete_session_route(session_id: Id, request: Request, who: AdminOnly) -> SessionDeletedOut:
    deleted = delete_session(records_of(request, who), who, session_id, photos_of(request, who), now=now())
    return SessionDeletedOut(session_id=session_id, deleted=deleted)


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
        excused=reg.ids(Status.EXCUSED),
        not_marked=reg.not_marked,
    )


@router.patch(
    "/{session_id}/attendance/{student_id}",
    summary="Correct a student's attendance: present, late (with arrived_at), absent, excused (audit-logged)",
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
        note=body.note if "note" in body.model_fields_set else KEEP,
        arrived_at=body.arrived_at,
        now=now(),
    )
    return AttendanceOut.of(record)
