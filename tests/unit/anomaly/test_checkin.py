"""Unusual check-ins: arrivals far outside the student's window, records written outside the session."""

from __future__ import annotations

from datetime import timedelta

from rollcall.anomaly.checkin import group_quantiles, outside_session_window, unusual_arrivals
from rollcall.anomaly.inputs import Context
from rollcall.domain import AttendanceRecord, Source
from testkit.scan_inputs import from_history
from testkit.synthetic import SyntheticHistory
from tests.unit.anomaly.support import DAY, NOW, context, daily, injected, keys, make_settings, record


def test_each_variant_is_found_when_injected_and_not_on_a_clean_org(
    injected_org: SyntheticHistory, clean_org: SyntheticHistory
) -> None:
    for detector, variant in (
        (unusual_arrivals, "arrival"),
        (outside_session_window, "outside_session_window"),
    ):
        assert injected(injected_org, variant) in keys(
            detector(Context(from_history(injected_org), make_settings()))
        )
        assert detector(Context(from_history(clean_org), make_settings())) == [], variant


def test_group_quantiles_interpolate_per_group() -> None:
    import numpy as np

    q = group_quantiles(
        np.array([0, 0, 0, 0, 0, 2]), np.array([4.0, 0.0, 1.0, 3.0, 2.0, 7.0]), 3, (0.1, 0.5, 0.9)
    )
    assert q[0].tolist() == [0.4, 2.0, 3.6]
    assert np.isnan(q[1]).all()
    assert q[2].tolist() == [7.0, 7.0, 7.0]


def _punctual(student: str = "s1", days: int = 20) -> list[AttendanceRecord]:
    """Arrivals from -2 to +2 minutes on the days before the last week."""
    return [
        record(student, r.starts_at, arrival=(i % 5) - 2.0)
        for i, r in enumerate(daily(student, days, end=NOW - 8 * DAY))
    ]


def test_an_arrival_is_unusual_beyond_the_margin() -> None:
    yesterday = NOW.replace(hour=9) - DAY
    # p90 of the usual arrivals is +2 minutes: the margin (20) puts the edge at +22
    (late,) = unusual_arrivals(context([*_punctual(), record("s1", yesterday, arrival=40.0)]))
    assert (late.subject, late.severity) == ("student:s1", "low")
    event = late.evidence["events"][0]
    assert (event["arrival_minutes"], event["usual_p90"], event["usual_arrivals"]) == (40.0, 2.0, 20)
    assert unusual_arrivals(context([*_punctual(), record("s1", yesterday, arrival=22.0)])) == []
    assert unusual_arrivals(context([*_punctual(), record("s1", yesterday, arrival=22.5)]))
    # An hour and more outside the window is medium; too early is unusual too
    assert (
        unusual_arrivals(context([*_punctual(), record("s1", yesterday, arrival=70.0)]))[0].severity
        == "medium"
    )
    assert unusual_arrivals(context([*_punctual(), record("s1", yesterday, arrival=-30.0)]))
    # Too short a history: not judged
    assert unusual_arrivals(context([*_punctual(days=9), record("s1", yesterday, arrival=40.0)])) == []


def test_a_late_photo_is_not_a_class_of_late_students() -> None:
    yesterday = NOW.replace(hour=9) - DAY
    students = [f"s{i}" for i in range(5)]
    history = [r for s in students for r in _punctual(s)]
    # Given one of five arriving 40 minutes late: reported
    some = [record(s, yesterday, arrival=40.0 if s == "s0" else 1.0) for s in students]
    assert keys(unusual_arrivals(context(history + some))) == {("unusual_checkin", "student:s0")}
    # Given all five "arriving" 40 minutes late (the photo was late): none reported
    everyone = [record(s, yesterday, arrival=40.0) for s in students]
    assert unusual_arrivals(context(history + everyone)) == []


def _face(student: str, marked_after_end: timedelta) -> AttendanceRecord:
    start = NOW.replace(hour=9) - DAY
    return record(
        student, start, source=Source.FACE, marked_at=start + timedelta(minutes=50) + marked_after_end
    )


def test_a_face_record_written_outside_its_session_window() -> None:
    others = [record(f"s{i}", NOW.replace(hour=9) - DAY) for i in range(2, 6)]
    # Given a face record written two hours after its session ended: medium, for the student
    (found,) = outside_session_window(context([_face("s1", timedelta(hours=2)), *others]))
    assert (found.subject, found.severity) == ("student:s1", "medium")
    assert found.evidence["events"][0]["minutes_outside"] == 120
    # Given 30 minutes after (within the 60-minute grace), or a corrected record: nothing
    assert outside_session_window(context([_face("s1", timedelta(minutes=30)), *others])) == []
    start = NOW.replace(hour=9) - DAY
    corrected = record("s1", start, source=Source.CORRECTION, marked_at=start + timedelta(hours=5))
    assert outside_session_window(context([corrected, *others])) == []
    # Given the whole session's photo marked late: one low finding about the session
    late_photo = [_face(f"s{i}", timedelta(hours=3)) for i in range(6)]
    (session,) = outside_session_window(context(late_photo))
    assert (session.subject, session.severity) == (f"session:{late_photo[0].session_id}", "low")
    assert session.evidence["events"][0]["records"] == 6
