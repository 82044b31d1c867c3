"""Attendance records as columns: built once per scan, read by every attendance detector.

A scan of 1,000 students over 16 weeks holds about 460,000 records; the detectors group and count
them with numpy instead of looping over dataclasses. Students, classes, sessions and locations
become small integers (indices into the id lists); times become epoch seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING

from rollcall.domain import AttendanceRecord, Source, Status

if TYPE_CHECKING:
    import numpy as np

ABSENT, PRESENT, LATE, UNCERTAIN, EXCUSED = 0, 1, 2, 3, 4
STATUS_CODE = {Status.ABSENT: ABSENT, Status.PRESENT: PRESENT, Status.LATE: LATE, Status.UNCERTAIN: UNCERTAIN,
               Status.EXCUSED: EXCUSED}  # fmt: skip
DAY = 86_400
NO_TIME = -1  # ``marked`` of a record without a write time


def epoch(value: datetime) -> int:
    return int(value.timestamp())


@dataclass(frozen=True)
class Frame:
    """One row per record; per-session columns (``session_*``) indexed by ``session``."""

    records: Sequence[AttendanceRecord]
    student_ids: list[str]
    class_ids: list[str]
    session_ids: list[str]
    locations: list[str]
    student: np.ndarray  # int64 index into student_ids
    session: np.ndarray  # int64 index into session_ids
    status: np.ndarray  # int8 status code
    arrival: np.ndarray  # float minutes after the start; NaN when unknown or not attended
    marked: np.ndarray  # int64 epoch seconds the record was written, NO_TIME when unknown
    face: np.ndarray  # bool: written from a photo
    session_class: np.ndarray  # int64 index into class_ids
    session_start: np.ndarray  # int64 epoch seconds
    session_end: np.ndarray
    session_location: np.ndarray  # int64 index into locations, -1 when unknown

    @classmethod
    def of(cls, records: Sequence[AttendanceRecord]) -> Frame:
        import numpy as np

        students: dict[str, int] = {}
        classes: dict[str, int] = {}
        sessions: dict[str, int] = {}
        locations: dict[str, int] = {}
        s_class: list[int] = []
        s_start: list[int] = []
        s_end: list[int] = []
        s_loc: list[int] = []
        for r in records:
            if r.session_id not in sessions:
                sessions[r.session_id] = len(sessions)
                s_class.append(classes.setdefault(r.class_id, len(classes)))
                s_start.append(epoch(r.starts_at))
                s_end.append(epoch(r.ends_at))
                s_loc.append(-1 if r.location is None else locations.setdefault(r.location, len(locations)))
        n = len(records)
        student = np.fromiter(
            (students.setdefault(r.student_id, len(students)) for r in records), np.int64, n
        )
        session = np.fromiter((sessions[r.session_id] for r in records), np.int64, n)
        status = np.fromiter((STATUS_CODE[r.status] for r in records), np.int8, n)
        arrival = np.fromiter(
            (
                (r.arrived_at - r.starts_at).total_seconds() / 60.0
                if r.arrived_at is not None and r.status in (Status.PRESENT, Status.LATE)
                else np.nan
                for r in records
            ),
            np.float64,
            n,
        )
        marked = np.fromiter(
            (NO_TIME if r.marked_at is None else epoch(r.marked_at) for r in records), np.int64, n
        )
        face = np.fromiter((r.source is Source.FACE for r in records), bool, n)
        return cls(
            records=records,
            student_ids=list(students),
            class_ids=list(classes),
            session_ids=list(sessions),
            locations=list(locations),
            student=student,
            session=session,
            status=status,
            arrival=arrival,
            marked=marked,
            face=face,
            session_class=np.asarray(s_class, dtype=np.int64),
            session_start=np.asarray(s_start, dtype=np.int64),
            session_end=np.asarray(s_end, dtype=np.int64),
            session_location=np.asarray(s_loc, dtype=np.int64),
        )

    def __len__(self) -> int:
        return len(self.records)

    @cached_property
    def start(self) -> np.ndarray:
        return self.session_start[self.session]

    @cached_property
    def end(self) -> np.ndarray:
        return self.session_end[self.session]

    @cached_property
    def attended(self) -> np.ndarray:
        return (self.status == PRESENT) | (self.status == LATE)

    @cached_property
    def usable(self) -> np.ndarray:
        """Records that count: not awaiting review (``uncertain``), not an excused absence."""
        return (self.status != UNCERTAIN) & (self.status != EXCUSED)

    def location_of(self, session: int) -> str | None:
        index = int(self.session_location[session])
        return None if index < 0 else self.locations[index]

    def per_student(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(attended, usable records) per student index over the rows in ``mask``."""
        import numpy as np

        keep = mask & self.usable
        n = len(self.student_ids)
        total = np.bincount(self.student[keep], minlength=n)
        attended = np.bincount(self.student[keep & self.attended], minlength=n)
        return attended, total
