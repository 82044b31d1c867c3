"""Sessions and their attendance: creation, the register, teachers' corrections.

Marking from a photo is in :mod:`rollcall.services.photo_marking` (it needs the face layer); everything
here runs in any function.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rollcall.domain import AttendanceRecord, Session, Source, Status
from rollcall.platform.auth import Principal
from rollcall.platform.errors import NotFound, ValidationFailed
from rollcall.services.students import new_id
from rollcall.store.attendance import AttendanceRepo, SessionRepo
from rollcall.store.audit import AuditLog
from rollcall.store.roster import RosterRepo
from rollcall.store.table import OrgDirectory, OrgRecords, check_id

MAX_SESSION_HOURS = 24


def create_session(
    records: OrgRecords,
    who: Principal,
    *,
    class_id: str,
    starts_at: datetime,
    ends_at: datetime,
    location: str | None,
    session_id: str | None,
    now: datetime,
) -> Session:
    if ends_at <= starts_at:
        raise ValidationFailed("ends_at must be after starts_at", code="INVALID_SESSION_TIMES")
    if (ends_at - starts_at).total_seconds() > MAX_SESSION_HOURS * 3600:
        raise ValidationFailed(
            f"a session lasts at most {MAX_SESSION_HOURS} hours", code="INVALID_SESSION_TIMES"
        )
    session = Session(
        session_id=check_id(session_id, "session_id")
        if session_id
        else new_id(check_id(class_id, "class_id")),
        class_id=class_id,
        starts_at=starts_at,
        ends_at=ends_at,
        location=location,
    )
    SessionRepo(records).create(session, created_by=who.sub, created_at=now)
    OrgDirectory(records.table, client=records.client).register(records.org)
    return session


@dataclass(frozen=True)
class Register:
    """A session's attendance: every record, and the class's students without one."""

    session: Session
    records: list[AttendanceRecord]
    not_marked: list[str]

    def ids(self, *statuses: Status) -> list[str]:
        return sorted(r.student_id for r in self.records if r.status in statuses)


def register(records: OrgRecords, session_id: str) -> Register:
    session = SessionRepo(records).require(session_id)
    marked = AttendanceRepo(records).for_session(session_id)
    seen = {r.student_id for r in marked}
    roster = RosterRepo(records).members(session.class_id)
    return Register(session, marked, sorted(set(roster) - seen))


def correct(
    records: OrgRecords,
    who: Principal,
    session_id: str,
    student_id: str,
    *,
    status: Status,
    note: str | None,
    now: datetime,
) -> AttendanceRecord:
    """A teacher's correction: it replaces the record, wins over later photos, and is audit-logged."""
    check_id(student_id, "student_id")
    session = SessionRepo(records).require(session_id)
    attendance = AttendanceRepo(records)
    before = attendance.get(session_id, student_id)
    if before is None and student_id not in RosterRepo(records).members(session.class_id):
        raise NotFound(f"student {student_id} is not in class {session.class_id}", code="STUDENT_NOT_FOUND")
    corrected = session.record(
        student_id,
        status,
        arrived_at=before.arrived_at if before else None,
        source=Source.CORRECTION,
        distance=before.distance if before else None,
        photo_hash=before.photo_hash if before else None,
        marked_by=who.sub,
        marked_at=now,
        note=note,
    )
    attendance.write(corrected, mode="replace")
    AuditLog(records).append(
        actor=who.sub,
        action="attendance.corrected",
        subject=f"attendance:{session_id}:{student_id}",
        at=now,
        details={
            "from": before.status.value if before else None,
            "from_source": before.source.value if before else None,
            "to": status.value,
            "note": note,
        },
    )
    return corrected
