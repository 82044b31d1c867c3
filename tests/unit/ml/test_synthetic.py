"""The synthetic history: deterministic, realistic where it claims to be, anomalies where it says."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rollcall.domain import AttendanceRecord, Source, Status
from testkit import synthetic
from testkit.synthetic import SyntheticHistory


def _rate(records: list[AttendanceRecord]) -> float:
    return sum(r.attended for r in records) / len(records)


def _by_student(history: SyntheticHistory) -> dict[str, list[AttendanceRecord]]:
    out: dict[str, list[AttendanceRecord]] = defaultdict(list)
    for r in history.records:
        out[r.student_id].append(r)
    return out


def _anomaly(history: SyntheticHistory, type_: str, variant: str | None = None) -> synthetic.InjectedAnomaly:
    found = [a for a in history.anomalies if a.type == type_ and a.details.get("variant", variant) == variant]
    assert len(found) == 1, f"expected one {type_} {variant or ''} in the truth list, got {len(found)}"
    return found[0]


def _student(anomaly: synthetic.InjectedAnomaly) -> str:
    kind, student_id = anomaly.subject.split(":", 1)
    assert kind == "student"
    return student_id


def test_same_seed_same_history_and_another_seed_another() -> None:
    # Given two generations with the same arguments and one with another seed
    a = synthetic.generate("o", students=30, weeks=6, seed=5)
    b = synthetic.generate("o", students=30, weeks=6, seed=5)
    c = synthetic.generate("o", students=30, weeks=6, seed=6)
    # Then the first two are identical in every record, probability and anomaly, the third is not
    assert a.records == b.records
    assert np.array_equal(a.probabilities, b.probabilities)
    assert [x.to_json() for x in a.anomalies] == [x.to_json() for x in b.anomalies]
    assert a.marking_events == b.marking_events
    assert a.records != c.records


def test_clean_org_is_regular_and_learnable(clean_org: SyntheticHistory) -> None:
    # Given a clean organisation
    # Then it has no injected anomalies, a realistic rate, and an oracle AUC in the realistic range
    assert clean_org.anomalies == []
    assert not clean_org.injected.any()
    assert 0.8 < clean_org.outcomes().mean() < 0.95
    assert 0.75 < clean_org.oracle_auc() < 0.9
    # and no student is chronically absent over the last four weeks (nothing for a scan to report)
    since = clean_org.now - timedelta(days=28)
    rates = [_rate([r for r in rs if r.starts_at >= since]) for rs in _by_student(clean_org).values()]
    assert min(rates) >= 0.6


def test_clean_org_has_no_one_in_two_places_and_no_late_writes(clean_org: SyntheticHistory) -> None:
    # Given the clean organisation's attended records by student
    for records in _by_student(clean_org).values():
        attended = sorted((r for r in records if r.attended), key=lambda r: r.starts_at)
        # Then no two of a student's attended sessions overlap in time
        for first, second in pairwise(attended):
            assert second.starts_at >= first.ends_at
    # and every face-like (synthetic) record was written during its session
    for r in clean_org.records:
        if r.source is Source.SYNTHETIC:
            assert r.marked_at is not None
            assert r.starts_at <= r.marked_at <= r.ends_at


def test_records_follow_the_calendar() -> None:
    # Given a 14-week history (long enough for a break week before the last four)
    history = synthetic.generate("cal", students=10, weeks=14, seed=3, anomalies=False)
    days = {s.starts_at.date() for s in history.sessions}
    # Then there are sessions on weekdays only, none in the break week (the eighth), and two
    # weekdays of term without any (the public holidays)
    assert all(d.weekday() < 5 for d in days)
    break_week = {history.start.date() + timedelta(days=7 * 7 + d) for d in range(7)}
    assert not days & break_week
    term_days = {history.start.date() + timedelta(days=d) for d in range(14 * 7)} - break_week
    assert len({d for d in term_days if d.weekday() < 5} - days) == 2
    # and late records are the ones arriving more than five minutes after the start
    for r in history.records:
        if r.status is not Status.ABSENT and r.minutes_late is not None:
            assert (r.status is Status.LATE) == (r.minutes_late > synthetic.LATE_AFTER_MINUTES)


def test_truth_file_has_every_record_and_its_probability(clean_org: SyntheticHistory, tmp_path: Path) -> None:
    # When the truth side table is written
    path = tmp_path / "truth.csv"
    clean_org.write_truth(path)
    rows = list(csv.DictReader(path.open()))
    # Then it has one row per record, in order, with the outcome and a probability in (0, 1]
    assert len(rows) == len(clean_org.records)
    assert [(r["student_id"], r["session_id"]) for r in rows[:50]] == [
        (r.student_id, r.session_id) for r in clean_org.records[:50]
    ]
    assert all(0 < float(r["probability"]) <= 1 for r in rows)
    assert [int(r["attended"]) for r in rows] == [int(r.attended) for r in clean_org.records]


def test_every_kind_of_anomaly_is_listed(anomalous_org: SyntheticHistory, tmp_path: Path) -> None:
    # Given an organisation with anomalies
    types = sorted({a.type for a in anomalous_org.anomalies})
    # Then the truth list names each kind, and is written as JSON
    assert types == sorted(
        [
            "attendance_drop",
            "chronic_absence",
            "session_collapse",
            "proxy_attendance",
            "unusual_checkin",
            "matching_health",
            "model_drift",
        ]
    )
    anomalous_org.write_anomalies(tmp_path / "anomalies.json")
    listed = json.loads((tmp_path / "anomalies.json").read_text())
    assert {a["type"] for a in listed} == set(types)
    assert all(set(a) == {"type", "subject", "window", "details"} for a in listed)


def test_attendance_drop_and_chronic_absence_are_where_listed(anomalous_org: SyntheticHistory) -> None:
    by_student = _by_student(anomalous_org)
    # Given the listed attendance drop
    drop = _anomaly(anomalous_org, "attendance_drop")
    since, until = drop.window
    records = by_student[_student(drop)]
    window = [r for r in records if since <= r.starts_at < until]
    before = [r for r in records if r.starts_at < since]
    # Then the student's last two weeks are at least 30 points below their own history
    assert until - since == timedelta(days=14)
    assert _rate(before) - _rate(window) >= 0.3
    assert drop.details["window_rate"] == pytest.approx(_rate(window), abs=1e-3)
    # Given the listed chronic absence
    chronic = _anomaly(anomalous_org, "chronic_absence")
    since, until = chronic.window
    recent = [r for r in by_student[_student(chronic)] if since <= r.starts_at < until]
    # Then the student attended under 60 % over the last four weeks
    assert until - since == timedelta(days=28)
    assert _rate(recent) < 0.6


def test_session_collapse_is_where_listed(anomalous_org: SyntheticHistory) -> None:
    # Given the listed session collapse
    collapse = _anomaly(anomalous_org, "session_collapse")
    session_id = collapse.subject.split(":", 1)[1]
    class_id = collapse.details["class_id"]
    in_session = [r for r in anomalous_org.records if r.session_id == session_id]
    others = [r for r in anomalous_org.records if r.class_id == class_id and r.session_id != session_id]
    per_session: dict[str, list[AttendanceRecord]] = defaultdict(list)
    for r in others:
        per_session[r.session_id].append(r)
    usual = np.array([_rate(rs) for rs in per_session.values()])
    # Then that session's attendance lies more than three standard deviations below the class's usual
    assert _rate(in_session) < usual.mean() - 3 * usual.std()


def test_proxy_attendance_is_where_listed(anomalous_org: SyntheticHistory) -> None:
    # Given the overlap variant: the student is present in both listed sessions
    overlap = _anomaly(anomalous_org, "proxy_attendance", "overlap")
    student = _student(overlap)
    a, b = (
        next(r for r in anomalous_org.records if r.student_id == student and r.session_id == s)
        for s in overlap.details["session_ids"]
    )
    # Then both are attended, they overlap in time, and they are in different rooms
    assert a.attended
    assert b.attended
    assert a.starts_at < b.ends_at
    assert b.starts_at < a.ends_at
    assert a.location != b.location
    # Given the repeated corrections variant
    corrected = _anomaly(anomalous_org, "proxy_attendance", "repeated_corrections")
    student = _student(corrected)
    records = [r for r in anomalous_org.records if r.student_id == student and r.source is Source.CORRECTION]
    events = [c for c in anomalous_org.corrections if c.student_id == student]
    # Then four present corrections of face-based (roster) absences are on record, inside the window
    assert len(records) == len(events) == 4
    assert all(r.status is Status.PRESENT for r in records)
    assert all(c.previous_status is Status.ABSENT and c.previous_source is Source.ROSTER for c in events)
    assert all(corrected.window[0] <= r.starts_at < corrected.window[1] for r in records)


def test_unusual_checkins_are_where_listed(anomalous_org: SyntheticHistory) -> None:
    # Given the late-arrival variant
    late = _anomaly(anomalous_org, "unusual_checkin", "arrival")
    student = _student(late)
    record = next(
        r
        for r in anomalous_org.records
        if r.student_id == student and r.session_id == late.details["session_id"]
    )
    usual = [
        r.minutes_late
        for r in anomalous_org.records
        if r.student_id == student and r is not record and r.minutes_late is not None and r.attended
    ]
    # Then the arrival lies far (over 25 minutes) beyond the student's usual 90th percentile
    assert record.minutes_late is not None
    assert record.minutes_late > np.percentile(usual, 90) + 25
    # Given the outside-window variant
    outside = _anomaly(anomalous_org, "unusual_checkin", "outside_session_window")
    record = next(
        r for r in anomalous_org.records if r.student_id == _student(outside) and r.source is Source.FACE
    )
    # Then it was written when no session of the organisation was running
    assert record.marked_at is not None
    assert not any(s.starts_at <= record.marked_at <= s.ends_at for s in anomalous_org.sessions)


def test_matching_health_degrades_on_the_listed_day(anomalous_org: SyntheticHistory) -> None:
    # Given the listed day of poor face matching
    health = _anomaly(anomalous_org, "matching_health")
    day: list[Any] = []
    rest: list[Any] = []
    for e in anomalous_org.marking_events:
        (day if health.window[0] <= e.taken_at < health.window[1] else rest).append(e)

    def share(events: list[synthetic.MarkingEvent]) -> float:
        return sum(e.uncertain + e.unknown for e in events) / sum(e.faces for e in events)

    # Then that day's share of uncertain or unknown faces is over twice the usual
    assert day
    assert share(day) >= 2 * share(rest)


def test_drift_moves_classes_to_the_evening_in_its_window(anomalous_org: SyntheticHistory) -> None:
    # Given the listed drift and the classes it moved
    drift = _anomaly(anomalous_org, "model_drift")
    moved = set(drift.details["moved_classes"])
    inside = [s for s in anomalous_org.sessions if s.class_id in moved and s.starts_at >= drift.window[0]]
    before = [s for s in anomalous_org.sessions if s.class_id in moved and s.starts_at < drift.window[0]]
    # Then in the window their sessions are (mostly) in the evening, and never were before
    assert moved
    assert inside
    assert np.mean([s.starts_at.hour >= 17 for s in inside]) > 0.5
    assert all(s.starts_at.hour < 17 for s in before)
