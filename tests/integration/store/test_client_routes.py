"""The client routes' services on the records table provisioned from the built template (moto's
server): paged listings of students and sessions (by index, with cursors bound to organisation and
query), changing a student, deleting a session, and corrections with excused, arrivals and notes.
Each test asserts what is stored afterwards as well as what is answered.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rollcall.domain import Session, Source, Status, Student
from rollcall.platform.auth import Principal, Role
from rollcall.platform.errors import ConcurrentUpdate, InvalidCursor, NotFound, ValidationFailed
from rollcall.services.marking import KEEP, correct
from rollcall.services.scanning import _erased_since
from rollcall.services.sessions import delete_session, list_sessions
from rollcall.services.students import list_students, update_student
from rollcall.store.attendance import AttendanceRepo, SessionRepo
from rollcall.store.audit import AuditLog
from rollcall.store.photo_events import MarkingRepo
from rollcall.store.photos import PhotoStore
from rollcall.store.roster import RosterRepo
from rollcall.store.table import OrgRecords
from rollcall_local.emulator import Aws
from rollcall_local.template import Physical

T0 = datetime(2026, 9, 7, 9, 0, tzinfo=UTC)  # a Monday
NOW = datetime(2026, 9, 20, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture(scope="module")
def clients(aws: Aws, physical: Physical) -> dict[str, Any]:
    return {
        "dynamodb": aws.client("dynamodb"),
        "s3": aws.client("s3"),
        "table": physical.refs["RecordsTable"],
        "bucket": physical.refs["PhotoBucket"],
    }


def org(name: str, clients: dict[str, Any]) -> OrgRecords:
    return OrgRecords(name, clients["table"], client=clients["dynamodb"])


def admin(records: OrgRecords) -> Principal:
    return Principal("root", records.org, Role.ADMIN)


def students(records: OrgRecords, ids: list[str], classes: tuple[str, ...]) -> None:
    roster = RosterRepo(records)
    for sid in ids:
        roster.create(Student(sid, sid.title(), classes), created_by="t", created_at=T0)


def all_pages(fetch: Any, limit: int) -> list[list[str]]:
    """Every page of a listing, following next_cursor; the ids of each page."""
    pages, cursor = [], None
    for _ in range(50):
        items, cursor = fetch(limit=limit, cursor=cursor)
        pages.append([i[0].student_id if isinstance(i, tuple) else i.session_id for i in items])
        if cursor is None:
            return pages
    raise AssertionError("the listing never ended")


def test_students_are_listed_a_page_at_a_time_and_only_the_callers(clients: dict[str, Any]) -> None:
    # Given 7 students in org a (5 in math), and students of org b
    a, b = org("list-a", clients), org("list-b", clients)
    students(a, [f"s{i}" for i in range(5)], ("math",))
    students(a, ["t0", "t1"], ("bio",))
    students(b, ["s0", "s9", "x1"], ("math",))
    # When org a pages through its students 3 at a time
    pages = all_pages(lambda **kw: list_students(a, class_id=None, **kw), 3)
    # Then every student comes once, in id order, and none of org b's
    assert pages == [["s0", "s1", "s2"], ["s3", "s4", "t0"], ["t1"]]
    # And a class's roster pages its own students only
    assert all_pages(lambda **kw: list_students(a, class_id="math", **kw), 2) == [
        ["s0", "s1"],
        ["s2", "s3"],
        ["s4"],
    ]
    assert all_pages(lambda **kw: list_students(a, class_id="none", **kw), 2) == [[]]
    # And a page's size may change between pages
    first, cursor = list_students(a, class_id=None, limit=2, cursor=None)
    rest, end = list_students(a, class_id=None, limit=10, cursor=cursor)
    assert [s.student_id for s, _ in first + rest] == ["s0", "s1", "s2", "s3", "s4", "t0", "t1"]
    assert end is None
    # And a cursor serves only its organisation and its query
    with pytest.raises(InvalidCursor):
        list_students(b, class_id=None, limit=2, cursor=cursor)
    with pytest.raises(InvalidCursor):
        list_students(a, class_id="math", limit=2, cursor=cursor)


def test_a_student_being_erased_is_not_listed(clients: dict[str, Any]) -> None:
    records = org("list-erasing", clients)
    students(records, ["e1", "e2"], ("art",))
    RosterRepo(records).mark_erasing("e1")
    records.update(records.key("STUDENT", "e2"), "PROFILE", {"face_count": 3})
    # A page holding only a student being erased still leads to the next one
    assert all_pages(lambda **kw: list_students(records, class_id=None, **kw), 1) == [[], ["e2"]]
    assert all_pages(lambda **kw: list_students(records, class_id="art", **kw), 1) == [[], ["e2"]]
    # And a listed student comes with its face count
    assert list_students(records, class_id=None, limit=5, cursor=None)[0] == [
        (Student("e2", "E2", ("art",), T0), 3)
    ]
    assert [s.student_id for s, _ in list_students(records, class_id=None, limit=10, cursor=None)[0]] == [
        "e2"
    ]
    assert [s.student_id for s, _ in list_students(records, class_id="art", limit=10, cursor=None)[0]] == [
        "e2"
    ]


def test_changing_a_student_moves_them_between_rosters_and_is_audited(clients: dict[str, Any]) -> None:
    records = org("patch-a", clients)
    students(records, ["ann"], ("math", "bio"))
    # When a teacher renames Ann and moves her from bio to art
    who = Principal("mrs-lee", records.org, Role.TEACHER)
    after = update_student(records, who, "ann", name=" Ann Lee ", class_ids=["math", "art"], now=NOW)
    # Then the profile, the memberships and the rosters say so
    assert (after.name, after.class_ids) == ("Ann Lee", ("math", "art"))
    roster = RosterRepo(records)
    assert roster.get("ann") == Student("ann", "Ann Lee", ("math", "art"), T0)
    assert (roster.members("math"), roster.members("art"), roster.members("bio")) == (["ann"], ["ann"], [])
    assert [s.student_id for s, _ in list_students(records, class_id="art", limit=5, cursor=None)[0]] == [
        "ann"
    ]
    # And the audit log says what changed, but not the names
    (entry,) = AuditLog(records).for_subject("student:ann")
    assert (entry.actor, entry.action) == ("mrs-lee", "student.updated")
    assert entry.details == {
        "fields": ["name", "class_ids"],
        "class_ids": {"from": ["math", "bio"], "to": ["math", "art"]},
    }
    assert "Ann" not in str(entry.details)
    # And a field left out is kept; a change to nothing writes no entry
    assert update_student(records, who, "ann", name=None, class_ids=None, now=NOW).name == "Ann Lee"
    assert update_student(records, who, "ann", name="Ann Lee", class_ids=None, now=NOW).class_ids == (
        "math",
        "art",
    )
    assert len(AuditLog(records).for_subject("student:ann")) == 1


def test_changing_an_unknown_erased_or_erasing_student_is_404(clients: dict[str, Any]) -> None:
    records = org("patch-b", clients)
    students(records, ["gone", "going"], ("math",))
    RosterRepo(records).delete("gone")
    RosterRepo(records).mark_erasing("going")
    who = admin(records)
    for sid in ("nobody", "gone", "going"):
        with pytest.raises(NotFound) as refused:
            update_student(records, who, sid, name="X", class_ids=["art"], now=NOW)
        assert refused.value.code == "STUDENT_NOT_FOUND"
    # And nothing was written for them: no profile back, no membership
    assert RosterRepo(records).get("gone") is None
    assert RosterRepo(records).members("art") == []


def test_parallel_changes_leave_the_memberships_the_profile_lists(clients: dict[str, Any]) -> None:
    # Given a student in one class, and 8 teachers moving them each to another class at once
    records = org("patch-race", clients)
    students(records, ["zoe"], ("orig",))
    who = admin(records)
    outcomes: list[str] = []

    def move(i: int) -> None:
        try:
            update_student(records, who, "zoe", name=None, class_ids=[f"c{i}"], now=NOW)
            outcomes.append("moved")
        except ConcurrentUpdate:
            outcomes.append("409")

    threads = [threading.Thread(target=move, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    # Then at least one moved them, the others were told to retry
    assert len(outcomes) == 8 and "moved" in outcomes
    # And the classes whose roster holds them are exactly the profile's classes
    roster = RosterRepo(records)
    profile = roster.get("zoe")
    assert profile is not None and len(profile.class_ids) == 1
    holding = [c for c in ["orig", *(f"c{i}" for i in range(8))] if "zoe" in roster.members(c)]
    assert holding == list(profile.class_ids)
    # And every move that happened is in the audit log
    assert len(AuditLog(records).for_subject("student:zoe")) == outcomes.count("moved")


def make_sessions(records: OrgRecords, specs: list[tuple[str, str, datetime]]) -> None:
    repo = SessionRepo(records)
    for sid, class_id, start in specs:
        repo.create(Session(sid, class_id, start, start + HOUR), created_by="t", created_at=T0)


def test_sessions_are_listed_by_start_across_months_and_by_class(clients: dict[str, Any]) -> None:
    # Given sessions of two classes across August, September and October, and another org's
    records, other = org("sess-a", clients), org("sess-b", clients)
    specs = [
        ("m-aug", "math", datetime(2026, 8, 31, 9, tzinfo=UTC)),
        ("b-sep1", "bio", datetime(2026, 9, 1, 9, tzinfo=UTC)),
        ("m-sep7", "math", datetime(2026, 9, 7, 9, tzinfo=UTC)),
        ("m-sep7b", "math", datetime(2026, 9, 7, 9, tzinfo=UTC)),
        ("b-sep30", "bio", datetime(2026, 9, 30, 23, tzinfo=UTC)),
        ("m-oct2", "math", datetime(2026, 10, 2, 9, tzinfo=UTC)),
        ("m-2025", "math", datetime(2025, 1, 5, 9, tzinfo=UTC)),
    ]
    make_sessions(records, specs)
    make_sessions(other, [("m-sep7", "math", datetime(2026, 9, 7, 9, tzinfo=UTC))])

    def org_wide(**kw: Any) -> Any:
        return list_sessions(
            records,
            class_id=None,
            since=datetime(2026, 8, 1, tzinfo=UTC),
            until=datetime(2026, 10, 31, tzinfo=UTC),
            now=NOW,
            **kw,
        )

    # Then the organisation's window pages by start, across the month shards, 2 at a time
    assert all_pages(org_wide, 2) == [["m-aug", "b-sep1"], ["m-sep7", "m-sep7b"], ["b-sep30", "m-oct2"]]
    assert all_pages(org_wide, 6) == [["m-aug", "b-sep1", "m-sep7", "m-sep7b", "b-sep30", "m-oct2"]]

    def maths(**kw: Any) -> Any:
        return list_sessions(records, class_id="math", since=None, until=None, now=NOW, **kw)

    # And a class's sessions, whatever their dates
    assert all_pages(maths, 3) == [["m-2025", "m-aug", "m-sep7"], ["m-sep7b", "m-oct2"]]
    # And a window cuts them (a date's `to` reaches its end)
    sept = list_sessions(
        records,
        class_id=None,
        since=datetime(2026, 9, 1, tzinfo=UTC),
        until=datetime(2026, 9, 30, 23, 59, 59, tzinfo=UTC),
        limit=50,
        cursor=None,
        now=NOW,
    )
    assert [s.session_id for s in sept[0]] == ["b-sep1", "m-sep7", "m-sep7b", "b-sep30"]
    # And the default window is 30 days either side of now
    default = list_sessions(records, class_id=None, since=None, until=None, limit=50, cursor=None, now=NOW)
    assert [s.session_id for s in default[0]] == ["m-aug", "b-sep1", "m-sep7", "m-sep7b", "b-sep30", "m-oct2"]
    # And a cursor is refused for other filters or another organisation
    _, cursor = org_wide(limit=2, cursor=None)
    with pytest.raises(InvalidCursor):
        maths(limit=2, cursor=cursor)
    with pytest.raises(InvalidCursor):
        list_sessions(other, class_id=None, since=datetime(2026, 8, 1, tzinfo=UTC),
                      until=datetime(2026, 10, 31, tzinfo=UTC), now=NOW, limit=2, cursor=cursor)  # fmt: skip


def test_deleting_a_session_deletes_what_hangs_off_it_and_is_audited(clients: dict[str, Any]) -> None:
    # Given two sessions of a class with records, a marking event and a kept photo with its annotated copy
    records = org("del-a", clients)
    students(records, ["ann", "ben"], ("math",))
    make_sessions(records, [("m-1", "math", T0), ("m-2", "math", T0 + timedelta(days=7))])
    repo, attendance = SessionRepo(records), AttendanceRepo(records)
    sessions = repo.get_many(["m-1", "m-2"])
    for s in sessions.values():
        attendance.write_many(
            [s.record("ann", Status.PRESENT), s.record("ben", Status.ABSENT)], mode="replace"
        )
    MarkingRepo(records).put("m-1", "a" * 64, T0, {"class_id": "math", "present": ["ann"], "faces": []})
    photos = PhotoStore(records.org, clients["bucket"], keep=True, client=clients["s3"])
    photos.put_marking("m-1", "a" * 64, b"jpeg bytes", "JPEG")
    photos.put_marking("m-2", "b" * 64, b"jpeg bytes", "JPEG")
    photos.put_annotated("m-1", "a" * 64, b"annotated jpeg")
    photos.put_annotated("m-2", "b" * 64, b"annotated jpeg")
    # When an admin deletes m-1
    counts = delete_session(records, admin(records), "m-1", photos, now=NOW)
    # Then it answers what went, and none of it is stored any more
    assert counts == {"session": 1, "attendance_records": 2, "marking_events": 1, "photos": 2}
    assert repo.get("m-1") is None
    assert list(records.query(records.key("SESSION", "m-1"))) == []
    assert [r.session_id for r in attendance.for_student("ann")] == ["m-2"]
    assert [s.session_id for s in repo.for_class("math")] == ["m-2"]
    assert MarkingRepo(records).get("m-1", "a" * 64) is None
    listed = clients["s3"].list_objects_v2(Bucket=clients["bucket"], Prefix=f"marking/{records.org}/")
    assert [o["Key"] for o in listed.get("Contents", [])] == [f"marking/{records.org}/m-2/{'b' * 64}.jpg"]
    listed = clients["s3"].list_objects_v2(Bucket=clients["bucket"], Prefix=f"annotated/{records.org}/")
    assert [o["Key"] for o in listed.get("Contents", [])] == [f"annotated/{records.org}/m-2/{'b' * 64}.jpg"]
    # And the other session is whole
    assert len(attendance.for_session("m-2")) == 2
    # And the audit log has who, when and what; the anomaly scan's window drops the session
    (entry,) = AuditLog(records).for_subject("session:m-1")
    assert (entry.actor, entry.action, entry.details["class_id"]) == ("root", "session.deleted", "math")
    assert entry.details["attendance_records"] == 2
    assert _erased_since(records, NOW - HOUR, NOW + HOUR) == (set(), {"m-1"})
    # And deleting it again, or one that never was, is 404
    for sid in ("m-1", "never"):
        with pytest.raises(NotFound) as refused:
            delete_session(records, admin(records), sid, photos, now=NOW)
        assert refused.value.code == "SESSION_NOT_FOUND"


def test_corrections_take_excused_a_late_arrival_and_keep_the_note(clients: dict[str, Any]) -> None:
    records = org("corr-a", clients)
    students(records, ["ann", "ben"], ("math",))
    make_sessions(records, [("m-1", "math", T0)])
    who = Principal("mrs-lee", records.org, Role.TEACHER)
    attendance = AttendanceRepo(records)

    # An excused absence, with its reason
    excused = correct(records, who, "m-1", "ann", status=Status.EXCUSED, note="doctor", now=NOW)
    assert (excused.status, excused.note, excused.source) == (Status.EXCUSED, "doctor", Source.CORRECTION)
    # A PATCH without a note keeps the note; a late arrival is stored
    arrived = T0 + timedelta(minutes=12)
    late = correct(records, who, "m-1", "ann", status=Status.LATE, note=KEEP, arrived_at=arrived, now=NOW)
    stored = attendance.get("m-1", "ann")
    assert stored is not None
    assert (stored.status, stored.note, stored.arrived_at, stored.minutes_late) == (
        Status.LATE,
        "doctor",
        arrived,
        12.0,
    )
    assert late == stored
    # A later correction without arrived_at keeps the arrival; note=None clears the note
    again = correct(records, who, "m-1", "ann", status=Status.LATE, note=None, now=NOW)
    assert (again.arrived_at, again.note) == (arrived, None)
    # An arrival before the start or on another day is refused, and nothing is written
    for bad in (T0 - timedelta(minutes=5), T0 + timedelta(days=1)):
        with pytest.raises(ValidationFailed) as refused:
            correct(records, who, "m-1", "ben", status=Status.LATE, note=KEEP, arrived_at=bad, now=NOW)
        assert refused.value.code == "INVALID_ARRIVAL"
    assert attendance.get("m-1", "ben") is None
    # A photo cannot override an excused absence
    session = SessionRepo(records).require("m-1")
    correct(records, who, "m-1", "ben", status=Status.EXCUSED, note=KEEP, now=NOW)
    assert attendance.write(session.record("ben", Status.PRESENT, source=Source.FACE), mode="merge") is False
    assert attendance.get("m-1", "ben").status is Status.EXCUSED  # type: ignore[union-attr]
    # Every correction is audited with the arrival it set (the three have one time: any order)
    entries = AuditLog(records).for_subject("attendance:m-1:ann")
    assert sorted(
        (e.details["to"], e.details.get("arrived_at") or "", e.details["note"] or "") for e in entries
    ) == [
        ("excused", "", "doctor"),
        ("late", "", ""),
        ("late", "2026-09-07T09:12:00Z", "doctor"),
    ]
