"""Pydantic models shared by several routers (ids, times, the attendance register)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Query
from pydantic import AwareDatetime, BaseModel, Field

from rollcall.domain import AttendanceRecord, Session, Status, iso

Id = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$", examples=["s-1042"])]
# A listing's page: its size, and the opaque cursor of the next one (rollcall.platform.cursors).
PageLimit = Annotated[int, Query(ge=1, le=200, description="items per page")]
Cursor = Annotated[
    str | None,
    Query(max_length=512, description="next_cursor of the previous page of the same listing and filters"),
]


def timestamp(value: datetime | None) -> str | None:
    return iso(value) if value else None


class SessionOut(BaseModel):
    session_id: str
    class_id: str
    starts_at: str
    ends_at: str
    location: str | None = None

    @classmethod
    def of(cls, s: Session) -> SessionOut:
        return cls(
            session_id=s.session_id,
            class_id=s.class_id,
            starts_at=iso(s.starts_at),
            ends_at=iso(s.ends_at),
            location=s.location,
        )


class SessionIn(BaseModel):
    session_id: Id | None = None
    class_id: Id
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    location: str | None = Field(default=None, max_length=200)


class AttendanceOut(BaseModel):
    student_id: str
    status: Status
    source: str
    distance: float | None = Field(
        default=None,
        description="face distance of a photo's match: Euclidean between 128-d embeddings, 0 identical, "
        "present at or under the confident threshold (FACE_CONFIDENT_THRESHOLD, 0.5 by default)",
    )
    arrived_at: str | None = None
    minutes_after_start: float | None = Field(
        default=None, description="arrival in minutes after the session's start (negative: before it)"
    )
    marked_by: str | None = None
    marked_at: str | None = None
    note: str | None = None

    @classmethod
    def of(cls, r: AttendanceRecord) -> AttendanceOut:
        return cls(
            student_id=r.student_id,
            status=r.status,
            source=r.source.value,
            distance=None if r.distance is None else round(r.distance, 4),
            arrived_at=timestamp(r.arrived_at),
            minutes_after_start=None if r.minutes_late is None else round(r.minutes_late, 2),
            marked_by=r.marked_by,
            marked_at=timestamp(r.marked_at),
            note=r.note,
        )
