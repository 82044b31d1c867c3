"""Metrics against definitions computed the slow, obvious way."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from rollcall.ml.evaluate import brier, calibration_error, log_loss, metrics, population_stability, roc_auc


def _pairwise_auc(y: np.ndarray, p: np.ndarray) -> float:
    pos, neg = p[y], p[~y]
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


def test_roc_auc_is_the_share_of_correctly_ordered_pairs() -> None:
    # Given scores with many ties
    rng = np.random.default_rng(3)
    y = rng.random(300) < 0.7
    p = np.round(rng.random(300) * 0.5 + 0.4 * y, 1)
    # Then the AUC is the share of (positive, negative) pairs ranked right, ties counting half
    assert roc_auc(y, p) == pytest.approx(_pairwise_auc(y, p), abs=1e-12)
    assert roc_auc(y, y.astype(float)) == 1.0
    assert math.isnan(roc_auc(np.ones(5, bool), np.ones(5)))


def test_brier_log_loss_and_calibration_error_by_hand() -> None:
    # Given four predictions
    y = np.array([1, 0, 1, 1], dtype=bool)
    p = np.array([0.9, 0.2, 0.65, 0.95])
    # Then each metric is its definition
    assert brier(y, p) == pytest.approx((0.01 + 0.04 + 0.1225 + 0.0025) / 4)
    assert log_loss(y, p) == pytest.approx(
        -(math.log(0.9) + math.log(0.8) + math.log(0.65) + math.log(0.95)) / 4
    )
    # 15 bins: 0.2 alone (gap 0.2), 0.65 alone (gap 0.35), 0.9 and 0.95 together (gap 0.075 each)
    assert calibration_error(y, p) == pytest.approx((0.2 + 0.35 + 0.15) / 4)
    assert metrics(y, p)["positives"] == 3


def test_population_stability_is_zero_for_the_same_shares_and_grows_with_a_shift() -> None:
    even = np.full(10, 0.1)
    shifted = np.array([0.0, 0.0, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2, 0.2])
    assert population_stability(even, even) == 0.0
    expected = sum(
        (a - e) * math.log(max(a, 1e-4) / e) for a, e in zip(np.maximum(shifted, 1e-4), even, strict=True)
    )
    assert population_stability(even, shifted) == pytest.approx(expected)
    assert population_stability(even, shifted) > 0.2
