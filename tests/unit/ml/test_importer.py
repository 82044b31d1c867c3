"""CSV import: good files parse whole, bad rows are reported by line and nothing is returned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rollcall.domain import Source, Status, class_id_for
from rollcall.ml import history_csv as importer
from rollcall.platform import errors

HEADER = "student_id,class_id,session_id,starts_at,ends_at,status,arrived_at"
GOOD = [
    "s1,c1,c1-0504,2026-05-04T09:00:00Z,2026-05-04T09:50:00Z,present,2026-05-04T09:02:00Z",
    "s2,c1,c1-0504,2026-05-04T09:00:00Z,2026-05-04T09:50:00Z,late,2026-05-04T09:12:00Z",
    "s3,c1,c1-0504,2026-05-04T09:00:00Z,2026-05-04T09:50:00Z,absent,",
    "s1,c2,c2-0505,2026-05-05T11:00:00+02:00,2026-05-05T11:50:00+02:00,Present,",
]


def _csv(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def test_a_good_file_gives_every_record_and_its_sessions() -> None:
    parsed = importer.parse(b"\xef\xbb\xbf" + _csv(*GOOD))  # with a byte order mark
    assert [(r.student_id, r.status) for r in parsed.records] == [
        ("s1", Status.PRESENT),
        ("s2", Status.LATE),
        ("s3", Status.ABSENT),
        ("s1", Status.PRESENT),
    ]
    first = parsed.records[0]
    assert first.starts_at == datetime(2026, 5, 4, 9, tzinfo=UTC)
    assert first.minutes_late == 2
    assert first.source is Source.IMPORT
    assert parsed.records[2].arrived_at is None
    assert parsed.records[3].starts_at == datetime(2026, 5, 5, 9, tzinfo=UTC)  # the offset is honoured
    assert sorted(s.session_id for s in parsed.sessions) == ["c1-0504", "c2-0505"]


def test_bad_rows_are_reported_with_their_lines_and_nothing_is_returned() -> None:
    rows = [
        GOOD[0],  # line 2
        "s2,c1,c1-0504,2026-05-04T09:00:00Z,2026-05-04T09:50:00Z,sick,",  # 3: status
        "s3,c1,c1-0504,yesterday,2026-05-04T09:50:00Z,absent,",  # 4: time
        "",  # 5: a blank line is skipped, not a row
        "s1,c1,c1-0504,2026-05-04T09:00:00Z,2026-05-04T09:50:00Z,present,",  # 6: duplicate of line 2
        "s4,c9,c1-0504,2026-05-04T09:00:00Z,2026-05-04T09:50:00Z,present,",  # 7: another class
        "s5,c1,c1-0505,2026-05-05T09:00:00Z,2026-05-05T08:00:00Z,present,",  # 8: ends before start
        "s6,c1,c1-0504,2026-05-04T09:00:00Z,2026-05-04T09:50:00Z,absent,2026-05-04T09:05:00Z",  # 9
        "s7,c1,c1-0504,2026-05-04T09:00:00Z,2026-05-04T09:50:00Z,late,2026-05-04T12:00:00Z",  # 10
        "s 8,c1,c1-0504,2026-05-04T09:00:00Z,2026-05-04T09:50:00Z,present,",  # 11: id
        "s9,c1,c1-0504,2026-05-04T09:00:00Z",  # 12: short
        GOOD[1],  # line 13: fine
    ]
    with pytest.raises(errors.InvalidCsv) as caught:
        importer.parse(_csv(*rows))
    assert caught.value.status == 422
    detail = caught.value.detail
    reasons = {e["line"]: e["reason"] for e in detail["errors"]}
    assert sorted(reasons) == [3, 4, 6, 7, 8, 9, 10, 11, 12]
    assert "status must be present, absent, late or excused" in reasons[3]
    assert "starts_at is not an ISO-8601 time" in reasons[4]
    assert "(line 2)" in reasons[6]
    assert "another class or times at line 2" in reasons[7]
    assert "ends_at must be after starts_at" in reasons[8]
    assert "arrived_at is given for an absence" in reasons[9]
    assert "arrived_at must lie between" in reasons[10]
    assert "student_id must be" in reasons[11]
    assert "expected 7 fields, found 4" in reasons[12]
    assert (detail["error_count"], detail["rows"]) == (9, 11)


def test_quoted_fields_spanning_lines_keep_line_numbers_honest() -> None:
    rows = ['s1,c1,c1-0504,2026-05-04T09:00:00Z,2026-05-04T09:50:00Z,"pre\nsent",', GOOD[1]]
    with pytest.raises(errors.InvalidCsv) as caught:
        importer.parse(_csv(*rows))
    assert [e["line"] for e in caught.value.detail["errors"]] == [3]  # the row ends on line 3


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("student_id,class_id,session_id,starts_at,ends_at", "missing column(s): status"),
        (HEADER + ",teacher", "unknown column(s): teacher"),
        (HEADER + ",status", "repeated column(s): status"),
    ],
)
def test_a_bad_header_is_reported_on_line_one(header: str, reason: str) -> None:
    with pytest.raises(errors.InvalidCsv) as caught:
        importer.parse(_csv(GOOD[0], header=header))
    assert {"line": 1, "reason": reason} in caught.value.detail["errors"]


@pytest.mark.parametrize(
    "data",
    [
        b"\rZ",
        (HEADER + "\r\n" + '"s1\r"x,c1').encode(),
        (
            HEADER
            + "\n"
            + "s1,"
            + "x" * 140_000
            + ",c1-0504,2026-05-04T09:00:00Z,2026-05-04T09:50:00Z,present,\n"
        ).encode(),
        (HEADER + "\n" + '"' + "x" * 140_000 + '",c1\n').encode(),
    ],
    ids=["lone-cr", "cr-after-quote", "long-field", "long-quoted-field"],
)
def test_a_file_the_csv_module_cannot_split_is_invalid_csv_not_a_crash(data: bytes) -> None:
    with pytest.raises(errors.InvalidCsv) as caught:
        importer.parse(data)
    assert caught.value.status == 422
    assert caught.value.detail["errors"][0]["line"] >= 1


def test_empty_and_non_text_files_are_refused() -> None:
    with pytest.raises(errors.InvalidCsv, match="INVALID_CSV"):
        importer.parse(_csv())
    with pytest.raises(errors.InvalidCsv) as caught:
        importer.parse(b"\xff\xfe\x00bad")
    assert "not UTF-8" in caught.value.detail["errors"][0]["reason"]


def test_limits_refuse_the_whole_file(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(errors.TooLarge) as caught:
        importer.parse(b"x" * (importer.MAX_BYTES + 1))
    assert (caught.value.status, caught.value.code) == (413, "CSV_TOO_LARGE")
    monkeypatch.setattr(importer, "MAX_ROWS", 3)
    with pytest.raises(errors.TooLarge):
        importer.parse(_csv(*GOOD))


def test_a_checked_file_keeps_what_an_import_needs_and_its_records_are_read_again() -> None:
    # Given a good file, checked without keeping its records
    data = _csv(*GOOD)
    checked = importer.check(data)
    parsed = importer.parse(data)
    # Then the check knows the rows, the hash, the sessions and every student's classes
    assert (checked.rows, checked.content_hash) == (4, parsed.content_hash)
    assert checked.sessions == parsed.sessions
    assert checked.student_classes == {"s1": {"c1", "c2"}, "s2": {"c1"}, "s3": {"c1"}}
    assert not hasattr(checked, "records")
    # And the records, read again, are the parsed ones in file order, hashing the same
    assert list(importer.records(data)) == parsed.records
    assert importer.content_hash(importer.records(data)) == checked.content_hash


def test_the_content_hash_ignores_order_and_notation_but_not_content() -> None:
    # Given the same attendance written in another order, column order and time notation
    base = importer.parse(_csv(*GOOD)).content_hash
    columns = "status,student_id,class_id,session_id,starts_at,ends_at,arrived_at"
    moved = [
        "absent,s3,c1,c1-0504,2026-05-04T09:00:00+00:00,2026-05-04T09:50:00Z,",
        "present,s1,c2,c2-0505,2026-05-05T09:00:00Z,2026-05-05T09:50:00Z,",
        "late,s2,c1,c1-0504,2026-05-04T09:00:00Z,2026-05-04T09:50:00Z,2026-05-04T09:12:00Z",
        "present,s1,c1,c1-0504,2026-05-04T09:00:00Z,2026-05-04T09:50:00Z,2026-05-04T09:02:00Z",
    ]
    assert importer.parse(_csv(*moved, header=columns)).content_hash == base
    # but one changed status changes it
    changed = [GOOD[0], GOOD[1], GOOD[2].replace("absent", "present"), GOOD[3]]
    assert importer.parse(_csv(*changed)).content_hash != base


def test_excused_is_a_status_without_an_arrival() -> None:
    row = "s1,c1,c1-0504,2026-05-04T09:00:00Z,2026-05-04T09:50:00Z,Excused,"
    (record,) = importer.parse(_csv(row)).records
    assert (record.status, record.arrived_at) == (Status.EXCUSED, None)
    with pytest.raises(errors.InvalidCsv) as caught:
        importer.parse(_csv(row.removesuffix(",") + ",2026-05-04T09:05:00Z"))
    assert "arrived_at is given for an absence (excused)" in caught.value.detail["errors"][0]["reason"]


def test_arrivals_up_to_two_hours_early_are_accepted() -> None:
    early = (datetime(2026, 5, 4, 9, tzinfo=UTC) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    row = f"s1,c1,c1-0504,2026-05-04T09:00:00Z,2026-05-04T09:50:00Z,present,{early}"
    assert importer.parse(_csv(row)).records[0].minutes_late == -120


def test_class_names_are_accepted_and_get_stable_ids() -> None:
    # Given a file whose class_id column holds display names, and one that names a class beside its id
    header = "student_id,class_id,session_id,starts_at,ends_at,status"
    rows = [
        "29872499824296,JARDIM DA PENHA,5642903,2016-04-29T18:38:08Z,2016-04-29T19:38:08Z,present",
        "558997776694438,REPÚBLICA,5642503,2016-04-29T16:08:27Z,2016-04-29T17:08:27Z,absent",
        "4262962299951,  JARDIM  DA PENHA ,5642549,2016-04-29T16:19:04Z,2016-04-29T17:19:04Z,present",
    ]
    parsed = importer.parse(_csv(*rows, header=header))

    # Then each name has an id of letters, digits and dashes, the same for the same name
    jardim, republica, jardim_again = (r.class_id for r in parsed.records)
    assert jardim == jardim_again == class_id_for("JARDIM DA PENHA")
    assert jardim.startswith("jardim-da-penha-") and republica.startswith("republica-")
    assert parsed.class_names == {jardim: "JARDIM DA PENHA", republica: "REPÚBLICA"}
    # an accent or case makes another name, so another class
    assert len({class_id_for("REPÚBLICA"), class_id_for("REPUBLICA"), class_id_for("República")}) == 3
    assert class_id_for("REPÚBLICA") == republica  # stable across files and runs

    # A class_name column names a class beside its id; without class_id the id comes from the name
    named = importer.parse(_csv(GOOD[0] + ",Biology 1", header=HEADER + ",class_name"))
    assert (named.records[0].class_id, named.class_names) == ("c1", {"c1": "Biology 1"})
    only_names = importer.parse(
        _csv(
            "s1,Art & Design,a-1,2026-05-04T09:00:00Z,2026-05-04T09:50:00Z,present",
            header="student_id,class_name,session_id,starts_at,ends_at,status",
        )
    )
    assert only_names.records[0].class_id == class_id_for("Art & Design")
    assert only_names.records[0].class_id.startswith("art-design-")


def test_a_class_named_twice_differently_is_a_bad_row() -> None:
    header = HEADER + ",class_name"
    rows = [GOOD[0] + ",Biology", GOOD[1] + ",Chemistry"]
    with pytest.raises(errors.InvalidCsv) as caught:
        importer.parse(_csv(*rows, header=header))
    assert caught.value.detail["errors"] == [{"line": 3, "reason": "class c1 is named 'Biology' at line 2"}]
    with pytest.raises(errors.InvalidCsv) as caught:
        importer.parse(_csv(GOOD[0], header=HEADER.replace("class_id", "teacher")))
    reasons = {e["reason"] for e in caught.value.detail["errors"]}
    assert reasons == {"missing column(s): class_id (or class_name)", "unknown column(s): teacher"}
