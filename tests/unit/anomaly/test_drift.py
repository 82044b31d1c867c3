"""Model drift: feature PSI against training and calibration, through a fake model and a trained one."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from rollcall.anomaly.drift import model_drift
from rollcall.anomaly.findings import Finding
from rollcall.anomaly.inputs import ActiveModel, Context, Skip
from rollcall.domain import AttendanceRecord
from rollcall.ml import train
from rollcall.ml.features import FEATURES
from testkit.scan_inputs import from_history
from testkit.synthetic import SyntheticHistory
from tests.unit.anomaly.support import context, daily


@dataclass
class FakeModel:
    """A model whose PSI and probability are given; it keeps the matrix it was shown."""

    psi: dict[str, float]
    p: float
    features: tuple[str, ...] = FEATURES
    seen: list[np.ndarray] = field(default_factory=list)

    def drift(self, X: np.ndarray) -> dict[str, float]:
        self.seen.append(X)
        return {name: self.psi.get(name, 0.01) for name in self.features}

    def probability(self, X: np.ndarray) -> np.ndarray:
        return np.full(len(X), self.p)


def _records(students: int = 40, days: int = 28) -> list[AttendanceRecord]:
    """Daily sessions, nine in ten attended: 560 in the last 14 days."""
    return [
        r for s in range(students) for r in daily(f"s{s}", days, attended=[d % 10 != 0 for d in range(days)])
    ]


RECORDS = _records()
OBSERVED = float(
    np.mean([r.attended for r in RECORDS if r.starts_at >= RECORDS[-1].starts_at - timedelta(days=13)])
)


def _drift(psi: dict[str, float], p: float = OBSERVED, **kw: Any) -> list[Finding]:
    return model_drift(context(RECORDS, model=ActiveModel("v0007", FakeModel(psi, p)), **kw))


def test_a_feature_drifts_above_the_psi_threshold() -> None:
    (found,) = _drift({"hour": 0.21})
    assert (found.type, found.subject, found.severity) == ("model_drift", "model:attendance", "medium")
    assert found.evidence["drifted_features"] == {"hour": 0.21}
    assert found.evidence["model_version"] == "v0007"
    assert found.evidence["records"] == 560
    assert not found.evidence["calibration"]["drifted"]
    assert _drift({"hour": 0.19}) == []
    assert _drift({"hour": 0.6})[0].severity == "high"
    # Features that grow by nature are left out
    assert _drift({"n_prior": 5.0, "term_week": 3.0}) == []


def test_calibration_drifts_when_observed_and_predicted_part() -> None:
    (found,) = _drift({}, p=OBSERVED - 0.06)
    assert found.evidence["calibration"]["drifted"]
    assert found.evidence["calibration"]["gap"] == pytest.approx(0.06, abs=1e-3)
    assert found.severity == "medium"
    assert _drift({}, p=OBSERVED - 0.04) == []
    assert _drift({}, p=OBSERVED + 0.11)[0].severity == "high"


def test_drift_is_not_judged_without_a_model_or_enough_records() -> None:
    with pytest.raises(Skip, match="no active model"):
        model_drift(context(RECORDS))
    with pytest.raises(Skip, match="560 recent usable records"):
        _drift({"hour": 0.5}, anomaly_drift_min_records=561)
    unknown = FakeModel({}, 0.9, features=("hour", "shoe_size"))
    with pytest.raises(Skip, match="shoe_size"):
        model_drift(context(RECORDS, model=ActiveModel("v1", unknown)))


def test_the_model_sees_its_own_features_in_its_own_order() -> None:
    model = FakeModel({}, OBSERVED, features=("hour", "weekday"))
    model_drift(context(RECORDS, model=ActiveModel("v1", model)))
    (X,) = model.seen
    assert X.shape == (560, 2)
    assert set(X[:, 0].tolist()) == {9.0}  # the daily sessions start at 9 (UTC)


def test_a_trained_model_sees_the_injected_drift(injected_org: SyntheticHistory) -> None:
    # Given a model trained before the injected move of classes to the evening
    (truth,) = [a for a in injected_org.anomalies if a.type == "model_drift"]
    trained = train.train([r for r in injected_org.records if r.starts_at < truth.window[0]])
    # When the last two weeks are compared with its training
    inputs = from_history(injected_org, ActiveModel("v1", trained.model))
    (found,) = model_drift(Context(inputs, context([]).settings))
    # Then the model has drifted, and the hour with it (only 4 of this small org's 18 classes moved:
    # its PSI is 0.18 here; 0.3 at the benchmark's size)
    assert found.key == (truth.type, truth.subject)
    assert found.evidence["psi"][truth.details["feature"]] > 0.1
