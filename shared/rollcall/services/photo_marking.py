"""Marking a session's attendance from a classroom photo.

1. The photo is decoded; if this session already had this exact photo (same sha256), the first
   answer is given again and nothing is written: a resent photo changes nothing.
2. Every face is found and encoded, and matched one-to-one to the enrolled faces of the class's
   students (never two faces to one student): present within the confident threshold, uncertain
   (recorded for review) within the uncertain one, else unknown.
3. Records are written with the store's merge rule: a photo only raises a student's status and
   never overrides a teacher's correction, so several photos of one session merge (present in any
   is present) and concurrent markings leave one record per student. Students of the class not
   seen get "absent" only where they have no record yet.
4. The marking event (per face: status, distance, why an unknown face is unknown, quality
   issues, the students within the confident threshold) is kept for the anomaly scan.

When photos are kept (FACE_STORE_PHOTOS), the photo is kept before anything is written, so a
failure to keep it fails the marking (a retry is harmless) rather than leaving a marking whose
photo the school configured to keep is missing.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from rollcall.domain import AttendanceRecord, Session, Source, Status
from rollcall.face.pipeline import FaceMatch, GroupAnalysis, analyse, mark
from rollcall.face.status import FaceStatus
from rollcall.platform.auth import Principal
from rollcall.platform.observability import count, logger
from rollcall.platform.settings import FaceSettings
from rollcall.services.enrolment import decode
from rollcall.store.attendance import AttendanceRepo, SessionRepo
from rollcall.store.faces import FaceRepo
from rollcall.store.photo_events import MarkingRepo
from rollcall.store.photos import PhotoStore
from rollcall.store.roster import RosterRepo
from rollcall.store.table import OrgRecords

if TYPE_CHECKING:
    from rollcall.face.match import Gallery

ARRIVAL_WINDOW_BEFORE = timedelta(minutes=30)  # a photo this early still counts as the arrival time

STATUS_OF = {FaceStatus.PRESENT: Status.PRESENT, FaceStatus.UNCERTAIN: Status.UNCERTAIN}


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
    image_base64: str,
    settings: FaceSettings,
    photos: PhotoStore,
    *,
    annotate: bool = False,
    now: datetime,
) -> Marking:
    from rollcall.face.match import Gallery  # numpy: imported on first use, not at cold start

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
    matches = mark(analysis, gallery, settings)
    if first is not None:  # a resent photo with a drawing asked for: draw, write nothing
        result = _replay(first)
    else:
        photos.put_marking(session_id, photo.sha256, photo.data, photo.format)
        result = _record(records, who, session, analysis, matches, roster, gallery, settings, now)
    result.timings = analysis.timings
    if annotate:
        from rollcall.face.annotate import annotate as draw

        names = {s.student_id: s.name for s in RosterRepo(records).all() if s.student_id in set(roster)}
        result.annotated_image_base64 = base64.b64encode(draw(analysis.image, matches, names)).decode()
    return result


def _record(
    records: OrgRecords,
    who: Principal,
    session: Session,
    analysis: GroupAnalysis,
    matches: list[FaceMatch],
    roster: list[str],
    gallery: Gallery,
    settings: FaceSettings,
    now: datetime,
) -> Marking:
    arrived = now if session.starts_at - ARRIVAL_WINDOW_BEFORE <= now <= session.ends_at else None
    attendance = AttendanceRepo(records)
    seen: dict[str, FaceMatch] = {m.student_id: m for m in matches if m.student_id and m.status in STATUS_OF}
    for student_id, match in seen.items():
        attendance.write(
            _record_of(
                session, student_id, STATUS_OF[match.status], who, now, arrived, match.distance, analysis
            ),
            mode="merge",
        )
    absent = sorted(set(roster) - set(seen))
    attendance.write_many(
        (
            _record_of(session, s, Status.ABSENT, who, now, None, None, analysis, source=Source.ROSTER)
            for s in absent
        ),
        mode="if_absent",
    )
    faces = [m.as_dict() for m in matches]
    for face, close in zip(faces, _within_confident(analysis, gallery, settings), strict=True):
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


def _record_of(
    session: Session,
    student_id: str,
    status: Status,
    who: Principal,
    now: datetime,
    arrived: datetime | None,
    distance: float | None,
    analysis: GroupAnalysis,
    source: Source = Source.FACE,
) -> AttendanceRecord:
    return session.record(
        student_id,
        status,
        arrived_at=arrived,
        source=source,
        distance=distance,
        photo_hash=analysis.photo_hash if source is Source.FACE else None,
        marked_by=who.sub,
        marked_at=now,
    )


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
