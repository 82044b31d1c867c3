"""Anomalies written on top of a drawn history, each with its entry in the ground-truth list.

One of each kind the anomaly scan looks for (see :func:`inject`); each individual anomaly takes
a different student, none of them in the collapsed class, so they do not mask one another.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from rollcall.domain import Session, Source, Status, iso
from testkit.synthetic.world import (
    DEGRADED_UNCERTAIN,
    DEGRADED_UNKNOWN,
    EVENING,
    FACE_UNCERTAIN_RATE,
    FACE_UNKNOWN_RATE,
    Draws,
    World,
    marked_at,
    photo_hash,
)

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True, slots=True)
class InjectedAnomaly:
    """One injected anomaly: what an anomaly scan should find, and the numbers behind it.

    ``type`` is the anomaly scan's name for it; ``subject`` is ``student:<id>``,
    ``session:<id>``, ``org:<org>`` or ``model:attendance``; ``window`` the time span it covers.
    """

    type: str
    subject: str
    window: tuple[datetime, datetime]
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "window": [iso(self.window[0]), iso(self.window[1])]}


@dataclass(frozen=True, slots=True)
class CorrectionEvent:
    """A teacher's correction of a record, as the audit log keeps it (what it was, what it became)."""

    student_id: str
    session_id: str
    previous_status: Status
    previous_source: Source
    status: Status
    corrected_by: str
    corrected_at: datetime


# --- anomalies -------------------------------------------------------------------------------------


@dataclass
class Scene:
    """What the injectors work on: the world, the sessions, the draws, and who is already used."""

    world: World
    sessions: list[tuple[Session, int]]
    draws: Draws
    student_ids: list[str]
    now: datetime
    rng: np.random.Generator
    corrections: list[CorrectionEvent]
    used: set[int] = field(default_factory=set)
    photo_faces: dict[int, tuple[dict[str, Any], ...]] = field(default_factory=dict)  # session -> faces
    by_student: dict[int, list[int]] = field(default_factory=dict)  # rows of each student, in time order

    def __post_init__(self) -> None:
        for i, s in enumerate(self.draws.student):
            self.by_student.setdefault(s, []).append(i)

    def starts(self, i: int) -> datetime:
        return self.sessions[self.draws.session[i]][0].starts_at

    def rows_of(
        self, student: int, since: datetime | None = None, until: datetime | None = None
    ) -> list[int]:
        """The student's rows starting in [since, until)."""
        return [
            i
            for i in self.by_student.get(student, [])
            if (since is None or self.starts(i) >= since) and (until is None or self.starts(i) < until)
        ]

    def rate(self, rows: list[int]) -> float:
        return sum(self.draws.attended[i] for i in rows) / len(rows) if rows else float("nan")

    def force(self, rows: list[int], attended: int, probability: float) -> None:
        """Exactly ``attended`` of ``rows`` (chosen at random) attend; the truth becomes ``probability``."""
        chosen = set(self.rng.choice(len(rows), size=attended, replace=False).tolist())
        for j, i in enumerate(rows):
            present = j in chosen
            if present and math.isnan(self.draws.arrival[i]):
                self.draws.arrival[i] = round(float(self.world.punctuality[self.draws.student[i]]), 1)
            if not present:
                self.draws.arrival[i] = float("nan")
            self.draws.attended[i] = present
            self.draws.marked_at[i] = marked_at(
                self.sessions[self.draws.session[i]][0], self.draws.arrival[i], present
            )
            self.draws.probability[i] = probability
            self.draws.injected[i] = True

    def pick(self, candidates: list[int]) -> int | None:
        free = [s for s in candidates if s not in self.used]
        if not free:
            return None
        s = free[int(self.rng.integers(len(free)))]
        self.used.add(s)
        return s

    def students(self) -> range:
        return range(len(self.student_ids))

    def student(self, s: int) -> str:
        return f"student:{self.student_ids[s]}"


def _drop(scene: Scene) -> InjectedAnomaly | None:
    """Attendance drop: a regular student (≥ 90 % before) attends at most 45 % in the last two weeks."""
    since, four = scene.now - timedelta(days=14), scene.now - timedelta(days=28)
    candidates = [
        s
        for s in scene.students()
        if len(scene.rows_of(s, since)) >= 6
        and scene.rate(scene.rows_of(s, until=since)) >= 0.9
        and scene.rate(scene.rows_of(s, four, since)) >= 0.85
    ]
    s = scene.pick(candidates)
    if s is None:
        return None
    window, before = scene.rows_of(s, since), scene.rows_of(s, until=since)
    scene.force(window, int(0.45 * len(window)), 0.45)
    details = {"before_rate": round(scene.rate(before), 3), "window_rate": round(scene.rate(window), 3)}
    return InjectedAnomaly("attendance_drop", scene.student(s), (since, scene.now), details)


def _chronic(scene: Scene) -> InjectedAnomaly | None:
    """Chronic absence: a student at 55 % all along and at most 50 % over the last four weeks."""
    since = scene.now - timedelta(days=28)
    s = scene.pick([s for s in scene.students() if len(scene.rows_of(s, since)) >= 8])
    if s is None:
        return None
    window, before = scene.rows_of(s, since), scene.rows_of(s, until=since)
    scene.force(before, round(0.55 * len(before)), 0.55)
    scene.force(window, len(window) // 2, 0.5)
    details = {"window_rate": round(scene.rate(window), 3), "before_rate": round(scene.rate(before), 3)}
    return InjectedAnomaly("chronic_absence", scene.student(s), (since, scene.now), details)


def _collapse(scene: Scene) -> InjectedAnomaly | None:
    """Session collapse: one session of a class of at least 15 in the last week, 20 % attending."""
    since = scene.now - timedelta(days=7)
    by_session: dict[int, list[int]] = {}
    for i, k in enumerate(scene.draws.session):
        by_session.setdefault(k, []).append(i)
    options = [
        k for k, rows in by_session.items() if scene.sessions[k][0].starts_at >= since and len(rows) >= 15
    ]
    if not options:
        return None
    k = options[int(scene.rng.integers(len(options)))]
    session, ci = scene.sessions[k]
    usual = scene.rate(
        [i for kk, rows in by_session.items() if scene.sessions[kk][1] == ci and kk != k for i in rows]
    )
    scene.force(by_session[k], round(0.2 * len(by_session[k])), 0.2)
    scene.used.update(scene.world.enrolment[ci])
    details = {
        "class_id": session.class_id,
        "usual_rate": round(usual, 3),
        "rate": round(scene.rate(by_session[k]), 3),
    }
    window = (session.starts_at, session.ends_at)
    return InjectedAnomaly("session_collapse", f"session:{session.session_id}", window, details)


def _proxy_overlap(scene: Scene) -> InjectedAnomaly | None:
    """Proxy: a student present in a session is also marked present (by face) in an overlapping
    session of another cohort, in another room, in the last two weeks."""
    since = scene.now - timedelta(days=14)
    recent = [k for k, (session, _) in enumerate(scene.sessions) if session.starts_at >= since]
    cohort = [c.cohort for c in scene.world.classes]
    for s in scene.rng.permutation(len(scene.student_ids)).tolist():
        if s in scene.used:
            continue
        for i in scene.rows_of(s, since):
            a, ci = scene.sessions[scene.draws.session[i]]
            overlapping = [
                k
                for k in recent
                if cohort[scene.sessions[k][1]] != cohort[ci]
                and scene.sessions[k][0].starts_at < a.ends_at
                and a.starts_at < scene.sessions[k][0].ends_at
                and scene.sessions[k][0].location != a.location
            ]
            if scene.draws.attended[i] and overlapping:
                scene.used.add(s)
                b = _add_record(scene, s, overlapping[0], Source.FACE)
                details = {"session_ids": [a.session_id, b.session_id], "locations": [a.location, b.location]}
                window = (min(a.starts_at, b.starts_at), max(a.ends_at, b.ends_at))
                return InjectedAnomaly(
                    "proxy_attendance", scene.student(s), window, {"variant": "overlap", **details}
                )
    return None


def _add_record(scene: Scene, student: int, k: int, source: Source) -> Session:
    """A record, present at 3 minutes, of ``student`` in session ``k`` (injected, truth 1.0)."""
    session = scene.sessions[k][0]
    d = scene.draws
    d.student.append(student)
    d.session.append(k)
    d.probability.append(1.0)
    d.attended.append(True)
    d.arrival.append(3.0)
    d.source.append(source)
    d.marked_at.append(marked_at(session, 3.0, True))
    d.injected.append(True)
    return session


def _correct(scene: Scene, i: int, by: str) -> None:
    """A teacher turns the roster's (face-based) absence of row ``i`` into present."""
    session = scene.sessions[scene.draws.session[i]][0]
    at = session.ends_at + timedelta(hours=2)
    scene.draws.attended[i] = True
    scene.draws.arrival[i] = float("nan")
    scene.draws.source[i] = Source.CORRECTION
    scene.draws.marked_at[i] = at
    student = scene.student_ids[scene.draws.student[i]]
    scene.corrections.append(
        CorrectionEvent(student, session.session_id, Status.ABSENT, Source.ROSTER, Status.PRESENT, by, at)
    )


def _repeated_corrections(scene: Scene) -> InjectedAnomaly | None:
    """Proxy: a student's face-based absences corrected to present four times in four weeks."""
    since = scene.now - timedelta(days=28)
    s = scene.pick([s for s in scene.students() if len(scene.rows_of(s, since)) >= 8])
    if s is None:
        return None
    chosen = sorted(scene.rng.choice(scene.rows_of(s, since), size=4, replace=False).tolist())
    for i in chosen:
        scene.draws.injected[i] = True
        _correct(scene, i, by="teacher-proxy")
    sessions = [scene.sessions[scene.draws.session[i]][0].session_id for i in chosen]
    details = {"variant": "repeated_corrections", "session_ids": sessions, "corrected_by": "teacher-proxy"}
    return InjectedAnomaly("proxy_attendance", scene.student(s), (since, scene.now), details)


def _late_arrival(scene: Scene) -> InjectedAnomaly | None:
    """Unusual check-in: a punctual student arrives 40 minutes after their usual time."""
    import numpy as np

    since, world = scene.now - timedelta(days=7), scene.world
    s = scene.pick(
        [
            s
            for s in scene.students()
            if world.spread[s] < 3 and abs(world.punctuality[s]) < 3 and scene.rows_of(s, since)
        ]
    )
    if s is None:
        return None
    i = scene.rows_of(s, since)[0]
    usual = np.array([scene.draws.arrival[j] for j in scene.rows_of(s) if j != i])
    usual = usual[~np.isnan(usual)]
    scene.force([i], 1, scene.draws.probability[i])
    scene.draws.arrival[i] = round(float(world.punctuality[s]) + 40.0, 1)
    session = scene.sessions[scene.draws.session[i]][0]
    scene.draws.marked_at[i] = marked_at(session, scene.draws.arrival[i], True)
    details = {
        "variant": "arrival",
        "session_id": session.session_id,
        "arrival_minutes": scene.draws.arrival[i],
        "usual_p10": round(float(np.percentile(usual, 10)), 1),
        "usual_p90": round(float(np.percentile(usual, 90)), 1),
    }
    return InjectedAnomaly("unusual_checkin", scene.student(s), (session.starts_at, session.ends_at), details)


def _outside_window(scene: Scene) -> InjectedAnomaly | None:
    """Unusual check-in: a face record written at 23:40, long after its session and any other."""
    since = scene.now - timedelta(days=7)
    s = scene.pick([s for s in scene.students() if scene.rows_of(s, since)])
    if s is None:
        return None
    i = scene.rows_of(s, since)[0]
    scene.force([i], 1, scene.draws.probability[i])
    session = scene.sessions[scene.draws.session[i]][0]
    late = datetime.combine(session.starts_at.date(), datetime.min.time(), UTC) + timedelta(
        hours=23, minutes=40
    )
    scene.draws.source[i] = Source.FACE
    scene.draws.marked_at[i] = late
    details = {"variant": "outside_session_window", "session_id": session.session_id, "marked_at": iso(late)}
    return InjectedAnomaly("unusual_checkin", scene.student(s), (late, late), details)


def _double_match(scene: Scene) -> InjectedAnomaly | None:
    """Proxy: a face in a recent photo was within the confident threshold of the student it was
    given to and of a classmate (the photo's ``face_details``)."""
    since = scene.now - timedelta(days=14)
    s = scene.pick(
        [s for s in scene.students() if any(scene.draws.attended[i] for i in scene.rows_of(s, since))]
    )
    if s is None:
        return None
    i = next(i for i in scene.rows_of(s, since) if scene.draws.attended[i])
    k = scene.draws.session[i]
    session, ci = scene.sessions[k]
    classmates = [m for m in scene.world.enrolment[ci] if m != s]
    other = classmates[int(scene.rng.integers(len(classmates)))]
    close = sorted([scene.student_ids[s], scene.student_ids[other]])
    face = {
        "student_id": scene.student_ids[s],
        "status": "present",
        "distance": 0.41,
        "within_confident": close,
    }
    scene.photo_faces[k] = (face,)
    details = {
        "variant": "double_match",
        "session_id": session.session_id,
        "photo_hash": photo_hash(session.session_id, 0),
        "students_within_confident": close,
    }
    return InjectedAnomaly(
        "proxy_attendance", scene.student(s), (session.starts_at, session.ends_at), details
    )


def inject(scene: Scene, org: str, moved: list[str], drift_from: datetime) -> list[InjectedAnomaly]:
    """Write one anomaly of each kind onto the draws; returns the ground truth list.

    Individual anomalies each take a different student, none of them in the collapsed class.
    """
    injectors = (
        _collapse,
        _drop,
        _chronic,
        _proxy_overlap,
        _repeated_corrections,
        _late_arrival,
        _outside_window,
        _double_match,
    )
    found = [anomaly for inject in injectors if (anomaly := inject(scene)) is not None]
    last_day = max(session.starts_at for session, _ in scene.sessions)
    day = datetime.combine(last_day.date(), datetime.min.time(), UTC)
    health = {"uncertain_rate": DEGRADED_UNCERTAIN, "unknown_rate": DEGRADED_UNKNOWN}
    health |= {"usual_uncertain_rate": FACE_UNCERTAIN_RATE, "usual_unknown_rate": FACE_UNKNOWN_RATE}
    found.append(InjectedAnomaly("matching_health", f"org:{org}", (day, day + timedelta(days=1)), health))
    drift = {"feature": "hour", "moved_classes": moved, "to_hours": list(EVENING)}
    found.append(InjectedAnomaly("model_drift", "model:attendance", (drift_from, scene.now), drift))
    return found


def noise_corrections(scene: Scene) -> None:
    """Realistic background: a few single corrections of an absence, each for a different student."""
    absences = [i for i, a in enumerate(scene.draws.attended) if not a]
    n = min(len(absences), max(1, len(scene.student_ids) // 50))
    seen: set[int] = set()
    for i in scene.rng.choice(absences, size=n, replace=False).tolist() if absences else []:
        if scene.draws.student[i] not in seen:
            seen.add(scene.draws.student[i])
            _correct(scene, i, by="teacher")
