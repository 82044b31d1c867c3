"""Attendance drop, chronic absence and session collapse: injected vs clean, thresholds at their edges."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from rollcall.anomaly.attendance import attendance_drop, chronic_absence, session_collapse
from rollcall.anomaly.findings import ATTENDANCE_DROP, CHRONIC_ABSENCE, SESSION_COLLAPSE
from rollcall.anomaly.inputs import Context
from rollcall.domain import AttendanceRecord
from testkit.scan_inputs import from_history
from testkit.synthetic import SyntheticHistory
from tests.unit.anomaly.support import DAY, NOW, context, daily, keys, make_settings, record


def _truth(history: SyntheticHistory, type_: str) -> set[tuple[str, str]]:
    return {(a.type, a.subject) for a in history.anomalies if a.type == type_}


def test_each_detector_finds_its_injected_anomaly_and_nothing_on_a_clean_org(
    injected_org: SyntheticHistory, clean_org: SyntheticHistory
) -> None:
    for detector, type_ in (
        (attendance_drop, ATTENDANCE_DROP),
        (chronic_absence, CHRONIC_ABSENCE),
        (session_collapse, SESSION_COLLAPSE),
    ):
        # Given the injected organisation, When the detector runs, Then it finds what was injected
        found = detector(Context(from_history(injected_org), make_settings()))
        assert _truth(injected_org, type_) <= keys(found), type_
        # Given a clean organisation, Then it finds nothing
        assert detector(Context(from_history(clean_org), make_settings())) == [], type_


def _drop_case(window_attended: int, window: int = 10) -> list[AttendanceRecord]:
    """30 attended days before a ``window``-day window with ``window_attended`` attended."""
    before = daily("s1", 30, end=NOW - window * DAY)
    recent = daily("s1", window, attended=[i < window_attended for i in range(window)])
    return before + recent


def test_a_drop_needs_30_points_at_least() -> None:
    # Given a perfect history and a 10-day window at 70 % (exactly 30 points lower)
    found = attendance_drop(context(_drop_case(7), anomaly_drop_window_days=10))
    # Then it is a drop, with the numbers behind it
    (drop,) = found
    assert drop.subject == "student:s1"
    assert drop.evidence["window_rate"] == 0.7
    assert drop.evidence["history_rate"] == 1.0
    assert drop.evidence["window_records"] == 10
    assert drop.severity == "medium"
    # Given 80 % (20 points lower), Then it is not
    assert attendance_drop(context(_drop_case(8), anomaly_drop_window_days=10)) == []
    # Given 70 % but a 31-point threshold, Then it is not
    assert (
        attendance_drop(context(_drop_case(7), anomaly_drop_window_days=10, anomaly_drop_min_points=0.31))
        == []
    )


def test_a_drop_needs_the_z_score() -> None:
    # Given the 70 % case, its z against the Laplace-smoothed history rate
    p = 31 / 32
    z = (p - 0.7) / math.sqrt(p * (1 - p) / 10)

    def found(min_z: float) -> bool:
        return bool(
            attendance_drop(context(_drop_case(7), anomaly_drop_window_days=10, anomaly_drop_min_z=min_z))
        )

    # Then a threshold just under the z finds it, just over does not
    assert found(z - 0.01)
    assert not found(z + 0.01)


def test_a_drop_needs_enough_sessions_in_and_before_the_window() -> None:
    few_recent = daily("s1", 30, end=NOW - 14 * DAY) + daily("s1", 5, attended=[False] * 5)
    short_history = daily("s1", 19, end=NOW - 14 * DAY) + daily("s1", 14, attended=[False] * 14)
    assert attendance_drop(context(few_recent)) == []
    assert attendance_drop(context(short_history)) == []
    # And with a history of 20 it is judged: a student who stopped coming is critical
    (stopped,) = attendance_drop(
        context(daily("s1", 20, end=NOW - 14 * DAY) + daily("s1", 14, attended=[False] * 14))
    )
    assert stopped.severity == "critical"


def _chronic_case(attended: int, days: int = 10) -> Context:
    return context(
        daily("s1", days, attended=[i < attended for i in range(days)]), anomaly_chronic_window_days=days
    )


def test_chronic_absence_is_strictly_under_the_threshold() -> None:
    assert chronic_absence(_chronic_case(6)) == []  # 60 %: not under 60 %
    (chronic,) = chronic_absence(_chronic_case(5))  # 50 %
    assert (chronic.subject, chronic.severity, chronic.evidence["rate"]) == ("student:s1", "medium", 0.5)
    assert chronic_absence(_chronic_case(3))[0].severity == "high"  # 30 %
    assert chronic_absence(_chronic_case(1))[0].severity == "critical"  # 10 %
    # Given fewer sessions than the minimum in the window, Then nobody is judged
    assert chronic_absence(context(daily("s1", 7, attended=[False] * 7))) == []


def _session(start: datetime, attended: int, size: int = 12, class_id: str = "c1") -> list[AttendanceRecord]:
    return [record(f"s{i}", start, attended=i < attended, class_id=class_id) for i in range(size)]


def _class_history(days: int = 10, attended: int = 11) -> list[AttendanceRecord]:
    """Daily 11 o'clock sessions of class c1, ``attended`` or one fewer of 12, before the last week."""
    out = []
    for d in range(days):
        start = NOW.replace(hour=11) - timedelta(days=8 + d)
        out += _session(start, attended - d % 2)
    return out


def test_a_session_far_below_its_class_collapses() -> None:
    # Given a class that usually has 10 or 11 of 12, and a session yesterday with 2
    yesterday = (NOW - DAY).replace(hour=11)
    (collapse,) = session_collapse(context(_class_history() + _session(yesterday, 2)))
    # Then it is a collapse of that session, high (under half the usual), with its numbers
    assert collapse.subject == "session:c1-20260329-1100"
    assert collapse.severity == "high"
    (event,) = collapse.evidence["events"]
    assert (event["attended"], event["records"], event["usual_sessions"]) == (2, 12, 10)
    assert event["z"] >= 3
    # Given 9 of 12 (13 points under the usual: under the 20-point minimum), Then it does not
    assert session_collapse(context(_class_history() + _session(yesterday, 9))) == []
    # Given a session too small to judge, Then it does not
    assert session_collapse(context(_class_history() + _session(yesterday, 1, size=9))) == []


def test_a_session_is_judged_against_its_weekly_slot_when_it_has_one() -> None:
    # Given a class a third full on Mondays at 8 (five past Mondays) and nearly full at 11 every day
    history = []
    for week in range(1, 6):
        history += _session(NOW.replace(hour=8) - timedelta(weeks=week), 4)
    history += _class_history(days=50, attended=12)
    recent = _session(NOW.replace(hour=8), 4)
    now = NOW.replace(hour=10)
    # Then this Monday at 8 with 4 of 12 is usual for its slot
    assert session_collapse(context(history + recent, now=now)) == []
    # But against all the class's sessions (when its slot has too few of them), it collapses
    found = session_collapse(context(history + recent, now=now, anomaly_collapse_min_class_sessions=6))
    assert [f.evidence["events"][0]["usual_of"] for f in found] == ["the class's sessions"]
