"""The small parts of prediction and training that need no store: caches, messages, counts, inputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from rollcall.api.predictions import BatchIn, PredictionIn
from rollcall.domain import AttendanceRecord, Status
from rollcall.ml.predictor import OrgStats
from rollcall.platform.errors import InvalidInput, NotFound
from rollcall.services.prediction import TtlCache, _org_stats
from rollcall.services.training import IF_NEEDED, JobMessage, _count_usable, _headline
from rollcall.store.model_versions import RegistryState

T0 = datetime(2026, 9, 7, 9, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def record(student: str, session: str, status: Status) -> AttendanceRecord:
    return AttendanceRecord(student, session, "math", T0, T0 + timedelta(hours=1), status)


def test_a_cache_entry_lives_its_ttl_and_the_oldest_goes_first() -> None:
    clock = Clock()
    cache = TtlCache(10, max_entries=2, clock=clock)
    cache.put("a", 1)
    assert cache.get("a") == (True, 1)
    clock.t += 10
    assert cache.get("a") == (False, None)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("c", 3)
    assert cache.get("a") == (False, None)
    assert (cache.get("b"), cache.get("c")) == ((True, 2), (True, 3))
    assert TtlCache(0, clock=clock).get("x") == (False, None)


def test_a_job_message_has_defaults_and_refuses_what_it_cannot_run() -> None:
    message = JobMessage.parse({"org": "demo"}, "abc-123")
    assert (message.job_id, message.model_type, message.mode) == ("job-abc-123", "attendance", "always")
    weekly = JobMessage.parse({"org": "demo", "job_id": "job-1", "mode": IF_NEEDED}, "x")
    assert JobMessage.parse(weekly.body(), "other") == weekly
    for body, error in (
        ([], InvalidInput),
        ({"org": "a#b"}, InvalidInput),
        ({"org": "demo", "mode": "sometimes"}, InvalidInput),
        ({"org": "demo", "model_type": "faces"}, NotFound),
    ):
        with pytest.raises(error):
            JobMessage.parse(body, "m")


def test_usable_records_are_counted_once_and_no_further_than_needed() -> None:
    rows = [
        record("a", "s1", Status.PRESENT),
        record("a", "s1", Status.ABSENT),
        record("b", "s1", Status.UNCERTAIN),
    ]
    rows += [record("c", f"s{i}", Status.LATE) for i in range(10)]
    assert _count_usable(rows, 100) == 11  # a duplicate and an uncertain record do not count
    assert _count_usable(iter(rows), 5) == 5


def test_headline_metrics_drop_what_json_cannot_hold() -> None:
    assert _headline({"roc_auc": float("nan"), "ece": 0.02, "n": 10, "extra": 1}) == {
        "roc_auc": None,
        "ece": 0.02,
        "brier": None,
        "log_loss": None,
        "n": 10,
        "observed_rate": None,
        "predicted_rate": None,
    }


def test_the_heuristic_rate_comes_from_the_last_training_counts_else_from_what_was_read() -> None:
    counted = RegistryState(data_stats={"usable_records": 1000, "attended": 900})
    assert _org_stats(counted, []) == OrgStats(900, 1000)
    read = [record("a", "s1", Status.PRESENT), record("b", "s1", Status.ABSENT)]
    assert _org_stats(RegistryState(), read) == OrgStats(1, 2)


def test_a_query_names_a_session_or_a_class_and_a_start() -> None:
    assert PredictionIn(student_id="s1", session_id="x").ask().session_id == "x"
    ask = PredictionIn(student_id="s1", class_id="math", starts_at=T0).ask()
    assert (ask.class_id, ask.starts_at) == ("math", T0)
    for wrong in (
        {"student_id": "s1"},
        {"student_id": "s1", "class_id": "math"},
        {"student_id": "s1", "session_id": "x", "class_id": "math", "starts_at": T0},
        {"student_id": "s1", "class_id": "math", "starts_at": "2026-09-07T09:00:00"},  # no time zone
        {"student_id": "s#1", "session_id": "x"},
    ):
        with pytest.raises(ValidationError):
            PredictionIn.model_validate(wrong)


def test_a_batch_is_items_or_a_session_and_at_most_ten_thousand() -> None:
    item = {"student_id": "s1", "session_id": "x"}
    assert BatchIn.model_validate({"session_id": "x"}).items is None
    assert len(BatchIn.model_validate({"items": [item] * 10_000}).items or []) == 10_000
    wrong: dict[str, Any]
    for wrong in ({}, {"items": [item], "session_id": "x"}, {"items": []}, {"items": [item] * 10_001}):
        with pytest.raises(ValidationError):
            BatchIn.model_validate(wrong)
