"""Attendance CSV import (``POST /v1/attendance/import`` and ``make import``): all or nothing, once.

1. The whole file is validated before anything is written (``rollcall.ml.history_csv.check``: bad
   rows listed with their line numbers and reasons), and so is its agreement with the store: a
   session of the file that already exists with another class or other times is a bad row too.
   The records are not held: they are read again from the file and written ``CHUNK_ROWS`` at a
   time, so a 100 MiB file (about 1.5 million rows) imports in a few hundred MB of memory.
2. A marker item keyed by the file's content hash (independent of row order, column order and
   time notation) makes the same attendance imported twice add nothing: the second import writes
   nothing and answers ``replayed: true`` with when and by whom the file was imported.
3. Then, in this order: minimal profiles for unknown students (the name is the id) and class
   memberships, the sessions not stored yet, the display names of classes the file names (a
   ``class_id`` that is not an id is a name: its id is derived, ``rollcall.domain.class_id_for``),
   and the attendance records (``replace``: an import
   states what happened, as a correction does). Stored profiles and sessions are found by batch
   reads, and records and memberships written by batch writes (``rollcall.store.bulk``: 25 a
   request, unprocessed items retried; if some stay unprocessed the import fails as one cut
   short does, and sending the file again finishes it). The marker is marked done last, so an import cut
   short is finished by sending the file again (every write above is idempotent); after each chunk
   the marker records how many rows are written, and the next attempt resumes there.
4. The audit log records who imported what (``attendance.imported``, the counts).

Items::

    import  pk ORG#o#IMPORT#<sha256>  sk META   status importing | done, rows_written, counts, who, when
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import batched, islice
from typing import Any

from rollcall.domain import Student, iso
from rollcall.ml.history_csv import MAX_REPORTED_ERRORS, CheckedCsv, check
from rollcall.ml.history_csv import records as records_in
from rollcall.platform.auth import Principal
from rollcall.platform.errors import ConcurrentUpdate, InvalidCsv
from rollcall.platform.observability import count, logger
from rollcall.store.attendance import AttendanceRepo, SessionRepo
from rollcall.store.audit import AuditLog
from rollcall.store.classes import ClassRepo
from rollcall.store.roster import RosterRepo
from rollcall.store.table import OrgDirectory, OrgRecords

DONE, IMPORTING = "done", "importing"
CHUNK_ROWS = 10_000  # records held and written between two notes of progress on the marker


@dataclass(frozen=True)
class ImportResult:
    import_id: str  # the content hash
    rows: int
    records_written: int
    sessions_created: int
    students_created: int
    memberships: int
    replayed: bool
    imported_at: str
    imported_by: str
    classes: dict[str, str] = field(default_factory=dict)  # class id → display name, for named classes

    def counts(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "records_written": self.records_written,
            "sessions_created": self.sessions_created,
            "students_created": self.students_created,
            "memberships": self.memberships,
        }


def import_csv(
    records: OrgRecords,
    who: Principal,
    data: bytes | str,
    *,
    now: datetime,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Import an attendance CSV into the caller's organisation (see the module docstring).

    ``progress(n)`` is called as each batch of ``n`` attendance records is written.
    """
    parsed = check(data)
    _check_against_store(records, parsed)
    marker_pk = records.key("IMPORT", parsed.content_hash)
    marker = records.get(marker_pk, "META", consistent=True)
    if marker and marker.get("status") == DONE:
        logger.info("import replayed: nothing written", extra={"import_id": parsed.content_hash})
        count("AttendanceImportReplayed")
        return _replayed(marker, rows=parsed.rows)
    records.put(
        {
            "pk": marker_pk,
            "sk": "META",
            "kind": "import",
            "status": IMPORTING,
            "started_at": iso(now),
            "imported_by": who.sub,
        },
        if_absent=True,
    )
    OrgDirectory(records.table, client=records.client).register(records.org)
    roster = RosterRepo(records)
    students_created = roster.ensure_students(
        (Student(sid, sid, tuple(sorted(cs))) for sid, cs in sorted(parsed.student_classes.items())),
        created_by=who.sub,
        created_at=now,
    )
    memberships = roster.ensure_members({(c, s) for s, cs in parsed.student_classes.items() for c in cs})
    sessions_created = SessionRepo(records).ensure(parsed.sessions, created_by=who.sub, created_at=now)
    ClassRepo(records).ensure_names(parsed.class_names, created_by=who.sub, created_at=now)
    written = _write_records(
        records,
        marker_pk,
        data,
        who,
        now,
        resume_at=int((marker or {}).get("rows_written", 0)),
        progress=progress,
    )
    result = ImportResult(
        import_id=parsed.content_hash,
        rows=parsed.rows,
        records_written=written,
        sessions_created=sessions_created,
        students_created=students_created,
        memberships=memberships,
        replayed=False,
        imported_at=iso(now),
        imported_by=who.sub,
        classes=parsed.class_names,
    )
    try:  # of concurrent imports of one file, the one that marks it done records it
        records.update(
            marker_pk,
            "META",
            {"status": DONE, "imported_at": iso(now), "counts": result.counts()},
            condition="#status = :importing",
            names={"#status": "status"},
            values={":importing": IMPORTING},
        )
    except ConcurrentUpdate:
        marker = records.get(marker_pk, "META", consistent=True) or {"pk": marker_pk}
        logger.info(
            "import finished concurrently: not recorded twice", extra={"import_id": parsed.content_hash}
        )
        return _replayed(marker, rows=parsed.rows)
    AuditLog(records).append(
        actor=who.sub,
        action="attendance.imported",
        subject=f"import:{parsed.content_hash}",
        at=now,
        details=result.counts(),
    )
    count("AttendanceImported", written)
    logger.info("attendance imported", extra={"import_id": parsed.content_hash, **result.counts()})
    return result


def _write_records(
    records: OrgRecords,
    marker_pk: str,
    data: bytes | str,
    who: Principal,
    now: datetime,
    *,
    resume_at: int,
    progress: Callable[[int], None] | None,
) -> int:
    """Write the file's records from row ``resume_at`` on, ``CHUNK_ROWS`` at a time, noting on the
    marker how many rows are written after each chunk; the rows written in all (this attempt's and
    the earlier ones')."""
    if resume_at and progress:
        progress(resume_at)
    repo = AttendanceRepo(records)
    written = resume_at
    for chunk in batched(islice(records_in(data), resume_at, None), CHUNK_ROWS):
        repo.write_many(
            [replace(r, marked_by=who.sub, marked_at=now) for r in chunk], mode="replace", on_chunk=progress
        )
        written += len(chunk)
        # a concurrent import of the same file may be further on: the note never moves back
        with suppress(ConcurrentUpdate):
            records.update(
                marker_pk,
                "META",
                {"rows_written": written},
                condition="#status = :importing AND "
                "(attribute_not_exists(rows_written) OR rows_written < :n)",
                names={"#status": "status"},
                values={":importing": IMPORTING, ":n": written},
            )
    return written


def _check_against_store(records: OrgRecords, parsed: CheckedCsv) -> None:
    """Sessions of the file that exist with another class or times are bad rows (nothing written)."""
    found = SessionRepo(records).get_many(s.session_id for s in parsed.sessions)
    errors: list[dict[str, Any]] = []
    for session in parsed.sessions:
        stored = found.get(session.session_id)
        if stored is None:
            continue
        if (stored.class_id, stored.starts_at, stored.ends_at) != (
            session.class_id,
            session.starts_at,
            session.ends_at,
        ):
            errors.append(
                {
                    "line": parsed.session_lines[session.session_id],
                    "reason": f"session {session.session_id} exists with class {stored.class_id}, "
                    f"{iso(stored.starts_at)} to {iso(stored.ends_at)}",
                }
            )
    if errors:
        errors.sort(key=lambda e: e["line"])
        raise InvalidCsv(
            {"errors": errors[:MAX_REPORTED_ERRORS], "error_count": len(errors), "rows": parsed.rows}
        )


def _replayed(marker: dict[str, Any], *, rows: int) -> ImportResult:
    """The answer to a file imported before: nothing written; when and by whom it was."""
    return ImportResult(
        import_id=marker["pk"].rsplit("#", 1)[-1],
        rows=rows,
        records_written=0,
        sessions_created=0,
        students_created=0,
        memberships=0,
        replayed=True,
        imported_at=marker.get("imported_at", ""),
        imported_by=marker.get("imported_by", ""),
    )
