"""Training: learns close to the oracle, refuses too little data, exports trees exactly."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from rollcall.domain import Status
from rollcall.ml import train
from rollcall.ml.evaluate import roc_auc
from rollcall.ml.features import EPOCH
from rollcall.ml.train import Dataset, TrainedModel
from rollcall.platform import errors
from testkit.synthetic import SyntheticHistory


def test_training_gets_close_to_the_oracle(
    clean_org: SyntheticHistory, dataset: Dataset, trained: TrainedModel
) -> None:
    # Given the oracle's AUC on the same holdout (the true probabilities of those records)
    holdout = dataset.holdout
    oracle = roc_auc(dataset.y[holdout], clean_org.truth(dataset.records)[holdout])
    # Then the model is far above chance, close to the oracle, and calibrated
    m = trained.metrics
    assert m["roc_auc"] > 0.75
    assert m["roc_auc"] >= 0.95 * oracle
    assert m["ece"] < 0.03
    assert m["brier"] < 0.15
    # and the metrics count what was used, with the holdout the latest sessions
    assert m["n"] == holdout.sum() == m["holdout_records"]
    assert dataset.t[holdout].min() >= dataset.t[~holdout].max()
    assert m["usable_records"] == len(clean_org.records)
    assert trained.metrics["calibration"] in ("isotonic", "sigmoid")


def test_holdout_is_the_latest_fifth_of_sessions(dataset: Dataset) -> None:
    # Given the session start times of each part
    sessions = {r.session_id: r.starts_at for r in dataset.records}
    in_holdout = {r.session_id for r, h in zip(dataset.records, dataset.holdout, strict=True) if h}
    # Then about a fifth of the sessions are held out, and none starts before any training session
    assert len(in_holdout) / len(sessions) == pytest.approx(0.2, abs=0.02)
    assert min(sessions[s] for s in in_holdout) > max(t for s, t in sessions.items() if s not in in_holdout)


def test_arrival_quantiles_cover_about_eighty_percent(trained: TrainedModel) -> None:
    # Then the p10-p90 interval of the arrival model holds about 80 % of the holdout's arrivals
    assert trained.model.arrival is not None
    assert trained.metrics["arrival_coverage_p10_p90"] == pytest.approx(0.8, abs=0.05)
    assert trained.metrics["arrival_pinball_p50"] < 3.0


def test_evaluating_the_model_again_gives_its_metrics(dataset: Dataset, trained: TrainedModel) -> None:
    # When the trained model is evaluated on the same dataset (as the registry compares versions)
    again = train.evaluate_model(trained.model, dataset)
    # Then the holdout metrics are the same
    for name in ("roc_auc", "brier", "log_loss", "ece", "n"):
        assert again[name] == pytest.approx(trained.metrics[name])


def test_fewer_than_200_usable_records_is_insufficient(clean_org: SyntheticHistory) -> None:
    # Given 199 usable records, and 260 of which 61 await review
    few = clean_org.records[:199]
    review = [replace(r, status=Status.UNCERTAIN) for r in clean_org.records[199:260]]
    for records in (few, few + review):
        # When training is asked for
        with pytest.raises(errors.InsufficientData) as caught:
            train.train(records)
        # Then it is refused as a 422 with the counts
        assert caught.value.status == 422
        assert caught.value.code == "INSUFFICIENT_DATA"
        assert caught.value.detail["usable_records"] == 199
        assert caught.value.detail["required_records"] == 200
        assert caught.value.detail["students"] >= 1


def test_a_part_without_both_outcomes_is_insufficient(clean_org: SyntheticHistory) -> None:
    # Given enough records but everyone always present
    records = [replace(r, status=Status.PRESENT) for r in clean_org.records[:3000]]
    # Then there is nothing to learn, and the error says which part and the counts
    with pytest.raises(errors.InsufficientData) as caught:
        train.build_dataset(records)
    assert "both attended and missed" in caught.value.detail["reason"]
    assert caught.value.detail["usable_records"] == 3000


def test_exported_trees_reproduce_scikit_learn(dataset: Dataset) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    # Given a classifier and a quantile regressor fitted by scikit-learn (depths up to 4)
    X, y = dataset.X[:6000], dataset.y[:6000]
    clf = HistGradientBoostingClassifier(max_iter=30, max_depth=4, random_state=0).fit(X, y)
    reg = HistGradientBoostingRegressor(loss="quantile", quantile=0.9, max_iter=20, max_depth=3).fit(
        X, X[:, 0]
    )
    # When they are exported to numpy arrays
    trees, reg_trees = train.export_trees(clf), train.export_trees(reg)
    # Then the raw scores are scikit-learn's, and the contributions add up to them
    rows = dataset.X[-2000:]
    np.testing.assert_allclose(trees.raw(rows), clf.decision_function(rows), rtol=0, atol=1e-9)
    np.testing.assert_allclose(reg_trees.raw(rows), reg.predict(rows), rtol=0, atol=1e-9)
    raw, contrib = trees.explain(rows)
    np.testing.assert_allclose(trees.expected + contrib.sum(axis=1), raw, atol=1e-9)
    assert (contrib != 0).any(axis=0).sum() >= 3  # several features take part


def test_the_drift_check_finds_the_injected_timetable_move(
    anomalous_org: SyntheticHistory, dataset: Dataset, trained: TrainedModel
) -> None:
    # Given a model trained on an organisation whose last two weeks moved classes to the evening
    drifted = train.build_dataset(anomalous_org.records)
    model = train.train(drifted).model
    drift = next(a for a in anomalous_org.anomalies if a.type == "model_drift")
    since = int(drift.window[0].timestamp()) - EPOCH
    # When the features of those weeks are compared with the training data
    psi = model.drift(drifted.X[drifted.t >= since])
    # Then the session hour has drifted, while the same weeks of a clean organisation have not
    assert psi["hour"] > 0.2
    clean = trained.model.drift(dataset.X[dataset.t >= since])
    assert clean["hour"] < 0.1
    assert clean["rate_overall"] < 0.2
