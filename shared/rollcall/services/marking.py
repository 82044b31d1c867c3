"""Sessions and their attendance: creation, marking from a classroom photo, the register,
teachers' corrections.

Marking a photo (:func:`mark_photo`):

1. The photo is decoded; if this session already had this exact photo (same sha256), the first
   answer is given again and nothing is written: a resent photo changes nothing.
2. Every face is found and encoded; a photo with no face at all (the wrong photo, the ceiling, a
   dog) is refused with 422 NO_FACE and nothing is written or kept: it says nothing about who
   came, and marking it would write the whole class absent. Otherwise the faces are matched
   one-to-one to the enrolled faces of the class's students (never two faces to one student):
   present within the confident threshold, uncertain (recorded for review) within the uncertain
   one, else unknown.
3. Records are written with the store's merge rule: a photo only raises a student's status and
   never overrides a teacher's correction, so several photos of one session merge (present in any
   is present) and concurrent markings leave one record per student. Students of the class not
   seen get "absent" only where they have no record yet. The session's records are read once
   (one query) and a conditional write goes only where it can change something
   (``AttendanceRepo.write_marking``).
4. The marking event (per face: status, distance, why an unknown face is unknown, quality
   issues, the students within the confident threshold) is kept for the anomaly scan.

When photos are kept (FACE_STORE_PHOTOS), the photo is kept before anything is written, so a
failure to keep it fails the marking (a retry is harmless) rather than leaving a marking whose
photo the school configured to keep is missing.

Only the mark-attendance function (with the face layer) serves these routes; the face core is
imported where a photo is analysed, not at cold start.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any

from rollcall.domain import AttendanceRecord, Session, Source, Status, iso, utc
from rollcall.face.pipeline import FaceMatch, GroupAnalysis, analyse, mark
from rollcall.face.status import FaceStatus
from rollcall.platform.auth import Principal
from rollcall.platform.errors import NoFace, NotFound, ValidationFailed
from rollcall.platform.observability import MetricUnit, count, logger
from rollcall.platform.settings import FaceSettings
from rollcall.services.enrolment import decode
from rollcall.services.students import new_id
from rollcall.store.attendance import AttendanceRepo, SessionRepo
from rollcall.store.audit import ATTENDANCE_CORRECTED, AuditLog
from rollcall.store.faces import FaceRepo
from rollcall.store.photo_events import MarkingRepo
from rollcall.store.photos import PhotoStore
from rollcall.store.roster import RosterRepo
from rollcall.store.table import OrgDirectory, OrgRecords, check_id

if TYPE_CHECKING:
    from rollcall.face.match import Gallery

ARRIVAL_WINDOW_BEFORE = timedelta(minutes=30)  # a photo this early still counts as the arrival time

STATUS_OF = {FaceStatus.PRESENT: Status.PRESENT, FaceStatus.UNCERTAIN: Status.UNCERTAIN}

MAX_SESSION_HOURS = 24


class Keep(Enum):
    """A field a request left out: the stored value is kept."""

    KEEP = "keep"


KEEP = Keep.KEEP


def create_session(
    records: OrgRecords,
    who: Principal,
    *,
    class_id: str,
    starts_at: datetime,
    ends_at: datetime,
    location: str | None,
    session_id: str | None,
    now: datetime,
) -> Session:
    if ends_at <= starts_at:
        raise ValidationFailed("ends_at must be after starts_at", code="INVALID_SESSION_TIMES")
    if (ends_at - starts_at).total_seconds() > MAX_SESSION_HOURS * 3600:
        raise ValidationFailed(
            f"a session lasts at most {MAX_SESSION_HOURS} hours", code="INVALID_SESSION_TIMES"
        )
    session = Session(
        session_id=check_id(session_id, "session_id")
        if session_id
        else new_id(check_id(class_id, "class_id")),
        class_id=class_id,
        starts_at=starts_at,
        ends_at=ends_at,
        location=location,
    )
    SessionRepo(records).create(session, created_by=who.sub, created_at=now)
    OrgDirectory(records.table, client=records.client).register(records.org)
    return session


def get_session(records: OrgRecords, session_id: str) -> Session:
    """A session (404 SESSION_NOT_FOUND)."""
    return SessionRepo(records).require(session_id)


@dataclass(frozen=True)
class Register:
    """A session's attendance: every record, and the class's students without one."""

    session: Session
    records: list[AttendanceRecord]
    not_marked: list[str]

    def ids(self, *statuses: Status) -> list[str]:
        return sorted(r.student_id for r in self.records if r.status in statuses)


def register(records: OrgRecords, session_id: str) -> Register:
    session = SessionRepo(records).require(session_id)
    marked = AttendanceRepo(records).for_session(session_id)
    seen = {r.student_id for r in marked}
    roster = RosterRepo(records).members(session.class_id)
    return Register(session, marked, sorted(set(roster) - seen))


def correct(
    records: OrgRecords,
    who: Principal,
    session_id: str,
    student_id: str,
    *,
    status: Status,
    note: str | Keep | None,
    now: datetime,
    arrived_at: datetime | None = None,
) -> AttendanceRecord:
    """A teacher's correction: it replaces the record, wins over later photos, and is audit-logged.

    ``note`` :data:`KEEP`: the correction keeps the record's note (the request named none). ``arrived_at``
    (for ``late`` only) must be after the session's start and no later than the end of its day
    (UTC) or its end, whichever is later: 422 INVALID_ARRIVAL otherwise. Without it the record
    keeps the arrival it had (a photo's)."""
    check_id(student_id, "student_id")
    session = SessionRepo(records).require(session_id)
    if arrived_at is not None:
        check_arrival(session, status, arrived_at)
    attendance = AttendanceRepo(records)
    before = attendance.get(session_id, student_id)
    if before is None and student_id not in RosterRepo(records).members(session.class_id):
        raise NotFound(f"student {student_id} is not in class {session.class_id}", code="STUDENT_NOT_FOUND")
    if isinstance(note, Keep):
        note = before.note if before else None
    corrected = session.record(
        student_id,
        status,
        arrived_at=arrived_at or (before.arrived_at if before else None),
        source=Source.CORRECTION,
        distance=before.distance if before else None,
        photo_hash=before.photo_hash if before else None,
        marked_by=who.sub,
        marked_at=now,
        note=note,
    )
    attendance.write(corrected, mode="replace")
    AuditLog(records).append(
        actor=who.sub,
        action=ATTENDANCE_CORRECTED,
        subject=f"attendance:{session_id}:{student_id}",
        at=now,
        details={
            "from": before.status.value if before else None,
            "from_source": before.source.value if before else None,
            "to": status.value,
            "note": note,
            **({"arrived_at": iso(arrived_at)} if arrived_at else {}),
        },
    )
    return corrected


def check_arrival(session: Session, status: Status, arrived_at: datetime) -> None:
    """422 INVALID_ARRIVAL unless ``arrived_at`` can be a late arrival at ``session``."""
    start, end = utc(session.starts_at), utc(session.ends_at)
    day_end = datetime.combine(start.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    detail = {"arrived_at": iso(arrived_at), "starts_at": iso(start), "ends_at": iso(end)}
    if status is not Status.LATE:
        raise ValidationFailed(
            {"message": "arrived_at is given only with status late", **detail}, code="INVALID_ARRIVAL"
        )
    if not start < utc(arrived_at) < max(day_end, end + timedelta(seconds=1)):
        raise ValidationFailed(
            {"message": "arrived_at must be after the session's start, on the session's day (UTC) "
                        "or before its end", **detail},
            code="INVALID_ARRIVAL",
        )  # fmt: skip


@dataclass
class Marking:
    session_id: str
    photo_hash: str
    faces: list[dict[str, Any]]
    present: list[str]
    uncertain: list[str]
    absent: list[str]
    unknown_count: int
    replayed: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    annotated_image_base64: str | None = None


def mark_photo(
    records: OrgRecords,
    who: Principal,
    session_id: str,
    image_base64: str | bytes,
    *,
    settings: FaceSettings,
    photos: PhotoStore,
    annotate: bool = False,
    now: datetime,
) -> Marking:
    from rollcall.face.match import Gallery  # numpy: imported on first use, not at cold start

    clock = time.perf_counter()
    session = SessionRepo(records).require(session_id)
    photo = decode(image_base64, settings)
    markings = MarkingRepo(records)
    first = markings.get(session_id, photo.sha256)
    if first is not None and not annotate:
        return _replay(first)

    roster = RosterRepo(records).members(session.class_id)
    labels, embeddings = FaceRepo(records).gallery(set(roster))
    gallery = Gallery(embeddings, labels)
    analysis = analyse(photo, settings)
    if not analysis.faces:
        raise NoFace("no face found in the photo: nothing was marked")
    matches = mark(analysis, gallery, settings)
    if first is not None:  # a resent photo with a drawing asked for: draw, write nothing
        result = _replay(first)
    else:
        photos.put_marking(session_id, photo.sha256, photo.data, photo.format)
        result = _record(records, who, _Photo(session, analysis, matches, roster, gallery), settings, now)
        count("MarkingTime", (time.perf_counter() - clock) * 1000, MetricUnit.Milliseconds)
    result.timings = analysis.timings
    if annotate:
        from rollcall.face.annotate import annotate as draw

        names = {s.student_id: s.name for s in RosterRepo(records).all() if s.student_id in set(roster)}
        result.annotated_image_base64 = base64.b64encode(draw(analysis.image, matches, names)).decode()
    return result


@dataclass(frozen=True)
class _Photo:
    """One analysed photo of one session: its faces matched to the class's students."""

    session: Session
    analysis: GroupAnalysis
    matches: list[FaceMatch]
    roster: list[str]
    gallery: Gallery

    def record_of(
        self,
        student_id: str,
        status: Status,
        by: tuple[Principal, datetime],
        *,
        arrived: datetime | None = None,
        distance: float | None = None,
        source: Source = Source.FACE,
    ) -> AttendanceRecord:
        """The student's record that this photo makes, marked by ``by`` (who, when)."""
        who, now = by
        return self.session.record(
            student_id,
            status,
            arrived_at=arrived,
            source=source,
            distance=distance,
            photo_hash=self.analysis.photo_hash if source is Source.FACE else None,
            marked_by=who.sub,
            marked_at=now,
        )


def _record(
    records: OrgRecords, who: Principal, photo: _Photo, settings: FaceSettings, now: datetime
) -> Marking:
    session, analysis, matches = photo.session, photo.analysis, photo.matches
    arrived = now if session.starts_at - ARRIVAL_WINDOW_BEFORE <= now <= session.ends_at else None
    attendance = AttendanceRepo(records)
    seen: dict[str, FaceMatch] = {m.student_id: m for m in matches if m.student_id and m.status in STATUS_OF}
    absent = sorted(set(photo.roster) - set(seen))
    attendance.write_marking(
        [
            photo.record_of(
                student_id, STATUS_OF[match.status], (who, now), arrived=arrived, distance=match.distance
            )
            for student_id, match in seen.items()
        ],
        [photo.record_of(s, Status.ABSENT, (who, now), source=Source.ROSTER) for s in absent],
    )
    faces = [m.as_dict() for m in matches]
    for face, close in zip(faces, _within_confident(analysis, photo.gallery, settings), strict=True):
        face["within_confident"] = close
    result = Marking(
        session_id=session.session_id,
        photo_hash=analysis.photo_hash,
        faces=faces,
        present=sorted(s for s, m in seen.items() if m.status is FaceStatus.PRESENT),
        uncertain=sorted(s for s, m in seen.items() if m.status is FaceStatus.UNCERTAIN),
        absent=absent,
        unknown_count=sum(m.status is FaceStatus.UNKNOWN for m in matches),
    )
    MarkingRepo(records).put(
        session.session_id,
        analysis.photo_hash,
        now,
        {
            "class_id": session.class_id,
            "marked_by": who.sub,
            "faces": faces,
            "present": result.present,
            "uncertain": result.uncertain,
            "absent": absent,
            "unknown_count": result.unknown_count,
            "counts": {
                "faces": len(matches),
                "present": len(result.present),
                "uncertain": len(result.uncertain),
                "unknown": result.unknown_count,
            },
        },
    )
    count("PhotoMarked")
    count("FacesPresent", len(result.present))
    count("FacesUncertain", len(result.uncertain))
    count("FacesUnknown", result.unknown_count)
    count("FacesPerPhoto", len(matches))
    if matches:
        count("UncertainShare", 100 * len(result.uncertain) / len(matches), MetricUnit.Percent)
    logger.info(
        "photo marked",
        extra={
            "session_id": session.session_id,
            "faces": len(matches),
            "present": len(result.present),
            "uncertain": len(result.uncertain),
            "unknown": result.unknown_count,
            "ms": analysis.timings,
        },
    )
    return result


def _within_confident(analysis: GroupAnalysis, gallery: Gallery, settings: FaceSettings) -> list[list[str]]:
    """For each face, the students within the confident threshold (two or more: a proxy signal)."""
    import numpy as np

    if not analysis.faces or not len(gallery):
        return [[] for _ in analysis.faces]
    distances = gallery.distances(np.stack([f.embedding for f in analysis.faces]))
    return [
        [gallery.student_ids[j] for j in np.flatnonzero(row <= settings.face_confident_threshold)]
        for row in distances
    ]


def _replay(event: dict[str, Any]) -> Marking:
    return Marking(
        session_id=event["session_id"],
        photo_hash=event["photo_hash"],
        faces=event.get("faces", []),
        present=event.get("present", []),
        uncertain=event.get("uncertain", []),
        absent=event.get("absent", []),
        unknown_count=event.get("unknown_count", 0),
        replayed=True,
    )
