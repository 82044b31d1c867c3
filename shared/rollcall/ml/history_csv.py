"""Attendance CSV import: parse and validate the whole file, all or nothing.

Columns (a header row, any order, names as below): ``student_id, class_id, session_id,
starts_at, ends_at, status`` and optionally ``arrived_at`` and ``class_name``.

A class is named by an id or by its display name: a ``class_id`` that is not an id
(``JARDIM DA PENHA``, ``REPÚBLICA``) is taken as the class's name and its id is derived from it
(``rollcall.domain.class_id_for``: stable, so the same name is the same class in every file). A
``class_name`` column gives the name beside an id; with no ``class_id`` column the id is derived
from ``class_name``. :attr:`ParsedCsv.class_names` maps each named class's id to its name.

Covariates (``rollcall.ml.covariates``), all optional, empty cells allowed: ``scheduled_at`` (when
the session was booked or announced: at most a day after its start, as a same-day booking of a
session dated at midnight is), ``reminder_sent`` (``true``/``false``, ``yes``/``no``, ``1``/``0``) and
up to 20 student attributes ``attr_<name>`` (a number, or a category of at most 64 characters).

Times are ISO-8601 (``Z`` or an offset; without one, UTC). ``status`` is ``present``, ``absent``, ``late``
or ``excused`` (an absence with an accepted reason: kept in the register, left out of training
and of the scans' absences, as a teacher's correction to ``excused`` is).

Every bad row is reported with its line number in the file (the header is line 1) and the reason,
and then nothing is returned: :func:`parse` either gives every record or raises ``InvalidCsv``
with ``{"errors": [{"line", "reason"}, ...], "error_count", "rows"}`` (the first
``MAX_REPORTED_ERRORS`` errors are listed). A row is bad when a field is missing or malformed,
an id is not 1-64 letters, digits, ``_ . -``, the session ends before it starts, an arrival is
given for an absence or lies outside [start - 2 h, end], the same (session, student) comes twice,
or a session's class or times differ from its first row.

Limits: ``MAX_BYTES`` (100 MiB, the upload route's) and ``MAX_ROWS`` (2,000,000 data rows);
beyond them the file is refused whole (``PAYLOAD_TOO_LARGE``, code ``CSV_TOO_LARGE``). The
synchronous route is stricter (``rollcall.api.imports``).

Large files are read twice rather than held as records (about 1 KB of memory per record):
:func:`check` validates the whole file and keeps only what an import needs before writing (the
sessions, the students' classes, the class names, the hash: about 100 bytes a row), and
:func:`records` then yields the records of a checked file, in file order, for writing in chunks.
:func:`parse` is both at once, for small files.

The content hash (:attr:`CheckedCsv.content_hash`) is a sha256 of the records, independent of row
order, column order, whitespace and time notation: the same attendance imported twice has the same hash.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rollcall.domain import AttendanceRecord, Session, Source, Status, class_id_for, iso, parse_time
from rollcall.ml.covariates import (
    ATTR_PREFIX,
    ATTRIBUTE_NAME,
    MAX_ATTRIBUTES,
    attribute_value,
    attributes_of,
)
from rollcall.platform.auth.principal import ID_PATTERN
from rollcall.platform.errors import InvalidCsv, TooLarge

MAX_BYTES = 100 * 1024 * 1024
MAX_ROWS = 2_000_000
MAX_REPORTED_ERRORS = 100
REQUIRED = ("student_id", "session_id", "starts_at", "ends_at", "status")
CLASS_COLUMNS = ("class_id", "class_name")  # at least one
OPTIONAL = ("arrived_at", *CLASS_COLUMNS, "scheduled_at", "reminder_sent")
LATEST_BOOKING = timedelta(days=1)  # after the start
BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
STATUSES = {s.value: s for s in (Status.PRESENT, Status.ABSENT, Status.LATE, Status.EXCUSED)}
EARLIEST_ARRIVAL = timedelta(hours=2)  # before the start


@dataclass(frozen=True)
class CheckedCsv:
    """What a valid file holds, but its records (:func:`records` reads them)."""

    rows: int
    sessions: list[Session]
    content_hash: str
    session_lines: dict[str, int]  # session id → the line of its first row (to report store conflicts)
    class_names: dict[str, str] = field(default_factory=dict)  # class id → display name (named classes)
    student_classes: dict[str, set[str]] = field(default_factory=dict)  # student id → its classes


@dataclass(frozen=True)
class ParsedCsv(CheckedCsv):
    records: list[AttendanceRecord] = field(default_factory=list)


class _RowError(ValueError):
    pass


def _rows(reader: Any) -> Iterator[list[str]]:
    """The reader's rows; a file the csv module cannot split into rows (a lone carriage return
    inside a field, a field over the module's 131,072-character limit) is InvalidCsv at its line."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            reason = "a field is longer than 131072 characters" if "field limit" in str(e) else str(e)
            raise InvalidCsv(
                {"errors": [{"line": reader.line_num, "reason": f"unreadable CSV: {reason}"}], "rows": 0}
            ) from None
        yield row


def parse(data: bytes | str) -> ParsedCsv:
    """The records of an attendance CSV, or InvalidCsv listing every bad row; TooLarge over the limits."""
    checked = check(data)
    return ParsedCsv(**vars(checked), records=list(records(data)))


def check(data: bytes | str) -> CheckedCsv:
    """Validate a whole attendance CSV without keeping its records: InvalidCsv listing every bad
    row, TooLarge over the limits."""
    lines, reader = _reader(data)
    errors: list[dict[str, object]] = []
    seen: dict[str, int] = {}  # "session|student" → line
    sessions: dict[str, tuple[Session, int]] = {}
    names: dict[str, tuple[str, int]] = {}
    student_classes: dict[str, set[str]] = {}
    canonical: list[str] = []
    rows = 0
    for line, row in lines:
        rows += 1
        if rows > MAX_ROWS:
            raise TooLarge({"rows": f"more than {MAX_ROWS}", "max_rows": MAX_ROWS}, code="CSV_TOO_LARGE")
        try:
            record, name = reader(row)
            _check_consistency(record, line, seen, sessions)
            _check_name(record.class_id, name, line, names)
        except _RowError as e:
            errors.append({"line": line, "reason": str(e)})
            continue
        student_classes.setdefault(record.student_id, set()).add(record.class_id)
        canonical.append(_canonical(record))
    if errors or not rows:
        reported = errors[:MAX_REPORTED_ERRORS] or [{"line": 1, "reason": "no data rows"}]
        raise InvalidCsv({"errors": reported, "error_count": len(errors) or 1, "rows": rows})
    return CheckedCsv(
        rows,
        [s for s, _ in sessions.values()],
        _hash(canonical),
        {sid: line for sid, (_, line) in sessions.items()},
        {cid: name for cid, (name, _) in names.items()},
        student_classes,
    )


def records(data: bytes | str) -> Iterator[AttendanceRecord]:
    """The records of a file :func:`check` accepted, in file order (a bad row here is InvalidCsv)."""
    lines, reader = _reader(data)
    for line, row in lines:
        try:
            yield reader(row)[0]
        except _RowError as e:
            raise InvalidCsv({"errors": [{"line": line, "reason": str(e)}], "rows": 0}) from None


def _reader(
    data: bytes | str,
) -> tuple[Iterator[tuple[int, list[str]]], Callable[[list[str]], tuple[AttendanceRecord, str | None]]]:
    """The file's non-blank data rows with their line numbers, and the function reading a row
    (after the header is checked)."""
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > MAX_BYTES:
        raise TooLarge({"bytes": len(raw), "max_bytes": MAX_BYTES}, code="CSV_TOO_LARGE")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InvalidCsv(
            {"errors": [{"line": 0, "reason": f"not UTF-8 text (byte {e.start})"}], "rows": 0}
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    rows_of = _rows(reader)
    header = [h.strip().lower() for h in next(rows_of, [])]
    _check_header(header)
    column = {name: i for i, name in enumerate(header) if name in (*REQUIRED, *OPTIONAL) or _is_attr(name)}

    def lines() -> Iterator[tuple[int, list[str]]]:
        for row in rows_of:
            if any(cell.strip() for cell in row):  # blank lines are not rows
                yield reader.line_num, row

    return lines(), lambda row: _record(row, column, len(header))


def _check_header(header: list[str]) -> None:
    problems = []
    missing = [c for c in REQUIRED if c not in header]
    if not any(c in header for c in CLASS_COLUMNS):
        missing.append("class_id (or class_name)")
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    unknown = [c for c in header if c not in (*REQUIRED, *OPTIONAL) and not _is_attr(c)]
    if unknown:
        problems.append(f"unknown column(s): {', '.join(unknown)}")
    attrs = [c for c in header if _is_attr(c)]
    if len(attrs) > MAX_ATTRIBUTES:
        problems.append(f"at most {MAX_ATTRIBUTES} attr_ columns (found {len(attrs)})")
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        problems.append(f"repeated column(s): {', '.join(duplicated)}")
    if problems:
        raise InvalidCsv(
            {"errors": [{"line": 1, "reason": p} for p in problems], "error_count": len(problems), "rows": 0}
        )


def _is_attr(name: str) -> bool:
    return name.startswith(ATTR_PREFIX) and bool(ATTRIBUTE_NAME.match(name[len(ATTR_PREFIX) :]))


def _record(row: list[str], column: dict[str, int], width: int) -> tuple[AttendanceRecord, str | None]:
    """The row's record and its class's display name (None when the class is given by id only)."""
    if len(row) != width:
        raise _RowError(f"expected {width} fields, found {len(row)}")
    cell = {name: row[i].strip() for name, i in column.items()}
    cell["class_id"], name = _class(cell.get("class_id", ""), cell.get("class_name", ""))
    return _attendance(cell), name


def _class(given: str, name: str) -> tuple[str, str | None]:
    """(class id, display name or None) from the row's class_id and class_name cells."""
    given, name = " ".join(given.split()), " ".join(name.split())
    if len(given) > 200 or len(name) > 200:
        raise _RowError("a class id or name is at most 200 characters")
    if given and ID_PATTERN.match(given):
        return given, name or None
    if given:  # not an id: a display name
        if name and name != given:
            raise _RowError(f"class_id {given[:70]!r} is not an id, and class_name differs from it")
        return class_id_for(given), given
    if name:
        return class_id_for(name), name
    raise _RowError("class_id (or class_name) is empty")


def _check_name(class_id: str, name: str | None, line: int, names: dict[str, tuple[str, int]]) -> None:
    if name is None:
        return
    first = names.setdefault(class_id, (name, line))
    if first[0] != name:
        raise _RowError(f"class {class_id} is named {first[0]!r} at line {first[1]}")


def _attendance(cell: dict[str, str]) -> AttendanceRecord:
    for name in ("student_id", "class_id", "session_id"):
        if not ID_PATTERN.match(cell[name]):
            raise _RowError(f"{name} must be 1-64 letters, digits, '_', '.', '-' (got {cell[name][:70]!r})")
    starts, ends = _time(cell, "starts_at"), _time(cell, "ends_at")
    if ends <= starts:
        raise _RowError("ends_at must be after starts_at")
    status = STATUSES.get(cell["status"].lower())
    if status is None:
        raise _RowError(f"status must be present, absent, late or excused (got {cell['status'][:20]!r})")
    arrived = _time(cell, "arrived_at") if cell.get("arrived_at") else None
    if arrived is not None:
        if status in (Status.ABSENT, Status.EXCUSED):
            raise _RowError(f"arrived_at is given for an absence ({status.value})")
        if not starts - EARLIEST_ARRIVAL <= arrived <= ends:
            raise _RowError("arrived_at must lie between 2 hours before starts_at and ends_at")
    scheduled = _time(cell, "scheduled_at") if cell.get("scheduled_at") else None
    if scheduled is not None and scheduled > starts + LATEST_BOOKING:
        raise _RowError("scheduled_at is more than a day after starts_at")
    reminder = None
    if cell.get("reminder_sent"):
        reminder = BOOLEANS.get(cell["reminder_sent"].lower())
        if reminder is None:
            raise _RowError(f"reminder_sent must be true or false (got {cell['reminder_sent'][:20]!r})")
    attrs = {k[len(ATTR_PREFIX) :]: attribute_value(v) for k, v in cell.items() if k.startswith(ATTR_PREFIX)}
    return AttendanceRecord(
        student_id=cell["student_id"],
        session_id=cell["session_id"],
        class_id=cell["class_id"],
        starts_at=starts,
        ends_at=ends,
        status=status,
        arrived_at=arrived,
        source=Source.IMPORT,
        scheduled_at=scheduled,
        reminder_sent=reminder,
        attributes=attributes_of(attrs),
    )


def _time(cell: dict[str, str], name: str) -> datetime:
    try:
        return parse_time(cell[name])
    except ValueError:
        raise _RowError(f"{name} is not an ISO-8601 time (got {cell[name][:40]!r})") from None


def _check_consistency(
    record: AttendanceRecord,
    line: int,
    seen: dict[str, int],
    sessions: dict[str, tuple[Session, int]],
) -> None:
    key = f"{record.session_id}|{record.student_id}"
    if key in seen:
        raise _RowError(
            f"student {record.student_id} is already in session {record.session_id} (line {seen[key]})"
        )
    session = Session(record.session_id, record.class_id, record.starts_at, record.ends_at)
    first = sessions.setdefault(record.session_id, (session, line))
    if first[0] != session:
        raise _RowError(f"session {record.session_id} has another class or times at line {first[1]}")
    seen[key] = line


def content_hash(records: Iterable[AttendanceRecord]) -> str:
    """sha256 of the records in a canonical form (sorted, normalised times)."""
    return _hash([_canonical(r) for r in records])


def _canonical(r: AttendanceRecord) -> str:
    return (
        f"{r.session_id}|{r.student_id}|{r.class_id}|{iso(r.starts_at)}|{iso(r.ends_at)}|{r.status.value}|"
        f"{iso(r.arrived_at) if r.arrived_at else ''}{_covariates(r)}"
    )


def _hash(canonical: list[str]) -> str:
    canonical.sort()
    return hashlib.sha256("\n".join(canonical).encode()).hexdigest()


def _covariates(r: AttendanceRecord) -> str:
    """The record's covariates in the hash (nothing when it has none: older hashes stay)."""
    if r.scheduled_at is None and r.reminder_sent is None and not r.attributes:
        return ""
    scheduled = iso(r.scheduled_at) if r.scheduled_at else ""
    reminder = "" if r.reminder_sent is None else str(int(r.reminder_sent))
    return f"|{scheduled}|{reminder}|" + ";".join(f"{k}={v!r}" for k, v in r.attributes)
