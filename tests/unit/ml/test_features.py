"""Features: exact on a hand-made history, no leakage, and the same in training and prediction."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from rollcall.domain import AttendanceRecord, Status
from rollcall.ml.features import CAP_DAYS, CLASS_WINDOW_DAYS, FEATURES, PRIOR_RATE, History
from testkit.synthetic import SyntheticHistory


def _record(day: int, hour: int, klass: str, status: Status, late: float | None = None) -> AttendanceRecord:
    starts = datetime(2026, 3, day, hour, tzinfo=UTC)  # 2 March 2026 is a Monday
    return AttendanceRecord(
        student_id="a",
        session_id=f"{klass}-{day}-{hour}",
        class_id=klass,
        starts_at=starts,
        ends_at=starts + timedelta(minutes=50),
        status=status,
        arrived_at=None if late is None else starts + timedelta(minutes=late),
    )


HAND_MADE = [
    _record(2, 9, "c1", Status.PRESENT, late=2),  # Monday
    _record(3, 10, "c2", Status.ABSENT),
    _record(4, 9, "c1", Status.LATE, late=10),
    _record(5, 14, "c2", Status.ABSENT),
    _record(6, 9, "c1", Status.ABSENT),  # Friday
    _record(6, 13, "c2", Status.UNCERTAIN),  # awaiting review: neither history nor label
]


def test_features_of_a_hand_made_history() -> None:
    # Given five usable records of one student (and one awaiting review)
    history = History.from_records(HAND_MADE)
    # When the features of the next Monday's 9 o'clock session of c1 are computed
    row = dict(
        zip(FEATURES, history.features(["a"], ["c1"], [datetime(2026, 3, 9, 9, tzinfo=UTC)])[0], strict=True)
    )
    # Then each is what its definition gives by hand
    query = datetime(2026, 3, 9, 9, tzinfo=UTC)
    overall = (2 + 2 * 0.85) / (5 + 2)
    rate_class = (2 + 2 * overall) / (3 + 2)
    recent = (2 + 2 * overall) / (5 + 2)  # every record is within the last week
    weights = [math.exp(-(query - r.starts_at) / timedelta(days=7)) for r in HAND_MADE[:5]]
    ewm_hits = weights[0] + weights[2]  # Monday and Wednesday were attended
    expected = {
        "rate_overall": overall,
        "rate_class": rate_class,
        "rate_slot": (1 + 2 * rate_class) / (1 + 2),  # c1 on Mondays: one, attended
        "rate_weekday": (1 + 2 * overall) / (1 + 2),
        "rate_hour_band": (2 + 2 * overall) / (3 + 2),  # before 10 o'clock: three, two attended
        "rate_1w": recent,
        "rate_2w": recent,
        "rate_4w": recent,
        "rate_ewm": (ewm_hits + 2 * overall) / (sum(weights) + 2),
        "streak": -2.0,  # Thursday and Friday missed
        "days_since_attended": 5.0,  # Wednesday 9:00
        "days_since_last": 3.0,  # Friday 9:00
        "class_rate_4w": (2 + 5 * 0.85) / (3 + 5),
        "weekday": 0.0,
        "hour": 9.0,
        "term_week": 1.0,  # a week after the first record, no break since
        "n_prior": 5.0,
        "mean_lateness": (2 + 10) / (2 + 2),
        "late_share": 1 / (2 + 2),
    }
    assert row == pytest.approx(expected, rel=1e-12)


def test_a_student_without_history_gets_the_priors() -> None:
    # Given a history without this student
    history = History.from_records(HAND_MADE)
    row = dict(
        zip(
            FEATURES, history.features(["new"], ["c9"], [datetime(2026, 3, 9, 9, tzinfo=UTC)])[0], strict=True
        )
    )
    # Then the rates are the prior and the counts empty
    assert row["rate_overall"] == pytest.approx(PRIOR_RATE)
    assert row["rate_2w"] == pytest.approx(PRIOR_RATE)
    assert row["class_rate_4w"] == pytest.approx(PRIOR_RATE)
    assert (row["n_prior"], row["streak"], row["days_since_attended"], row["term_week"]) == (
        0,
        0,
        CAP_DAYS,
        0,
    )


def test_records_at_or_after_a_start_do_not_change_its_features(clean_org: SyntheticHistory) -> None:
    # Given the features of every record, and a time in the middle of the history
    records = clean_org.records
    t0 = sorted({r.starts_at for r in records})[len({r.starts_at for r in records}) // 2]
    before = History.from_records(records).record_features()
    # When every record at or after t0 is flipped and records are added after it
    flipped = [
        replace(r, status=Status.ABSENT if r.attended else Status.PRESENT, arrived_at=None)
        if r.starts_at >= t0
        else r
        for r in records
    ]
    extra = [
        replace(r, session_id=r.session_id + "-x", starts_at=t0, ends_at=t0 + timedelta(hours=1))
        for r in records[:500]
    ]
    after = History.from_records(flipped + extra).record_features()[: len(records)]
    # Then the features of every record starting at or before t0 are unchanged
    up_to = np.array([r.starts_at <= t0 for r in records])
    assert up_to.sum() > 1000
    assert np.array_equal(before[up_to], after[up_to])
    # while later records do see the change (the test would catch a no-op)
    assert not np.array_equal(before[~up_to], after[~up_to])


def test_prediction_sees_the_same_features_as_training(
    clean_org: SyntheticHistory, clean_history: History
) -> None:
    # Given the training features of every record (a History of the whole organisation)
    training = clean_history.record_features()
    rng = np.random.default_rng(0)
    for i in rng.choice(len(clean_org.records), size=25, replace=False):
        r = clean_org.records[i]
        # When a prediction loads only what a single request would: the student's records before
        # the session and the class's records in the window before it
        window = r.starts_at - timedelta(days=CLASS_WINDOW_DAYS)
        own = [x for x in clean_org.records if x.student_id == r.student_id and x.starts_at < r.starts_at]
        klass = [
            x for x in clean_org.records if x.class_id == r.class_id and window <= x.starts_at < r.starts_at
        ]
        served = History.from_records(own + klass).features([r.student_id], [r.class_id], [r.starts_at])[0]
        # Then the features are the training ones
        np.testing.assert_allclose(served, training[i], rtol=1e-9, atol=1e-12)
