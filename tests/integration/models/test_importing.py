"""The attendance import on moto: validated whole against the file and the store, written once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rollcall.domain import AttendanceRecord, Session, Student, class_id_for
from rollcall.platform.auth import Principal, Role
from rollcall.platform.errors import InvalidCsv
from rollcall.services import importing
from rollcall.services.importing import import_csv
from rollcall.store.attendance import AttendanceRepo, SessionRepo
from rollcall.store.audit import AuditLog
from rollcall.store.classes import ClassRepo
from rollcall.store.roster import RosterRepo
from tests.integration.models.conftest import NOW, Stores

HEADER = "student_id,class_id,session_id,starts_at,ends_at,status,arrived_at\n"
ROWS = [
    "ann,bio,bio-1,2026-09-07T09:00:00Z,2026-09-07T10:00:00Z,present,2026-09-07T08:59:00Z\n",
    "ben,bio,bio-1,2026-09-07T09:00:00Z,2026-09-07T10:00:00Z,absent,\n",
    "ann,art,art-1,2026-09-08T11:00:00+02:00,2026-09-08T12:00:00+02:00,late,2026-09-08T11:10:00+02:00\n",
]


def who(org: str) -> Principal:
    return Principal("mr-ito", org, Role.TEACHER)


def table_size(stores: Stores) -> int:
    """Items in the records table (the tests of this module run one at a time)."""
    return int(stores.aws.client("dynamodb").scan(TableName=stores.records_table, Select="COUNT")["Count"])


def test_a_file_is_imported_with_profiles_memberships_and_sessions_then_replayed(stores: Stores) -> None:
    records = stores.records("imp-a")
    RosterRepo(records).create(Student("ann", "Ann Lee", ("math",)), created_by="t", created_at=NOW)

    result = import_csv(records, who("imp-a"), HEADER + "".join(ROWS), now=NOW)

    assert (result.rows, result.records_written, result.sessions_created, result.students_created) == (
        3,
        3,
        2,
        1,
    )
    roster = RosterRepo(records)
    assert roster.require("ann").class_ids == ("math", "art", "bio")  # the known student keeps her name
    assert roster.require("ann").name == "Ann Lee" and roster.require("ben").name == "ben"
    assert sorted(roster.members("bio")) == ["ann", "ben"]
    art = SessionRepo(records).require("art-1")
    assert (art.class_id, art.starts_at.hour) == ("art", 9)  # stored in UTC
    late = AttendanceRepo(records).get("art-1", "ann")
    assert late is not None and (late.status.value, late.source.value, late.marked_by) == (
        "late",
        "import",
        "mr-ito",
    )
    (entry,) = AuditLog(records).for_subject(f"import:{result.import_id}")
    assert (entry.action, entry.details["records_written"]) == ("attendance.imported", 3)

    # The same attendance in another order and notation adds nothing
    reordered = HEADER.replace("status,arrived_at", "arrived_at,status")
    reordered += "".join(
        ",".join([*r.rstrip("\n").split(",")[:5], r.rstrip("\n").split(",")[6], r.split(",")[5]]) + "\n"
        for r in reversed(ROWS)
    )
    before = table_size(stores)
    again = import_csv(records, who("imp-a"), reordered, now=NOW)
    assert (again.replayed, again.records_written, again.import_id) == (True, 0, result.import_id)
    assert table_size(stores) == before


def test_a_bad_file_writes_nothing(stores: Stores) -> None:
    before = table_size(stores)
    bad = (
        HEADER
        + ROWS[0]
        + "cat,bio,bio-1,2026-09-07T09:00:00Z,2026-09-07T10:00:00Z,absent,2026-09-07T09:00:00Z\n"
    )
    with pytest.raises(InvalidCsv) as refused:
        import_csv(stores.records("imp-b"), who("imp-b"), bad, now=NOW)
    reason = "arrived_at is given for an absence (absent)"
    assert refused.value.detail["errors"] == [{"line": 3, "reason": reason}]
    assert table_size(stores) == before


def test_a_session_that_exists_with_other_times_is_a_bad_row(stores: Stores) -> None:
    records = stores.records("imp-c")
    starts = datetime(2026, 9, 7, 9, 0, tzinfo=UTC)
    stored = Session("bio-1", "bio", starts, starts + timedelta(hours=2))  # the file says one hour
    SessionRepo(records).create(stored, created_by="t", created_at=NOW)
    before = table_size(stores)

    with pytest.raises(InvalidCsv) as refused:
        import_csv(records, who("imp-c"), HEADER + "".join(ROWS), now=NOW)

    (error,) = refused.value.detail["errors"]
    assert error["line"] == 2 and "session bio-1 exists with class bio" in error["reason"]
    assert table_size(stores) == before


def test_twenty_parallel_imports_of_one_file_store_it_once_and_audit_it_once(stores: Stores) -> None:
    # Given 20 clients sending the same file at once
    records = stores.records("imp-race")
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(
            pool.map(
                lambda _: import_csv(records, who("imp-race"), HEADER + "".join(ROWS), now=NOW), range(20)
            )
        )
    # Then the data is exact, and the import is in the audit log once
    (import_id,) = {r.import_id for r in results}
    assert sum(not r.replayed for r in results) == 1
    assert len(AuditLog(records).for_subject(f"import:{import_id}")) == 1
    assert [(r.student_id, r.status.value) for r in AttendanceRepo(records).for_session("bio-1")] == [
        ("ann", "present"),
        ("ben", "absent"),
    ]


def test_classes_given_by_name_are_stored_under_derived_ids_with_their_names(stores: Stores) -> None:
    records = stores.records("imp-names")
    text = (
        "student_id,class_id,session_id,starts_at,ends_at,status\n"
        "29872499824296,JARDIM DA PENHA,5642903,2016-04-29T18:38:08Z,2016-04-29T19:38:08Z,present\n"
        "558997776694438,REPÚBLICA,5642503,2016-04-29T16:08:27Z,2016-04-29T17:08:27Z,absent\n"
    )
    result = import_csv(records, who("imp-names"), text.encode(), now=NOW)

    jardim, republica = class_id_for("JARDIM DA PENHA"), class_id_for("REPÚBLICA")
    assert result.classes == {jardim: "JARDIM DA PENHA", republica: "REPÚBLICA"}
    assert ClassRepo(records).name(jardim) == "JARDIM DA PENHA"
    assert ClassRepo(records).name(republica) == "REPÚBLICA"
    assert SessionRepo(records).require("5642903").class_id == jardim
    assert RosterRepo(records).members(republica) == ["558997776694438"]
    assert RosterRepo(records).require("558997776694438").class_ids == (republica,)


def test_an_import_cut_short_resumes_where_its_marker_says(
    stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = stores.records("imp-resume")
    monkeypatch.setattr(importing, "CHUNK_ROWS", 40)
    start = datetime(2026, 9, 7, 9, tzinfo=UTC)
    rows = [
        f"s{i % 10},res,res-{i // 10},{start + timedelta(days=i // 10):%Y-%m-%dT%H:%M:%SZ},"
        f"{start + timedelta(days=i // 10, hours=1):%Y-%m-%dT%H:%M:%SZ},present,\n"
        for i in range(100)
    ]
    data = HEADER + "".join(rows)
    written: list[int] = []  # the size of each chunk written
    dying = [True]
    real_write = AttendanceRepo.write_many

    def write(self: AttendanceRepo, chunk: list[AttendanceRecord], **kwargs: Any) -> int:
        if dying[0] and written:
            raise ConnectionError("the worker died")
        written.append(len(chunk))
        return real_write(self, chunk, **kwargs)

    monkeypatch.setattr(AttendanceRepo, "write_many", write)
    # Given an import that died after its first chunk
    with pytest.raises(ConnectionError):
        import_csv(records, who("imp-resume"), data, now=NOW)
    marker = records.get(records.key("IMPORT", importing.check(data).content_hash), "META", consistent=True)
    assert marker is not None and (marker["status"], marker["rows_written"]) == ("importing", 40)

    # When the file is imported again
    dying[0] = False
    result = import_csv(records, who("imp-resume"), data, now=NOW)

    # Then it writes only the rows after the first chunk, and every record is there once
    assert written == [40, 40, 20]
    assert (result.rows, result.records_written, result.replayed) == (100, 100, False)
    stored = sum(len(AttendanceRepo(records).for_session(f"res-{d}")) for d in range(10))
    assert stored == 100
