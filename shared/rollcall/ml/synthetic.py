"""A deterministic synthetic attendance history: cold start, tests, benchmarks, anomaly ground truth.

``generate(org, students, weeks, seed)`` builds an organisation whose every record was drawn from
a known probability, so the best possible ROC-AUC (the *oracle*: the true probabilities scored
against the outcomes) is known and a model can be judged against it.

The world it simulates (all effects on the log-odds of attending):

- Students are split into cohorts of about fifty; a cohort's eight classes never overlap in
  time and a student takes seven of them (about thirty 50-minute sessions a week, a full
  timetable), so in clean data nobody is in two places at once. Each class has a room.
- A student is "regular" or, for three in ten, "irregular" (a lower propensity), with some
  spread within each; a daily AR(1) mood and occasional slumps of one or two weeks make attendance
  autocorrelated (streaks and slumps), so recent attendance predicts. Slumps are mild enough
  (-1 on the log-odds) not to make anyone look chronically absent.
- Weekdays (Mondays and Fridays are worse), hours (8 o'clock is much worse) and classes have
  effects shared by everyone; attendance tires slowly through a term (term week); terms are
  separated by a break week every eighth week, and two public holidays have no sessions.
- Arrival (minutes relative to the start) follows the student's own punctuality; over five
  minutes is ``late``; a few arrivals are unknown.

Why these and not more: the oracle knows each student's propensity and state exactly, a model
has to estimate them from at most sixteen weeks of records. Per-student weekday, hour or class
preferences were tried; even for one student in twenty each, they lowered a good model's holdout
AUC from about 0.985 to 0.98 of the oracle's, because sixteen weeks are too few to tell such a
preference from chance. The oracle AUC of this world is about 0.83, and a model can reach ~98.5 %.

The population is deliberately regular (rate ~0.9, no student below ~0.75 on average), so that a
*clean* organisation (``anomalies=False``) has almost nothing an anomaly scan should report. With
``anomalies=True`` a few anomalies of every kind the anomaly scan looks for are written on top,
each listed in :attr:`SyntheticHistory.anomalies` with where it is (see :func:`_inject`).
Times are UTC; baseline records have source ``synthetic`` and a ``marked_at`` like face marking
gives (present: a photo just after the arrival; absent: the end of the session).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rollcall.records import AttendanceRecord, Session, Source, Status, Student, iso

if TYPE_CHECKING:
    import numpy as np

DEFAULT_START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
SESSION_MINUTES = 50
LATE_AFTER_MINUTES = 5.0  # arrival later than this is "late"
HOURS = (8, 9, 10, 11, 13, 14, 15, 16)  # regular slot start hours; 17 and 18 are the evening
EVENING = (17, 18)
COHORT_SIZE = 50
CLASSES_PER_COHORT, CLASSES_TAKEN = 8, 7
SLOTS_PER_CLASS = (4, 5)  # weekly slots of a class: at least, at most
BREAK_EVERY_WEEKS = 8  # week 8, 16, ... of the calendar is a break (never in the last four weeks)

# Effects on the log-odds (see the module docstring).
PROPENSITY_MEAN, IRREGULAR_MEAN, IRREGULAR_SHARE = 3.6, 1.9, 0.3
PROPENSITY_SD = 0.35  # within each group, clipped at ±2 sd
WEEKDAY_EFFECT = (-1.0, 0.5, 0.8, 0.5, -1.0, 0.0, 0.0)
HOUR_EFFECT = {8: -1.6, 9: -0.6, 10: 0.4, 11: 0.5, 13: 0.4, 14: 0.5, 15: 0.3, 16: -0.8}
EVENING_EFFECT = -0.3  # 17 and 18 o'clock: only the drift anomaly moves sessions there
CLASS_EFFECT_SD = 0.5
TERM_WEEK_EFFECT = -0.02
MOOD_RHO, MOOD_SD = 0.95, 0.1  # daily AR(1), stationary sd
SLUMP_WEEKLY_RATE, SLUMP_EFFECT, SLUMP_WEEKS = 0.01, -1.0, (1, 2)
UNKNOWN_ARRIVAL_SHARE = 0.05
FACE_UNCERTAIN_RATE, FACE_UNKNOWN_RATE = 0.02, 0.015  # per attending face, per photo
DEGRADED_UNCERTAIN, DEGRADED_UNKNOWN = 0.15, 0.12  # on the day matching health degrades


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
class MarkingEvent:
    """One classroom photo as face marking saw it: how many faces, and how well they matched."""

    session_id: str
    class_id: str
    photo_hash: str
    taken_at: datetime
    faces: int
    present: int  # matched within the confident threshold
    uncertain: int  # between the confident and the uncertain threshold
    unknown: int  # no enrolled student close enough


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


@dataclass
class SyntheticHistory:
    org: str
    seed: int
    start: datetime
    now: datetime  # the end of the history: the Monday after the last week
    students: list[Student]
    sessions: list[Session]
    records: list[AttendanceRecord]
    probabilities: np.ndarray  # the true attendance probability of records[i]
    injected: np.ndarray  # bool: records[i] was written by an injected anomaly
    anomalies: list[InjectedAnomaly]
    marking_events: list[MarkingEvent]
    corrections: list[CorrectionEvent]

    def outcomes(self) -> np.ndarray:
        import numpy as np

        return np.fromiter((r.attended for r in self.records), dtype=bool, count=len(self.records))

    def truth(self, records: Sequence[AttendanceRecord]) -> np.ndarray:
        """The true probabilities of (some of) this history's records, in the order given."""
        import numpy as np

        index = {
            (r.session_id, r.student_id): p for r, p in zip(self.records, self.probabilities, strict=True)
        }
        return np.array([index[(r.session_id, r.student_id)] for r in records])

    def oracle_auc(self) -> float:
        """ROC-AUC of the true probabilities against the outcomes: the best any model can do."""
        from rollcall.ml.evaluate import roc_auc

        return roc_auc(self.outcomes(), self.probabilities)

    def write_truth(self, path: str | Path) -> None:
        """The side table: one CSV row per record with its true probability and outcome."""
        with Path(path).open("w", newline="") as f:
            out = csv.writer(f)
            out.writerow(["student_id", "session_id", "starts_at", "attended", "probability", "injected"])
            for rec, p, inj in zip(self.records, self.probabilities, self.injected, strict=True):
                out.writerow(
                    [
                        rec.student_id,
                        rec.session_id,
                        iso(rec.starts_at),
                        int(rec.attended),
                        f"{p:.6f}",
                        int(inj),
                    ]
                )

    def write_anomalies(self, path: str | Path) -> None:
        """The injected anomalies as a JSON list (the anomaly scan's ground truth)."""
        Path(path).write_text(json.dumps([a.to_json() for a in self.anomalies], indent=2) + "\n")


# --- the world -------------------------------------------------------------------------------------


@dataclass
class _Class:
    class_id: str
    cohort: int
    room: str
    slots: list[tuple[int, int]]  # (weekday, hour)
    effect: float
    evening_slots: list[tuple[int, int]] | None = None  # the timetable after a drift move


@dataclass
class _World:
    """Everything drawn before any record: calendar, classes, students and their traits."""

    start: datetime
    weeks: int
    days: list[date]  # days with sessions
    day_index: dict[date, int]  # calendar day -> index into the mood arrays
    term_week: dict[date, int]
    classes: list[_Class]
    enrolment: list[list[int]]  # class index -> student indices
    propensity: np.ndarray
    punctuality: np.ndarray  # mean arrival minutes
    spread: np.ndarray  # arrival sd
    mood: np.ndarray  # (students, calendar days)
    slump: np.ndarray  # (students, calendar days) bool


def _calendar(start: datetime, weeks: int, rng: np.random.Generator) -> tuple[list[date], dict[date, int]]:
    breaks = {w for w in range(weeks) if (w + 1) % BREAK_EVERY_WEEKS == 0 and w < weeks - 4}
    candidates = [
        start.date() + timedelta(days=7 * w + d)
        for w in range(weeks - 4)
        if w not in breaks
        for d in range(5)
    ]
    chosen = rng.choice(len(candidates), size=2, replace=False).tolist() if len(candidates) >= 2 else []
    public = {candidates[i] for i in chosen}
    days, term_week, week_in_term = [], {}, 0
    for w in range(weeks):
        if w in breaks:
            week_in_term = 0
            continue
        for d in range(5):
            day = start.date() + timedelta(days=7 * w + d)
            if day not in public:
                days.append(day)
                term_week[day] = week_in_term
        week_in_term += 1
    return days, term_week


def _timetable(n_cohorts: int, rng: np.random.Generator) -> list[_Class]:
    classes = []
    for cohort in range(n_cohorts):
        free = [(d, h) for d in range(5) for h in HOURS]
        order = rng.permutation(len(free))
        taken = 0
        for k in range(CLASSES_PER_COHORT):
            n_slots = int(rng.integers(SLOTS_PER_CLASS[0], SLOTS_PER_CLASS[1] + 1))
            slots = sorted(free[i] for i in order[taken : taken + n_slots])
            taken += n_slots
            classes.append(
                _Class(
                    class_id=f"c{cohort:02d}{k}",
                    cohort=cohort,
                    room=f"room-{cohort:02d}{k}",
                    slots=slots,
                    effect=float(rng.normal(0.0, CLASS_EFFECT_SD)),
                )
            )
    return classes


def _world(n_students: int, weeks: int, start: datetime, rng: np.random.Generator) -> _World:
    import numpy as np

    days, term_week = _calendar(start, weeks, rng)
    n_cohorts = max(2, math.ceil(n_students / COHORT_SIZE))
    classes = _timetable(n_cohorts, rng)
    enrolment: list[list[int]] = [[] for _ in classes]
    for s in range(n_students):
        cohort = s % n_cohorts
        own = [i for i, c in enumerate(classes) if c.cohort == cohort]
        for i in sorted(rng.choice(own, size=min(CLASSES_TAKEN, len(own)), replace=False).tolist()):
            enrolment[i].append(s)
    n_days = 7 * weeks
    mood = np.zeros((n_students, n_days))
    shocks = rng.normal(0.0, MOOD_SD * math.sqrt(1 - MOOD_RHO**2), size=(n_students, n_days))
    mood[:, 0] = rng.normal(0.0, MOOD_SD, size=n_students)
    for d in range(1, n_days):
        mood[:, d] = MOOD_RHO * mood[:, d - 1] + shocks[:, d]
    slump = np.zeros((n_students, n_days), dtype=bool)
    for s, w in zip(*np.nonzero(rng.random((n_students, weeks)) < SLUMP_WEEKLY_RATE), strict=True):
        slump[s, 7 * w : 7 * (w + int(rng.integers(SLUMP_WEEKS[0], SLUMP_WEEKS[1] + 1)))] = True
    return _World(
        start=start,
        weeks=weeks,
        days=days,
        day_index={start.date() + timedelta(days=d): d for d in range(n_days)},
        term_week=term_week,
        classes=classes,
        enrolment=enrolment,
        propensity=np.where(rng.random(n_students) < IRREGULAR_SHARE, IRREGULAR_MEAN, PROPENSITY_MEAN)
        + PROPENSITY_SD * np.clip(rng.standard_normal(n_students), -2.0, 2.0),
        punctuality=rng.normal(0.0, 3.0, size=n_students),
        spread=rng.uniform(1.5, 5.0, size=n_students),
        mood=mood,
        slump=slump,
    )


def _move_to_evening(world: _World, rng: np.random.Generator) -> list[str]:
    """Drift: about a third of the classes move to evening slots (free in their cohort) for two weeks."""
    movers = [c for c in world.classes if rng.random() < 1 / 3] or world.classes[:1]
    busy: set[tuple[int, int, int]] = set()  # (cohort, weekday, hour)
    for c in movers:
        evening = []
        for d, h in c.slots:
            free = [e for e in EVENING if (c.cohort, d, e) not in busy]
            slot = (d, free[0]) if free else (d, h)
            busy.add((c.cohort, *slot))
            evening.append(slot)
        c.evening_slots = evening
    return [c.class_id for c in movers]


# --- sessions and records --------------------------------------------------------------------------


@dataclass
class _Draws:
    """The baseline records as arrays, before they become AttendanceRecords (anomalies edit these)."""

    student: list[int]
    session: list[int]
    probability: list[float]
    attended: list[bool]
    arrival: list[float]  # minutes; NaN when unknown or absent
    source: list[Source]
    marked_at: list[datetime]
    injected: list[bool]


def _sessions(world: _World, drift_from: date | None) -> list[tuple[Session, int]]:
    """Every session with its class index, in time order."""
    out = []
    for day in world.days:
        for i, c in enumerate(world.classes):
            slots = c.evening_slots if c.evening_slots and drift_from and day >= drift_from else c.slots
            for d, h in slots:
                if d == day.weekday():
                    starts = datetime(day.year, day.month, day.day, h, tzinfo=UTC)
                    sid = f"{c.class_id}-{starts:%Y%m%d-%H%M}"
                    ends = starts + timedelta(minutes=SESSION_MINUTES)
                    out.append((Session(sid, c.class_id, starts, ends, c.room), i))
    out.sort(key=lambda si: (si[0].starts_at, si[0].session_id))
    return out


def _logits(world: _World, session: Session, class_index: int, members: list[int]) -> np.ndarray:
    import numpy as np

    s = np.asarray(members)
    day = session.starts_at.date()
    wd, hour = day.weekday(), session.starts_at.hour
    d = world.day_index[day]
    logit = (
        world.propensity[s]
        + world.classes[class_index].effect
        + WEEKDAY_EFFECT[wd]
        + HOUR_EFFECT.get(hour, 0.0)
    )
    if hour >= EVENING[0]:
        logit = logit + EVENING_EFFECT
    logit = logit + TERM_WEEK_EFFECT * world.term_week[day] + world.mood[s, d]
    return logit + np.where(world.slump[s, d], SLUMP_EFFECT, 0.0)


def _draw(world: _World, sessions: list[tuple[Session, int]], rng: np.random.Generator) -> _Draws:
    import numpy as np

    draws = _Draws([], [], [], [], [], [], [], [])
    for k, (session, ci) in enumerate(sessions):
        members = world.enrolment[ci]
        if not members:
            continue
        p = 1.0 / (1.0 + np.exp(-_logits(world, session, ci, members)))
        attended = rng.random(len(members)) < p
        early = 2.0 if session.starts_at.hour <= 9 else 0.0
        arrival = (
            world.punctuality[members] + early + world.spread[members] * rng.standard_normal(len(members))
        )
        arrival = np.clip(arrival, -15.0, SESSION_MINUTES - 5.0)
        unknown = rng.random(len(members)) < UNKNOWN_ARRIVAL_SHARE
        arrival = np.where(attended & ~unknown, np.round(arrival, 1), np.nan)
        for j, m in enumerate(members):
            draws.student.append(m)
            draws.session.append(k)
            draws.probability.append(float(p[j]))
            draws.attended.append(bool(attended[j]))
            draws.arrival.append(float(arrival[j]))
            draws.source.append(Source.SYNTHETIC)
            draws.marked_at.append(_marked_at(session, float(arrival[j]), bool(attended[j])))
            draws.injected.append(False)
    return draws


def _marked_at(session: Session, arrival: float, attended: bool) -> datetime:
    """When the record was written: the photo after the arrival, or the end of the session for absences."""
    if not attended:
        return session.ends_at
    minutes = min(max(arrival if arrival == arrival else 0.0, 0.0) + 2.0, SESSION_MINUTES)
    return session.starts_at + timedelta(minutes=minutes)


def _records(
    draws: _Draws, sessions: list[tuple[Session, int]], student_ids: list[str]
) -> list[AttendanceRecord]:
    out = []
    for i in range(len(draws.student)):
        session = sessions[draws.session[i]][0]
        arrival = draws.arrival[i]
        known = arrival == arrival  # not NaN
        if not draws.attended[i]:
            status = Status.ABSENT
        elif known and arrival > LATE_AFTER_MINUTES:
            status = Status.LATE
        else:
            status = Status.PRESENT
        out.append(
            AttendanceRecord(
                student_id=student_ids[draws.student[i]],
                session_id=session.session_id,
                class_id=session.class_id,
                starts_at=session.starts_at,
                ends_at=session.ends_at,
                status=status,
                arrived_at=session.starts_at + timedelta(minutes=arrival) if known else None,
                location=session.location,
                source=draws.source[i],
                marked_at=draws.marked_at[i],
            )
        )
    return out


def _marking_events(
    sessions: list[tuple[Session, int]], draws: _Draws, degraded_day: date | None, rng: np.random.Generator
) -> list[MarkingEvent]:
    """One photo per session (two for classes over 30): faces found and how they matched."""
    import numpy as np

    present_count = np.bincount(np.asarray(draws.session), weights=np.asarray(draws.attended, dtype=float))
    present_count = np.pad(present_count, (0, max(0, len(sessions) - len(present_count))))
    events = []
    for k, (session, _ci) in enumerate(sessions):
        attending = int(present_count[k])
        bad = session.starts_at.date() == degraded_day
        u_rate, x_rate = (
            (DEGRADED_UNCERTAIN, DEGRADED_UNKNOWN) if bad else (FACE_UNCERTAIN_RATE, FACE_UNKNOWN_RATE)
        )
        for photo in range(2 if attending > 30 else 1):
            uncertain = int(rng.binomial(attending, u_rate))
            unknown = int(rng.binomial(attending, x_rate))
            events.append(
                MarkingEvent(
                    session_id=session.session_id,
                    class_id=session.class_id,
                    photo_hash=hashlib.sha256(f"{session.session_id}/{photo}".encode()).hexdigest()[:16],
                    taken_at=session.starts_at + timedelta(minutes=5 + 20 * photo),
                    faces=attending + unknown,
                    present=attending - uncertain,
                    uncertain=uncertain,
                    unknown=unknown,
                )
            )
    return events


# --- anomalies -------------------------------------------------------------------------------------


@dataclass
class _Scene:
    """What the injectors work on: the world, the sessions, the draws, and who is already used."""

    world: _World
    sessions: list[tuple[Session, int]]
    draws: _Draws
    student_ids: list[str]
    now: datetime
    rng: np.random.Generator
    corrections: list[CorrectionEvent]
    used: set[int] = field(default_factory=set)
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
            self.draws.marked_at[i] = _marked_at(
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


def _drop(scene: _Scene) -> InjectedAnomaly | None:
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


def _chronic(scene: _Scene) -> InjectedAnomaly | None:
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


def _collapse(scene: _Scene) -> InjectedAnomaly | None:
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


def _proxy_overlap(scene: _Scene) -> InjectedAnomaly | None:
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


def _add_record(scene: _Scene, student: int, k: int, source: Source) -> Session:
    """A record, present at 3 minutes, of ``student`` in session ``k`` (injected, truth 1.0)."""
    session = scene.sessions[k][0]
    d = scene.draws
    d.student.append(student)
    d.session.append(k)
    d.probability.append(1.0)
    d.attended.append(True)
    d.arrival.append(3.0)
    d.source.append(source)
    d.marked_at.append(_marked_at(session, 3.0, True))
    d.injected.append(True)
    return session


def _correct(scene: _Scene, i: int, by: str) -> None:
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


def _repeated_corrections(scene: _Scene) -> InjectedAnomaly | None:
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


def _late_arrival(scene: _Scene) -> InjectedAnomaly | None:
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
    scene.draws.marked_at[i] = _marked_at(session, scene.draws.arrival[i], True)
    details = {
        "variant": "arrival",
        "session_id": session.session_id,
        "arrival_minutes": scene.draws.arrival[i],
        "usual_p10": round(float(np.percentile(usual, 10)), 1),
        "usual_p90": round(float(np.percentile(usual, 90)), 1),
    }
    return InjectedAnomaly("unusual_checkin", scene.student(s), (session.starts_at, session.ends_at), details)


def _outside_window(scene: _Scene) -> InjectedAnomaly | None:
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


def _inject(scene: _Scene, org: str, moved: list[str], drift_from: datetime) -> list[InjectedAnomaly]:
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


def _noise_corrections(scene: _Scene) -> None:
    """Realistic background: a few single corrections of an absence, each for a different student."""
    absences = [i for i, a in enumerate(scene.draws.attended) if not a]
    n = min(len(absences), max(1, len(scene.student_ids) // 50))
    seen: set[int] = set()
    for i in scene.rng.choice(absences, size=n, replace=False).tolist() if absences else []:
        if scene.draws.student[i] not in seen:
            seen.add(scene.draws.student[i])
            _correct(scene, i, by="teacher")


def _time_order(draws: _Draws, sessions: list[tuple[Session, int]], student_ids: list[str]) -> _Draws:
    """The draws sorted by (session start, session id, student id): records come out in time order."""
    order = sorted(
        range(len(draws.student)),
        key=lambda i: (
            sessions[draws.session[i]][0].starts_at,
            sessions[draws.session[i]][0].session_id,
            student_ids[draws.student[i]],
        ),
    )
    return _Draws(*([column[i] for i in order] for column in vars(draws).values()))


# --- entry point -------------------------------------------------------------------------------------


def generate(
    org: str,
    students: int,
    weeks: int,
    seed: int,
    *,
    start: datetime = DEFAULT_START,
    anomalies: bool = True,
) -> SyntheticHistory:
    """A synthetic organisation: ``students`` over ``weeks`` weeks from ``start`` (a Monday), seeded.

    The same arguments always give the same history. ``anomalies=False`` gives a clean
    organisation; with anomalies, ``weeks`` must be at least 6 (the windows are the last 4 weeks).
    """
    import numpy as np

    if students < 2 or weeks < 1:
        raise ValueError("need at least 2 students and 1 week")
    if anomalies and weeks < 6:
        raise ValueError("anomaly injection needs at least 6 weeks of history")
    start = datetime.combine(start.date() - timedelta(days=start.weekday()), datetime.min.time(), UTC)
    base, extra = np.random.SeedSequence(seed).spawn(2)
    rng, inject_rng = np.random.default_rng(base), np.random.default_rng(extra)
    world = _world(students, weeks, start, rng)
    now = start + timedelta(weeks=weeks)
    drift_from = now - timedelta(days=14)
    moved = _move_to_evening(world, inject_rng) if anomalies else []
    sessions = _sessions(world, drift_from.date() if anomalies else None)
    draws = _draw(world, sessions, rng)
    student_ids = [f"s{i:05d}" for i in range(students)]
    scene = _Scene(world, sessions, draws, student_ids, now, rng, corrections=[])
    _noise_corrections(scene)
    truth: list[InjectedAnomaly] = []
    degraded_day = None
    if anomalies:
        scene.rng = inject_rng
        truth = _inject(scene, org, moved, drift_from)
        degraded_day = max(session.starts_at for session, _ in sessions).date()
    draws = _time_order(draws, sessions, student_ids)
    records = _records(draws, sessions, student_ids)
    enrolled: list[list[str]] = [[] for _ in range(students)]
    for i, members in enumerate(world.enrolment):
        for s in members:
            enrolled[s].append(world.classes[i].class_id)
    return SyntheticHistory(
        org=org,
        seed=seed,
        start=start,
        now=now,
        students=[
            Student(sid, f"Student {i}", tuple(enrolled[i]), start) for i, sid in enumerate(student_ids)
        ],
        sessions=[session for session, _ in sessions],
        records=records,
        probabilities=np.asarray(draws.probability),
        injected=np.asarray(draws.injected, dtype=bool),
        anomalies=truth,
        marking_events=_marking_events(sessions, draws, degraded_day, rng),
        corrections=scene.corrections,
    )
