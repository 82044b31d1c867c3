"""The synthetic world: calendar, cohorts and classes, students' traits, and the records drawn from it.

See the package docstring for what is simulated and why. Everything random comes from the
``numpy`` generator passed in, so a seed fixes the world.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from rollcall.domain import AttendanceRecord, Session, Source, Status

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
class MarkingEvent:
    """One classroom photo as face marking saw it: how many faces, and how well they matched.

    ``face_details`` are per-face results as face marking stores them (``student_id``, ``status``,
    ``distance``, ``within_confident``); the generator writes them only for a face it injects.
    """

    session_id: str
    class_id: str
    photo_hash: str
    taken_at: datetime
    faces: int
    present: int  # matched within the confident threshold
    uncertain: int  # between the confident and the uncertain threshold
    unknown: int  # no enrolled student close enough
    face_details: tuple[dict[str, Any], ...] = field(default=(), hash=False)


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
class World:
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


def build_world(n_students: int, weeks: int, start: datetime, rng: np.random.Generator) -> World:
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
    return World(
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


def move_to_evening(world: World, rng: np.random.Generator) -> list[str]:
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
class Draws:
    """The baseline records as arrays, before they become AttendanceRecords (anomalies edit these)."""

    student: list[int]
    session: list[int]
    probability: list[float]
    attended: list[bool]
    arrival: list[float]  # minutes; NaN when unknown or absent
    source: list[Source]
    marked_at: list[datetime]
    injected: list[bool]


def timetable_sessions(world: World, drift_from: date | None) -> list[tuple[Session, int]]:
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


def _logits(world: World, session: Session, class_index: int, members: list[int]) -> np.ndarray:
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


def draw(world: World, sessions: list[tuple[Session, int]], rng: np.random.Generator) -> Draws:
    import numpy as np

    draws = Draws([], [], [], [], [], [], [], [])
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
            draws.marked_at.append(marked_at(session, float(arrival[j]), bool(attended[j])))
            draws.injected.append(False)
    return draws


def marked_at(session: Session, arrival: float, attended: bool) -> datetime:
    """When the record was written: the photo after the arrival, or the end of the session for absences."""
    if not attended:
        return session.ends_at
    minutes = min(max(arrival if arrival == arrival else 0.0, 0.0) + 2.0, SESSION_MINUTES)
    return session.starts_at + timedelta(minutes=minutes)


def to_records(
    draws: Draws, sessions: list[tuple[Session, int]], student_ids: list[str]
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
            session.record(
                student_ids[draws.student[i]],
                status,
                arrived_at=session.starts_at + timedelta(minutes=arrival) if known else None,
                source=draws.source[i],
                marked_at=draws.marked_at[i],
            )
        )
    return out


def photo_hash(session_id: str, photo: int) -> str:
    """The (fake) sha256 of a session's ``photo``-th photo."""
    return hashlib.sha256(f"{session_id}/{photo}".encode()).hexdigest()[:16]


def marking_events(
    sessions: list[tuple[Session, int]],
    draws: Draws,
    degraded_day: date | None,
    rng: np.random.Generator,
    face_details: dict[int, tuple[dict[str, Any], ...]] | None = None,
) -> list[MarkingEvent]:
    """One photo per session (two for classes over 30): faces found and how they matched.

    ``face_details`` (session index -> faces) are written on that session's first photo.
    """
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
                    photo_hash=photo_hash(session.session_id, photo),
                    taken_at=session.starts_at + timedelta(minutes=5 + 20 * photo),
                    faces=attending + unknown,
                    present=attending - uncertain,
                    uncertain=uncertain,
                    unknown=unknown,
                    face_details=(face_details or {}).get(k, ()) if photo == 0 else (),
                )
            )
    return events


def time_order(draws: Draws, sessions: list[tuple[Session, int]], student_ids: list[str]) -> Draws:
    """The draws sorted by (session start, session id, student id): records come out in time order."""
    order = sorted(
        range(len(draws.student)),
        key=lambda i: (
            sessions[draws.session[i]][0].starts_at,
            sessions[draws.session[i]][0].session_id,
            student_ids[draws.student[i]],
        ),
    )
    return Draws(*([column[i] for i in order] for column in vars(draws).values()))
