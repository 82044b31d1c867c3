"""Storing a synthetic history through the real store (``make seed``, tests, benchmarks).

Everything goes through the same repositories the API uses: students and class memberships,
sessions, attendance records, marking events (per photo: face counts) and teachers' corrections
(attendance records with source ``correction`` plus their audit entries). Re-seeding the same
history writes the same items again: nothing is duplicated.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from rollcall.store.attendance import AttendanceRepo, SessionRepo
from rollcall.store.audit import ATTENDANCE_CORRECTED, AuditLog
from rollcall.store.photo_events import MarkingRepo
from rollcall.store.roster import RosterRepo
from rollcall.store.table import OrgDirectory, OrgRecords

if TYPE_CHECKING:
    from testkit.synthetic import SyntheticHistory

SEED_ACTOR = "synthetic"


def store_history(records: OrgRecords, history: SyntheticHistory) -> dict[str, int]:
    """Write ``history`` into the organisation's records; the counts written, by kind."""
    written: Counter[str] = Counter()
    OrgDirectory(records.table, client=records.client).register(records.org)
    roster = RosterRepo(records)
    for student in history.students:
        written["students"] += roster.put_profile(student, created_by=SEED_ACTOR, created_at=history.start)
    written["class_memberships"] = roster.ensure_members(
        {(c, s.student_id) for s in history.students for c in s.class_ids}
    )
    written["sessions"] = SessionRepo(records).ensure(
        history.sessions, created_by=SEED_ACTOR, created_at=history.start
    )
    written["attendance_records"] = AttendanceRepo(records).write_many(history.records, mode="replace")
    markings = MarkingRepo(records)
    for event in history.marking_events:
        counts = {
            "faces": event.faces,
            "present": event.present,
            "uncertain": event.uncertain,
            "unknown": event.unknown,
        }
        written["marking_events"] += markings.put(
            event.session_id,
            event.photo_hash,
            event.taken_at,
            {
                "class_id": event.class_id,
                "marked_by": SEED_ACTOR,
                "faces": [dict(f) for f in event.face_details],
                "counts": counts,
            },
        )
    audit = AuditLog(records)
    for c in history.corrections:
        audit.append(
            actor=c.corrected_by,
            action=ATTENDANCE_CORRECTED,
            subject=f"attendance:{c.session_id}:{c.student_id}",
            at=c.corrected_at,
            details={
                "from": c.previous_status.value,
                "from_source": c.previous_source.value,
                "to": c.status.value,
            },
        )
        written["corrections"] += 1
    return dict(written)
