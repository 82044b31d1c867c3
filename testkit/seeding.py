"""Storing a synthetic history through the real store (``make seed``, tests, benchmarks).

Everything goes through the same repositories the API uses: students and class memberships,
sessions, attendance records, marking events (per photo: face counts) and teachers' corrections
(attendance records with source ``correction`` plus their audit entries). Re-seeding the same
history writes the same items again: nothing is duplicated.

Writes are bulk (``rollcall.store.bulk``): profiles and sessions found by batch reads and only
the missing ones written (the sessions by BatchWriteItem: a synthetic organisation's sessions are
written by no one else, so they need no "if absent" condition), attendance records, memberships,
marking events and audit entries by BatchWriteItem (25 a request). ``progress(n)`` is told of
every batch of items written.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from rollcall.store.attendance import AttendanceRepo, SessionRepo
from rollcall.store.audit import ATTENDANCE_CORRECTED, AuditLog
from rollcall.store.photo_events import MarkingRepo
from rollcall.store.roster import RosterRepo
from rollcall.store.table import OrgDirectory, OrgRecords

if TYPE_CHECKING:
    from testkit.synthetic import SyntheticHistory

SEED_ACTOR = "synthetic"


def item_count(history: SyntheticHistory) -> int:
    """How many items :func:`store_history` writes at most (the total a progress display shows)."""
    members = sum(len(s.class_ids) for s in history.students)
    return (
        len(history.students)
        + members
        + len(history.sessions)
        + len(history.records)
        + len(history.marking_events)
        + len(history.corrections)
    )


def store_history(
    records: OrgRecords, history: SyntheticHistory, *, progress: Callable[[int], None] | None = None
) -> dict[str, int]:
    """Write ``history`` into the organisation's records; the counts written, by kind."""
    tick = progress or (lambda _: None)
    written: Counter[str] = Counter()
    OrgDirectory(records.table, client=records.client).register(records.org)
    roster = RosterRepo(records)
    written["students"] = roster.ensure_students(
        history.students, created_by=SEED_ACTOR, created_at=history.start
    )
    tick(len(history.students))
    written["class_memberships"] = roster.ensure_members(
        {(c, s.student_id) for s in history.students for c in s.class_ids}
    )
    tick(written["class_memberships"])
    written["sessions"] = SessionRepo(records).ensure(
        history.sessions, created_by=SEED_ACTOR, created_at=history.start, conditional=False
    )
    tick(len(history.sessions))
    written["attendance_records"] = AttendanceRepo(records).write_many(
        history.records, mode="replace", on_chunk=tick
    )
    written["marking_events"] = _marking_events(records, history, tick)
    audit = AuditLog(records)
    written["corrections"] = records.batch_put(
        (
            audit.item(
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
            for c in history.corrections
        ),
        on_chunk=tick,
    )
    return dict(written)


def _marking_events(records: OrgRecords, history: SyntheticHistory, tick: Callable[[int], None]) -> int:
    """The events not stored yet (found by a batch read), written in batches; how many."""
    markings = MarkingRepo(records)
    items = [
        markings.item(
            event.session_id,
            event.photo_hash,
            event.taken_at,
            {
                "class_id": event.class_id,
                "marked_by": SEED_ACTOR,
                "faces": [dict(f) for f in event.face_details],
                "counts": {
                    "faces": event.faces,
                    "present": event.present,
                    "uncertain": event.uncertain,
                    "unknown": event.unknown,
                },
            },
        )
        for event in history.marking_events
    ]
    stored = records.batch_get([(i["pk"], i["sk"]) for i in items], attributes=(), consistent=True)
    tick(len(items) - sum((i["pk"], i["sk"]) in stored for i in items))
    return records.batch_put((i for i in items if (i["pk"], i["sk"]) not in stored), on_chunk=tick)
