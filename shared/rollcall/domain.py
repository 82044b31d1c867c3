"""The attendance data every part of Rollcall shares: students, sessions, attendance records.

Face marking writes attendance records, the CSV import and the synthetic generator write them
too, prediction learns from them and the anomaly scan reads them. These are plain, slotted
dataclasses (cheap to make by the hundred thousand); the HTTP layer has its own Pydantic models.

Times are timezone-aware UTC datetimes. A record is one student in one session.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PRESENT = "present"
    LATE = "late"
    ABSENT = "absent"
    UNCERTAIN = "uncertain"  # a face matched between the confident and uncertain thresholds: for review
    EXCUSED = "excused"  # absent with a reason a teacher accepted (a correction): neither attended nor absent


ATTENDED = frozenset({Status.PRESENT, Status.LATE})


class Source(StrEnum):
    FACE = "face"  # marked from a photo
    IMPORT = "import"  # CSV import
    CORRECTION = "correction"  # a teacher's correction (audit-logged)
    SYNTHETIC = "synthetic"  # the synthetic history generator
    ROSTER = "roster"  # absent: on the class roster, not seen in any photo of the session


@dataclass(frozen=True, slots=True)
class Student:
    student_id: str
    name: str
    class_ids: tuple[str, ...] = ()
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Session:
    session_id: str
    class_id: str
    starts_at: datetime
    ends_at: datetime
    location: str | None = None

    def record(self, student_id: str, status: Status, **fields: Any) -> AttendanceRecord:
        """A student's record of this session (the session's class, times and place); ``fields``
        are the record's other fields (arrival, source, marking)."""
        return AttendanceRecord(
            student_id=student_id,
            session_id=self.session_id,
            class_id=self.class_id,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
            status=status,
            location=self.location,
            **fields,
        )


@dataclass(frozen=True, slots=True)
class AttendanceRecord:
    student_id: str
    session_id: str
    class_id: str
    starts_at: datetime
    ends_at: datetime
    status: Status
    arrived_at: datetime | None = None
    location: str | None = None
    source: Source = Source.IMPORT
    distance: float | None = None  # face distance, when marked from a photo
    photo_hash: str | None = None
    marked_by: str | None = None
    marked_at: datetime | None = field(default=None, compare=False)
    note: str | None = None
    # Covariates (rollcall.ml.covariates): when the session was booked, whether a reminder was sent,
    # and the student's attributes as (name, number or text) pairs sorted by name.
    scheduled_at: datetime | None = None
    reminder_sent: bool | None = None
    attributes: tuple[tuple[str, float | str], ...] = ()

    @property
    def attended(self) -> bool:
        return self.status in ATTENDED

    @property
    def minutes_late(self) -> float | None:
        """Arrival relative to the start, in minutes (negative: early); None when unknown."""
        if self.arrived_at is None:
            return None
        return (self.arrived_at - self.starts_at).total_seconds() / 60.0


def utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime (naive values are taken to be UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@functools.lru_cache(maxsize=65536)
def iso(value: datetime) -> str:
    """The canonical text of a time in keys and items: UTC, seconds, 'Z' (sorts as time does).

    Cached: an import or a seed formats the same few session times for thousands of records, and
    ``strftime`` was the largest single cost of building their items (BENCHMARKS.md, bulk paths).
    Equal datetimes are the same instant (aware) or the same wall time (naive), so the same text.
    """
    return utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """An ISO-8601 time (with 'Z' or an offset; naive taken as UTC) as an aware UTC datetime."""
    return utc(datetime.fromisoformat(text.replace("Z", "+00:00")))


def class_id_for(name: str) -> str:
    """The stable id derived from a class's display name (``JARDIM DA PENHA`` → ``jardim-da-penha-1f0c2a``).

    Letters lose their accents and case, every other run of characters becomes ``-`` (at most 48
    characters kept), and 6 hex digits of the sha256 of the name (trimmed, NFC) follow, so names
    that differ only in accents, case or punctuation (``REPÚBLICA``, ``Republica``) stay apart and
    the same name always gives the same id."""
    exact = unicodedata.normalize("NFC", name.strip())
    plain = unicodedata.normalize("NFKD", exact).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", plain).strip("-")[:48].strip("-") or "class"
    return f"{slug}-{hashlib.sha256(exact.encode()).hexdigest()[:6]}"
