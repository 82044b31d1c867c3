"""The store on the records table provisioned from the built template (moto's server).

Organisation isolation, the attendance write rules, the face limit, erasure and audit.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
import pytest

from rollcall.domain import AttendanceRecord, Session, Source, Status, Student
from rollcall.platform.errors import AlreadyExists, FaceLimit, NotFound, WrongOrganisation
from rollcall.store.attendance import AttendanceRepo, SessionRepo, months_between
from rollcall.store.audit import AuditLog
from rollcall.store.faces import FaceRepo
from rollcall.store.roster import RosterRepo
from rollcall.store.table import OrgDirectory, OrgRecords
from rollcall_local.emulator import Aws
from rollcall_local.template import Physical

T0 = datetime(2026, 9, 7, 9, 0, tzinfo=UTC)  # a Monday


@pytest.fixture(scope="module")
def dynamodb(aws: Aws) -> Any:
    return aws.client("dynamodb")


@pytest.fixture(scope="module")
def table(physical: Physical) -> str:
    return physical.refs["RecordsTable"]


def org(name: str, table: str, dynamodb: Any) -> OrgRecords:
    return OrgRecords(name, table, client=dynamodb)


def record(
    student: str,
    session: str,
    status: Status,
    *,
    source: Source = Source.FACE,
    start: datetime = T0,
    distance: float | None = None,
) -> AttendanceRecord:
    return AttendanceRecord(
        student_id=student,
        session_id=session,
        class_id="math",
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        status=status,
        source=source,
        distance=distance,
        marked_by="alice",
        marked_at=start,
    )


def test_an_organisation_cannot_address_another_organisations_keys(table: str, dynamodb: Any) -> None:
    # Given two organisations' views of one table
    a, b = org("school-a", table, dynamodb), org("school-b", table, dynamodb)
    a.put({"pk": a.key("STUDENT", "s0"), "sk": "PROFILE", "name": "Ann"})
    # When b reads, writes, queries or deletes with a's keys, Then each is refused
    with pytest.raises(WrongOrganisation):
        b.get(a.key("STUDENT", "s0"), "PROFILE")
    with pytest.raises(WrongOrganisation):
        b.put({"pk": a.key("STUDENT", "s0"), "sk": "PROFILE", "name": "Mallory"})
    with pytest.raises(WrongOrganisation):
        b.put({"pk": b.key("STUDENT", "s9"), "sk": "PROFILE", "gsi1pk": a.key("STUDENTS")})
    with pytest.raises(WrongOrganisation):
        list(b.query(a.key("STUDENT", "s0")))
    with pytest.raises(WrongOrganisation):
        b.delete(a.key("STUDENT", "s0"), "PROFILE")
    # And b's own key for the same id is another item
    assert b.get(b.key("STUDENT", "s0"), "PROFILE") is None
    assert (a.get(a.key("STUDENT", "s0"), "PROFILE") or {}).get("name") == "Ann"


def test_key_parts_cannot_smuggle_separators(table: str, dynamodb: Any) -> None:
    a = org("school-a", table, dynamodb)
    with pytest.raises(Exception, match="contains '#'"):
        a.key("STUDENT", "x#ORG#school-b")


def test_values_round_trip_without_decimals(table: str, dynamodb: Any) -> None:
    a = org("school-a", table, dynamodb)
    item = {
        "pk": a.key("T", "1"),
        "sk": "X",
        "i": 3,
        "f": 0.25,
        "b": b"\x00\x01",
        "l": [1, "x"],
        "m": {"k": None},
        "t": True,
    }
    a.put(item)
    assert a.get(str(item["pk"]), "X") == item


def test_roster_and_sessions(table: str, dynamodb: Any) -> None:
    a = org("school-a", table, dynamodb)
    roster, sessions = RosterRepo(a), SessionRepo(a)
    roster.create(Student("s1", "Ann", ("math", "art")), created_by="alice", created_at=T0)
    roster.create(Student("s2", "Ben", ("math",)), created_by="alice", created_at=T0)
    with pytest.raises(AlreadyExists):
        roster.create(Student("s1", "Again", ()), created_by="alice", created_at=T0)
    assert sorted(roster.members("math")) == ["s1", "s2"]
    assert roster.members("art") == ["s1"]
    sessions.create(
        Session("m1", "math", T0, T0 + timedelta(hours=1), "room 4"), created_by="alice", created_at=T0
    )
    later = T0 + timedelta(days=40)
    sessions.create(
        Session("m2", "math", later, later + timedelta(hours=1)), created_by="alice", created_at=T0
    )
    assert [s.session_id for s in sessions.for_class("math")] == ["m1", "m2"]
    assert [s.session_id for s in sessions.between(T0 + timedelta(days=1), later + timedelta(days=1))] == [
        "m2"
    ]
    assert sessions.require("m1").location == "room 4"
    with pytest.raises(NotFound):
        sessions.require("nope")
    assert roster.delete("s1") and roster.get("s1") is None
    assert roster.members("art") == []


def test_photos_only_raise_a_status_and_never_override_a_correction(table: str, dynamodb: Any) -> None:
    a = org("school-a", table, dynamodb)
    att = AttendanceRepo(a)
    # Given the roster's absent, When a photo sees the student uncertain then present, Then present
    assert att.write(record("s3", "x1", Status.ABSENT, source=Source.ROSTER), mode="if_absent")
    assert att.write(record("s3", "x1", Status.UNCERTAIN, distance=0.55), mode="merge")
    assert att.write(record("s3", "x1", Status.PRESENT, distance=0.41), mode="merge")
    # When a later photo is only uncertain, Then present stays
    assert not att.write(record("s3", "x1", Status.UNCERTAIN, distance=0.58), mode="merge")
    assert (kept := att.get("x1", "s3")) and kept.status == Status.PRESENT
    assert kept.distance == pytest.approx(0.41)
    # When a teacher corrects to absent, Then no photo brings it back
    assert att.write(record("s3", "x1", Status.ABSENT, source=Source.CORRECTION), mode="replace")
    assert not att.write(record("s3", "x1", Status.PRESENT, distance=0.3), mode="merge")
    assert (kept := att.get("x1", "s3")) and kept.status == Status.ABSENT
    # And the roster never overwrites a record
    assert not att.write(record("s3", "x1", Status.ABSENT, source=Source.ROSTER), mode="if_absent")


def test_concurrent_markings_leave_one_record_per_student(table: str, dynamodb: Any) -> None:
    a = org("school-a", table, dynamodb)
    att = AttendanceRepo(a)
    statuses = [Status.UNCERTAIN, Status.PRESENT, Status.ABSENT] * 7

    def mark(status: Status) -> None:
        mode: Literal["if_absent", "merge"] = "if_absent" if status == Status.ABSENT else "merge"
        att.write(
            record("s4", "x2", status, source=Source.ROSTER if status == Status.ABSENT else Source.FACE),
            mode=mode,
        )

    threads = [threading.Thread(target=mark, args=(s,)) for s in statuses]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    records = att.for_session("x2")
    assert [(r.student_id, r.status) for r in records] == [("s4", Status.PRESENT)]


def test_history_queries_and_erasure(table: str, dynamodb: Any) -> None:
    a = org("school-b", table, dynamodb)
    att = AttendanceRepo(a)
    days = [T0 + timedelta(days=7 * i) for i in range(10)]  # spans three months
    att.write_many(
        [record("s5", f"w{i}", Status.PRESENT, start=d) for i, d in enumerate(days)], mode="replace"
    )
    att.write_many(
        [record("s6", f"w{i}", Status.ABSENT, start=d) for i, d in enumerate(days)], mode="replace"
    )
    assert len(months_between(days[0], days[-1])) == 3
    before = att.for_student("s5", before=days[5])
    assert [r.session_id for r in before] == [f"w{i}" for i in range(5)]
    window = list(att.between(days[2], days[4]))
    assert {(r.session_id, r.student_id) for r in window} == {
        (f"w{i}", s) for i in (2, 3, 4) for s in ("s5", "s6")
    }
    assert [r.starts_at for r in window] == sorted(r.starts_at for r in window)
    # When s5 is erased, Then s6's records are untouched
    assert att.delete_student("s5") == 10
    assert att.for_student("s5") == []
    assert len(att.for_student("s6")) == 10


def test_face_limit_is_atomic_and_gallery_has_the_embeddings(table: str, dynamodb: Any) -> None:
    a = org("school-c", table, dynamodb)
    RosterRepo(a).create(Student("s7", "Cat", ("math",)), created_by="alice", created_at=T0)
    faces = FaceRepo(a)
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(6, 128)).astype(np.float32)
    errors: list[Exception] = []

    def enrol(i: int) -> None:
        try:
            faces.add(
                "s7",
                vectors[i],
                box={"top": 1, "right": 2, "bottom": 3, "left": 0},
                quality={"sharpness": 1.0},
                photo_hash=f"h{i}",
                created_by="alice",
                created_at=T0,
                max_faces=4,
            )
        except FaceLimit as e:
            errors.append(e)

    threads = [threading.Thread(target=enrol, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    # Then exactly four faces were stored and two enrolments were refused
    assert len(faces.of_student("s7")) == 4 and len(errors) == 2
    labels, matrix = faces.gallery({"s7"})
    assert labels == ["s7"] * 4 and matrix.dtype == np.float32 and matrix.shape == (4, 128)
    stored = {f.photo_hash for f in faces.of_student("s7")}
    expected = np.stack([vectors[int(h[1:])] for h in sorted(stored)])
    assert sorted(map(tuple, matrix.tolist())) == sorted(map(tuple, expected.tolist()))
    with pytest.raises(NotFound):
        faces.add(
            "ghost",
            vectors[0],
            box={},
            quality={},
            photo_hash="h",
            created_by="a",
            created_at=T0,
            max_faces=4,
        )
    # And deleting one frees a place
    assert faces.delete("s7", faces.of_student("s7")[0].face_id)
    faces.add(
        "s7", vectors[5], box={}, quality={}, photo_hash="h5b", created_by="a", created_at=T0, max_faces=4
    )
    assert faces.delete_all("s7") == 4 and faces.gallery({"s7"})[0] == []


def test_audit_log_and_directory(table: str, dynamodb: Any) -> None:
    a = org("school-d", table, dynamodb)
    log = AuditLog(a)
    log.append(
        actor="alice",
        action="attendance.corrected",
        subject="attendance:x1:s3",
        at=T0,
        details={"to": "absent"},
    )
    log.append(
        actor="bob", action="attendance.corrected", subject="attendance:x1:s3", at=T0 + timedelta(minutes=1)
    )
    entries = log.for_subject("attendance:x1:s3")
    assert [(e.actor, e.details) for e in entries] == [("alice", {"to": "absent"}), ("bob", {})]
    directory = OrgDirectory(table, client=dynamodb)
    directory.register("school-d")
    directory.register("school-d")
    directory.register("school-e")
    assert {"school-d", "school-e"} <= set(directory.organisations())
