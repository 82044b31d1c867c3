"""A synthetic appointment history with covariates: few records per person, booked ahead.

The school world (``testkit.synthetic.generate``) has full timetables, where a student's own
history says almost everything. Real appointment histories (clinics, tutoring, advising) are the
other way round: most people come once or twice, and what predicts a missed appointment is known
at booking. This world draws such a history, every record from a known probability (the
*oracle*), with these effects on the log-odds of attending:

- **lead time** (days from booking to the appointment): a third are booked the same day, the rest
  about ``LEAD_MEAN_DAYS`` ahead (exponential, at most 180); the effect is ``-LEAD_EFFECT *
  log1p(lead)``. Alone it is worth a ROC-AUC of about 0.69 (as in real no-show data);
- **reminder**: sent for about half of the appointments booked two days or more ahead (``+REMINDER_EFFECT``);
- **attributes** per person: ``age`` (numeric, older attend more), ``chronic`` (0 or 1),
  ``area`` (one of ``AREAS`` categories, each with its own effect);
- a per-person propensity (``PERSON_SD``), which repeat visits reveal;
- each clinic (the class) has an effect; clinics are named like real places (``JARDIM DA PENHA``).

``generate_appointments(org, people, weeks, seed)`` is deterministic. Records carry
``scheduled_at``, ``reminder_sent`` and ``attributes``; :meth:`AppointmentHistory.truth` gives the
oracle's probabilities. ``covariates=False`` drops them from the records (the ablation), not from
the world.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from rollcall.domain import AttendanceRecord, Source, Status, class_id_for

if TYPE_CHECKING:
    import numpy as np

BASE = 2.1
LEAD_EFFECT, LEAD_MEAN_DAYS, SAME_DAY_SHARE = 0.6, 14.0, 0.35
REMINDER_EFFECT = 0.35
AGE_EFFECT = 0.012  # per year above 40
CHRONIC_EFFECT = 0.25
PERSON_SD = 0.3
CLINIC_SD = 0.2
VISITS_MEAN = 0.8  # extra visits per person (Poisson), so 1.8 on average
CLINICS = ("JARDIM DA PENHA", "REPÚBLICA", "CENTRO", "MARUÍPE", "ITARARÉ", "SÃO PEDRO", "JABOUR", "BONFIM")
AREAS = ("north", "south", "east", "west", "centre", "island")
AREA_EFFECTS = (0.3, -0.3, 0.1, -0.15, 0.0, -0.45)
DEFAULT_START = datetime(2016, 1, 4, tzinfo=UTC)


@dataclass(frozen=True)
class AppointmentHistory:
    org: str
    records: list[AttendanceRecord]
    probability: dict[tuple[str, str], float]  # (session, student) → the true probability

    def truth(self, records: list[AttendanceRecord]) -> np.ndarray:
        import numpy as np

        return np.array([self.probability[(r.session_id, r.student_id)] for r in records])

    def without_covariates(self) -> list[AttendanceRecord]:
        return [replace(r, scheduled_at=None, reminder_sent=None, attributes=()) for r in self.records]


def generate_appointments(
    org: str, people: int, weeks: int, seed: int, *, start: datetime = DEFAULT_START
) -> AppointmentHistory:
    """``people`` people's appointments over ``weeks`` weeks from ``start``, seeded."""
    import numpy as np

    rng = np.random.default_rng(seed)
    age = rng.integers(0, 90, size=people)
    chronic = (rng.random(people) < 0.2 + 0.4 * (age > 55)).astype(int)
    area = rng.integers(0, len(AREAS), size=people)
    person = rng.normal(0.0, PERSON_SD, size=people)
    clinic_effect = rng.normal(0.0, CLINIC_SD, size=len(CLINICS))
    home = rng.integers(0, len(CLINICS), size=people)
    visits = 1 + rng.poisson(VISITS_MEAN, size=people)
    span = weeks * 7 * 86_400
    records: list[AttendanceRecord] = []
    probability: dict[tuple[str, str], float] = {}
    n = 0
    for i in range(people):
        sid = f"p{i:06d}"
        attributes = (("age", float(age[i])), ("area", AREAS[area[i]]), ("chronic", float(chronic[i])))
        for at in np.sort(rng.integers(0, span, size=visits[i])).tolist():
            n += 1
            starts = start + timedelta(seconds=int(at) // 1800 * 1800)
            same_day = rng.random() < SAME_DAY_SHARE
            lead = 0.0 if same_day else min(180.0, float(rng.exponential(LEAD_MEAN_DAYS)))
            reminder = bool(lead >= 2 and rng.random() < 0.5)
            logit = (
                BASE
                - LEAD_EFFECT * math.log1p(lead)
                + REMINDER_EFFECT * reminder
                + AGE_EFFECT * (age[i] - 40)
                + CHRONIC_EFFECT * chronic[i]
                + AREA_EFFECTS[area[i]]
                + person[i]
                + clinic_effect[home[i]]
            )
            p = 1.0 / (1.0 + math.exp(-logit))
            attended = rng.random() < p
            session_id = f"a{n:07d}"
            probability[(session_id, sid)] = p
            records.append(
                AttendanceRecord(
                    student_id=sid,
                    session_id=session_id,
                    class_id=class_id_for(CLINICS[home[i]]),
                    starts_at=starts,
                    ends_at=starts + timedelta(minutes=30),
                    status=Status.PRESENT if attended else Status.ABSENT,
                    source=Source.SYNTHETIC,
                    scheduled_at=starts - timedelta(days=lead),
                    reminder_sent=reminder,
                    attributes=attributes,
                )
            )
    records.sort(key=lambda r: (r.starts_at, r.session_id))
    return AppointmentHistory(org, records, probability)


def appointments_csv(records: list[AttendanceRecord]) -> bytes:
    """Records as a user would export them: clinics by name (the class_name column: every id is
    derived, also of names such as CENTRO that could be ids), covariates in their columns."""
    import csv
    import io

    from rollcall.domain import iso

    names = {class_id_for(name): name for name in CLINICS}
    attrs = ("age", "area", "chronic")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["student_id", "class_name", "session_id", "starts_at", "ends_at", "status"]
        + ["scheduled_at", "reminder_sent"]
        + [f"attr_{a}" for a in attrs]
    )
    for r in records:
        values = dict(r.attributes)
        writer.writerow(
            [r.student_id, names[r.class_id], r.session_id, iso(r.starts_at), iso(r.ends_at), r.status.value]
            + [iso(r.scheduled_at) if r.scheduled_at else "", "yes" if r.reminder_sent else "no"]
            + [values[a] for a in attrs]
        )
    return out.getvalue().encode()
