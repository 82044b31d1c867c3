"""Prediction history (student partition, month index, retention) and the history reads (moto)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from rollcall.domain import Student
from rollcall.platform.auth import Principal, Role
from rollcall.services.students import erase_student
from rollcall.store.prediction_log import HistoryReader, PredictionRepo, StoredPrediction
from rollcall.store.roster import RosterRepo
from tests.integration.models.conftest import NOW, Stores, recent_history, store

YEAR = timedelta(days=365)


def prediction(pid: str, student: str, made_days_ago: float) -> StoredPrediction:
    return StoredPrediction(
        prediction_id=pid,
        student_id=student,
        session_id="math-1",
        class_id="math",
        starts_at=NOW,
        probability=0.7,
        method="model",
        model_type="attendance",
        model_version="v0001",
        variant="champion",
        made_at=NOW - timedelta(days=made_days_ago),
        made_by="alice",
    )


def test_predictions_expire_and_the_daily_job_removes_those_past_retention(stores: Stores) -> None:
    repo = PredictionRepo(stores.records("preds-retention"))
    rows: list[tuple[StoredPrediction, dict[str, Any]]] = [
        (prediction("old1", "ann", 400), {}),
        (prediction("old2", "ben", 380), {}),
        (prediction("new", "ann", 2), {}),
    ]
    assert repo.put_many(rows, retention=YEAR) == 3

    (item,) = [
        i
        for i in stores.records("preds-retention").query("ORG#preds-retention#STUDENT#ann", sk_prefix="PRED#")
        if i["prediction_id"] == "new"
    ]
    assert (item["kind"], item["model_version"], item["variant"]) == ("prediction", "v0001", "champion")
    assert item["expires_at"] == int((NOW - timedelta(days=2) + YEAR).timestamp())

    assert repo.delete_made_before(NOW - YEAR, months=12) == 2
    left = list(repo.made_between(NOW - timedelta(days=500), NOW))
    assert [p.prediction_id for p in left] == ["new"]
    assert repo.delete_made_before(NOW - YEAR, months=12) == 0


def test_erasing_a_student_erases_its_predictions(stores: Stores) -> None:
    records = stores.records("preds-erasure")
    RosterRepo(records).create(Student("cat", "Cat", ("math",)), created_by="t", created_at=NOW)
    PredictionRepo(records).put_many(
        [(prediction("p1", "cat", 1), {}), (prediction("p2", "cat", 0), {})], retention=YEAR
    )

    who = Principal("root", "preds-erasure", Role.ADMIN)
    erased = erase_student(records, who, "cat", stores.photos("preds-erasure"), now=NOW)

    assert erased["predictions"] == 2
    assert list(PredictionRepo(records).made_between(NOW - timedelta(days=3), NOW)) == []


def test_the_history_reads_return_what_features_need(stores: Stores) -> None:
    history = recent_history("preds-history", students=6, weeks=2, seed=9)
    records = stores.records("preds-history")
    store(records, history)
    reader = HistoryReader(records)
    student = history.students[0].student_id
    cutoff = history.sessions[len(history.sessions) // 2].starts_at

    mine = reader.student(student, before=cutoff)
    expected = sorted(
        (r for r in history.records if r.student_id == student and r.starts_at < cutoff),
        key=lambda r: (r.starts_at, r.session_id),
    )
    assert [(r.session_id, r.status, r.arrived_at) for r in mine] == [
        (r.session_id, r.status, r.arrived_at) for r in expected
    ]
    klass = history.sessions[-1].class_id
    sessions = reader.class_sessions(klass, since=history.start, before=history.now)
    assert sorted(s.session_id for s in sessions) == sorted(
        s.session_id for s in history.sessions if s.class_id == klass
    )
    last = history.sessions[-1].session_id
    assert {r.student_id for r in reader.session_records(last)} == {
        r.student_id for r in history.records if r.session_id == last
    }
