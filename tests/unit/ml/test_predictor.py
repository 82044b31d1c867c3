"""The predictor's fallback chain and the shape of its answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from rollcall.ml import predictor
from rollcall.ml.features import FEATURES, History
from rollcall.ml.predictor import OrgStats, Predictions, Predictor, Query
from rollcall.ml.train import TrainedModel
from testkit.synthetic import SyntheticHistory


@pytest.fixture(scope="module")
def next_week(clean_org: SyntheticHistory) -> list[Query]:
    """Next week's sessions (the timetable repeats) for the first 12 students, in their own classes."""
    last_week = [s for s in clean_org.sessions if s.starts_at >= clean_org.now - timedelta(days=7)]
    queries = []
    for student in clean_org.students[:12]:
        for s in last_week:
            if s.class_id in student.class_ids:
                queries.append(
                    Query(
                        student.student_id,
                        s.class_id,
                        s.starts_at + timedelta(days=7),
                        s.session_id + "-next",
                    )
                )
    return queries


class BrokenModel:
    """A model whose arrays turned out unusable: scoring raises."""

    def score(self, X: np.ndarray) -> None:
        raise ValueError("corrupt arrays")


def test_with_a_model_the_model_answers(
    trained: TrainedModel, clean_history: History, clean_org: SyntheticHistory, next_week: list[Query]
) -> None:
    # When the active model predicts next week's sessions
    out = Predictor(trained.model, "v0007", OrgStats.from_records(clean_org.records)).predict(
        clean_history, next_week
    )
    items = out.items()
    # Then the model answers each, with its probability on the features of that session
    X = clean_history.features(
        [q.student_id for q in next_week], [q.class_id for q in next_week], [q.starts_at for q in next_week]
    )
    np.testing.assert_allclose(out.probability, trained.model.probability(X))
    for item in items:
        assert (item["method"], item["model_version"]) == ("model", "v0007")
        low, high = item["interval"]
        assert 0 <= low <= item["probability"] <= high <= 1
        # at most three factors, named features, largest effect first, none negligible
        effects = [abs(f["effect"]) for f in item["factors"]]
        assert len(effects) <= predictor.TOP_FACTORS
        assert effects == sorted(effects, reverse=True)
        assert all(
            f["name"] in FEATURES and abs(f["effect"]) >= predictor.MIN_EFFECT - 1e-4 for f in item["factors"]
        )
        arrival = item["expected_arrival"]
        assert arrival["p10"] <= arrival["p50"] <= arrival["p90"]
    # and the risks vary across students and sessions (the model is not constant)
    assert len({i["risk_level"] for i in items}) >= 2


def test_a_batch_answers_as_single_requests_do(
    trained: TrainedModel, clean_history: History, next_week: list[Query]
) -> None:
    p = Predictor(trained.model, "v0007", OrgStats(100, 120))
    batch = p.predict(clean_history, next_week[:20]).items()
    singles = [p.predict(clean_history, [q]).item(0) for q in next_week[:20]]
    assert batch == singles


def test_without_a_model_similar_sessions_answer(
    clean_org: SyntheticHistory, clean_history: History, next_week: list[Query]
) -> None:
    # Given no model, and a student with many past sessions of the same class on the same weekday
    q = next_week[0]
    past = [r for r in clean_org.records if r.student_id == q.student_id and r.starts_at < q.starts_at]
    same = [r for r in past if r.class_id == q.class_id and r.starts_at.weekday() == q.starts_at.weekday()]
    assert len(same) >= predictor.MIN_SIMILAR
    # When it is predicted
    item = Predictor(None, None, OrgStats(10, 20)).predict(clean_history, [q]).item(0)
    # Then similarity answers: those sessions' rate, smoothed toward the student's overall rate
    overall = (sum(r.attended for r in past) + 2 * 0.85) / (len(past) + 2)
    expected = (sum(r.attended for r in same) + 4 * overall) / (len(same) + 4)
    assert item["method"] == "similarity"
    assert item["model_version"] is None
    assert item["probability"] == pytest.approx(expected, abs=1e-4)
    assert item["factors"][0]["name"] == "rate_similar_sessions"
    low, high = predictor.wilson(np.array([expected]), np.array([len(same) + 4.0]))
    assert item["interval"] == pytest.approx([low[0], high[0]], abs=1e-4)
    # and the expected arrival is the student's own quantiles
    minutes = [r.minutes_late for r in past if r.attended and r.minutes_late is not None]
    assert item["expected_arrival"]["p50"] == pytest.approx(np.percentile(minutes, 50), abs=0.05)


def test_with_too_little_history_the_heuristic_answers(
    clean_history: History, next_week: list[Query]
) -> None:
    # Given no model and sessions with no similar history (a class the student never had)
    q = Query(next_week[0].student_id, "a-new-class", next_week[0].starts_at)
    stranger = Query("a-new-student", "a-new-class", next_week[0].starts_at)
    # When the organisation has records, its base rate answers
    items = (
        Predictor(None, None, OrgStats(attended=90, records=100))
        .predict(clean_history, [q, stranger])
        .items()
    )
    assert [i["method"] for i in items] == ["heuristic", "heuristic"]
    assert items[0]["probability"] == pytest.approx(91 / 102, abs=1e-4)
    assert items[1]["expected_arrival"] is None
    # and when it has none, the global prior answers, with a wide interval
    empty = Predictor(None, None, OrgStats(0, 0)).predict(clean_history, [stranger]).item(0)
    assert empty["probability"] == pytest.approx(predictor.GLOBAL_PRIOR)
    assert empty["interval"][1] - empty["interval"][0] > 0.25
    # a student with no history at all is a first-timer: the priors answer, and the answer says so
    assert (empty["basis"], items[0]["basis"]) == ("priors", "history")
    assert any("No history for this student yet" in r for r in empty["recommendations"])
    assert any("Little history" in r for r in items[0]["recommendations"])


def test_a_model_that_fails_degrades_to_the_fallbacks(clean_history: History, next_week: list[Query]) -> None:
    from rollcall.platform.observability import metrics

    # Given a model that raises when it scores
    broken = Predictor(BrokenModel(), "v0009", OrgStats(90, 100))  # type: ignore[arg-type]
    metrics.clear_metrics()
    # When it is asked, the fallbacks answer instead of an error, and the failure is counted
    items = broken.predict(clean_history, next_week[:5]).items()
    assert {i["method"] for i in items} <= {"similarity", "heuristic"}
    assert all(i["model_version"] is None for i in items)
    assert "PredictionModelFailed" in metrics.metric_set
    metrics.clear_metrics()


@pytest.mark.parametrize(
    ("probability", "risk"),
    [(0.1, "high"), (0.599, "high"), (0.6, "medium"), (0.799, "medium"), (0.8, "low")],
)
def test_risk_levels_follow_the_thresholds(probability: float, risk: str) -> None:
    one = np.array([probability])
    out = Predictions(
        queries=[Query("s", "c", datetime(2026, 5, 4, 9, tzinfo=UTC))],
        probability=one,
        low=one,
        high=one,
        method=np.zeros(1, dtype=np.int8),
        arrival=np.full((1, 3), np.nan),
        factor=np.array([[FEATURES.index("streak"), -1, -1]]),
        factor_value=np.array([[-3.0, 0, 0]]),
        factor_effect=np.array([[-0.2, 0, 0]]),
        model_version="v1",
    )
    item = out.item(0)
    assert item["risk_level"] == risk
    assert "Missed the last 3 sessions in a row: check in with the student." in item["recommendations"]
    assert (predictor._RISK_ADVICE.get(risk) in item["recommendations"]) == (risk != "low")
