"""A synthetic history stored through the real store, on the provisioned template."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from rollcall.store.attendance import AttendanceRepo, SessionRepo
from rollcall.store.photo_events import MarkingRepo
from rollcall.store.roster import RosterRepo
from rollcall.store.table import OrgDirectory, OrgRecords
from rollcall_local.emulator import Aws
from rollcall_local.template import Physical
from testkit.seeding import store_history
from testkit.synthetic import generate


@pytest.fixture(scope="module")
def records(aws: Aws, physical: Physical) -> OrgRecords:
    return OrgRecords("seeded", physical.refs["RecordsTable"], client=aws.client("dynamodb"))


def test_a_history_is_stored_whole_and_reseeding_adds_nothing(records: OrgRecords) -> None:
    history = generate("seeded", students=16, weeks=6, seed=11)
    written = store_history(records, history)
    assert written["students"] == 16
    assert written["sessions"] == len(history.sessions)
    assert written["attendance_records"] == len(history.records)
    assert written["marking_events"] == len(history.marking_events)
    assert written["corrections"] == len(history.corrections)

    # Then the store answers with the same records
    stored = list(AttendanceRepo(records).between(history.start, history.now))
    key = lambda r: (r.session_id, r.student_id)  # noqa: E731
    assert sorted(stored, key=key) == sorted(history.records, key=key)
    assert len(RosterRepo(records).all()) == 16
    assert len(SessionRepo(records).between(history.start, history.now)) == len(history.sessions)
    events = list(
        MarkingRepo(records).between(history.start - timedelta(days=1), history.now + timedelta(days=1))
    )
    assert len(events) == len(history.marking_events)
    assert all(set(e["counts"]) == {"faces", "present", "uncertain", "unknown"} for e in events)
    assert "seeded" in OrgDirectory(records.table, client=records.client).organisations()

    # When it is stored again, Then nothing new is added
    again: dict[str, Any] = store_history(records, history)
    assert (again.get("students", 0), again.get("sessions", 0), again.get("marking_events", 0)) == (0, 0, 0)
    assert len(list(AttendanceRepo(records).between(history.start, history.now))) == len(history.records)
