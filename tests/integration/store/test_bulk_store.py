"""Bulk paths of the records table on the emulator: batch writes, batch reads, parallel queries."""

from __future__ import annotations

from typing import Any

import pytest

from rollcall.platform.errors import WrongOrganisation
from rollcall.store.table import OrgRecords
from rollcall_local.emulator import Aws
from rollcall_local.template import Physical


@pytest.fixture(scope="module")
def records(aws: Aws, physical: Physical) -> OrgRecords:
    return OrgRecords("bulk-school", physical.refs["RecordsTable"], client=aws.client("dynamodb"))


def items(records: OrgRecords, partitions: int, per: int) -> list[dict[str, Any]]:
    return [
        {
            "pk": records.key("P", str(p)),
            "sk": f"I#{i:04d}",
            "kind": "bulk",
            "n": p * 1000 + i,
            "pad": "x" * 50,
        }
        for p in range(partitions)
        for i in range(per)
    ]


def test_batch_put_then_batch_get_and_parallel_queries_read_back_every_item(records: OrgRecords) -> None:
    # Given 7 partitions of 41 items written in batches (287 items: 12 requests of at most 25)
    stored = items(records, 7, 41)
    chunks: list[int] = []
    assert records.batch_put(stored, on_chunk=chunks.append) == 287
    assert sum(chunks) == 287 and max(chunks) == 25
    # When they are read back by key, 100 keys a request, with a projection
    keys = [(i["pk"], i["sk"]) for i in stored] + [(records.key("P", "none"), "I#0000")]
    found = records.batch_get(keys, attributes=("n",), consistent=True)
    # Then every stored item is found (the missing key is not), with only the asked attributes
    assert len(found) == 287
    assert found[(records.key("P", "3"), "I#0005")] == {
        "pk": records.key("P", "3"),
        "sk": "I#0005",
        "n": 3005,
    }
    # And the partitions read on several threads come back whole, each in sort-key order
    pages = records.query_many(
        [(records.key("P", str(p)), None) for p in range(7)]
        + [(records.key("P", "2"), ("I#0010", "I#0019"))],
        attributes=("n",),
        workers=3,
    )
    assert [[i["n"] for i in page] for page in pages[:7]] == [
        [p * 1000 + i for i in range(41)] for p in range(7)
    ]
    assert [i["n"] for i in pages[7]] == list(range(2010, 2020))


def test_bulk_paths_refuse_other_organisations_keys(records: OrgRecords) -> None:
    other = "ORG#elsewhere#P#1"
    with pytest.raises(WrongOrganisation):
        records.batch_put([{"pk": other, "sk": "x"}])
    with pytest.raises(WrongOrganisation):
        records.batch_get([(other, "x")])
    with pytest.raises(WrongOrganisation):
        records.query_many([(other, None)])


def test_batch_delete_removes_them(records: OrgRecords) -> None:
    stored = items(records, 1, 30)
    records.batch_put(stored)
    assert records.batch_delete((i["pk"], i["sk"]) for i in stored) == 30
    assert records.batch_get([(i["pk"], i["sk"]) for i in stored], consistent=True) == {}


def test_a_marking_reads_its_session_once_and_keeps_the_write_rules(records: OrgRecords) -> None:
    from rollcall.domain import Source, Status
    from rollcall.store.attendance import AttendanceRepo
    from tests.integration.store.test_store import record

    att = AttendanceRepo(records)
    # Given a session where a teacher corrected s1 to absent and a photo saw s2 present
    att.write(record("s1", "bm1", Status.ABSENT, source=Source.CORRECTION), mode="replace")
    att.write(record("s2", "bm1", Status.PRESENT, distance=0.4), mode="merge")
    roster = [f"s{i}" for i in range(1, 61)]
    seen = [
        record("s1", "bm1", Status.PRESENT, distance=0.3),
        record("s2", "bm1", Status.UNCERTAIN, distance=0.55),
        record("s3", "bm1", Status.PRESENT, distance=0.35),
    ]
    absent = [record(s, "bm1", Status.ABSENT, source=Source.ROSTER) for s in roster[3:]]
    # When a photo is marked: s1, s2, s3 seen, the other 57 absent
    assert att.write_marking(seen, absent) == 58
    # Then the correction stands, present is not lowered, s3 is present and every other absent
    stored = {r.student_id: r for r in att.for_session("bm1")}
    assert len(stored) == 60
    assert (stored["s1"].status, stored["s1"].source) == (Status.ABSENT, Source.CORRECTION)
    assert (stored["s2"].status, stored["s2"].distance) == (Status.PRESENT, 0.4)
    assert stored["s3"].status == Status.PRESENT
    assert {s for s, r in stored.items() if r.status == Status.ABSENT} == {"s1", *roster[3:]}
    # And sending the same marking again writes nothing
    assert att.write_marking(seen, absent) == 0
    # And a later photo raises an absent student without touching the rest
    assert att.write_marking([record("s9", "bm1", Status.UNCERTAIN, distance=0.58)], absent) == 1
    assert att.get("bm1", "s9").status == Status.UNCERTAIN  # type: ignore[union-attr]


def test_concurrent_markings_of_a_class_leave_one_record_per_student_at_its_highest(
    records: OrgRecords,
) -> None:
    import threading

    from rollcall.domain import AttendanceRecord, Source, Status
    from rollcall.store.attendance import AttendanceRepo
    from tests.integration.store.test_store import record

    att = AttendanceRepo(records)
    roster = [f"c{i}" for i in range(40)]
    # Photo k sees students k*5 .. k*5+9 (present) and marks the rest absent
    photos = [
        (
            [record(s, "bm2", Status.PRESENT, distance=0.3) for s in roster[k * 5 : k * 5 + 10]],
            [
                record(s, "bm2", Status.ABSENT, source=Source.ROSTER)
                for s in roster[: k * 5] + roster[k * 5 + 10 :]
            ],
        )
        for k in range(6)
    ]
    errors: list[BaseException] = []

    def mark(seen: list[AttendanceRecord], absent: list[AttendanceRecord]) -> None:
        try:
            att.write_marking(seen, absent)
        except BaseException as e:  # reported below, not lost in the thread
            errors.append(e)

    threads = [threading.Thread(target=mark, args=p) for p in photos]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    stored = att.for_session("bm2")
    assert sorted(r.student_id for r in stored) == sorted(roster)
    present = {r.student_id for r in stored if r.status == Status.PRESENT}
    assert present == set(roster[:35])


@pytest.mark.parametrize("conditional", [True, False])
def test_ensure_writes_only_the_sessions_not_stored_either_way(
    records: OrgRecords, conditional: bool
) -> None:
    from datetime import UTC, datetime, timedelta

    from rollcall.domain import Session
    from rollcall.store.attendance import SessionRepo

    repo = SessionRepo(records)
    begins = datetime(2026, 3, 2, 9, tzinfo=UTC)
    kind = "cond" if conditional else "batch"
    sessions = [
        Session(f"ens-{kind}-{i:02d}", "ens", begins + timedelta(days=i), begins + timedelta(days=i, hours=1))
        for i in range(30)
    ]
    # Given 4 of them stored already, by someone else
    assert repo.ensure(sessions[:4], created_by="other", created_at=begins) == 4
    # When all 30 are ensured
    made = repo.ensure(sessions, created_by="import", created_at=begins, conditional=conditional)
    # Then the 26 missing ones are written, and the stored ones are left as they were
    assert made == 26
    stored = repo.get_many(s.session_id for s in sessions)
    assert sorted(stored) == sorted(s.session_id for s in sessions)
    assert stored[sessions[5].session_id] == sessions[5]
    creators = {
        i["session_id"]: i["created_by"]
        for i in records.batch_get((records.key("SESSION", s.session_id), "META") for s in sessions).values()
    }
    assert [creators[s.session_id] for s in sessions[:5]] == ["other"] * 4 + ["import"]
    assert repo.ensure(sessions, created_by="again", created_at=begins, conditional=conditional) == 0
