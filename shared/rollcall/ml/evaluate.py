"""Metrics of probabilistic predictions against binary outcomes (numpy only, no sklearn).

- ROC-AUC: the Mann-Whitney statistic with average ranks for ties.
- Brier score: mean squared error of the probability.
- Log loss: probabilities clipped to [1e-15, 1 - 1e-15].
- Expected calibration error (ECE): ``ECE_BINS`` = 15 equal-width bins over [0, 1];
  the count-weighted mean of |observed rate - mean prediction| over non-empty bins.
- Population stability index (PSI) of a feature: sum over bins of (a - e) ln(a / e) between the
  shares now (a) and in training (e), shares floored at ``PSI_FLOOR``; above 0.2 is read as drift.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

ECE_BINS = 15
EPS = 1e-15
PSI_FLOOR = 1e-4


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    import numpy as np

    y = np.asarray(y, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(p, kind="mergesort")
    sorted_p = np.asarray(p)[order]
    ranks = np.empty(len(sorted_p))
    # average rank (1-based) of each run of equal scores
    boundaries = np.flatnonzero(np.diff(sorted_p)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [len(sorted_p)]))
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    import numpy as np

    return float(np.mean((np.asarray(p, dtype=float) - np.asarray(y, dtype=float)) ** 2))


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    import numpy as np

    p = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    y = np.asarray(y, dtype=float)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def calibration_error(y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error over ``bins`` equal-width bins."""
    import numpy as np

    p = np.asarray(p, dtype=float)
    y = np.asarray(y, dtype=float)
    if len(p) == 0:
        return float("nan")
    which = np.minimum((p * bins).astype(int), bins - 1)
    count = np.bincount(which, minlength=bins)
    gap = np.abs(
        np.bincount(which, weights=y, minlength=bins) - np.bincount(which, weights=p, minlength=bins)
    )
    return float(gap.sum() / count.sum())


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """The four holdout metrics, plus the counts and the observed and predicted rates."""
    import numpy as np

    y = np.asarray(y, dtype=bool)
    return {
        "roc_auc": roc_auc(y, p),
        "brier": brier(y, p),
        "log_loss": log_loss(y, p),
        "ece": calibration_error(y, p),
        "n": len(y),
        "positives": int(y.sum()),
        "observed_rate": float(y.mean()) if len(y) else float("nan"),
        "predicted_rate": float(np.mean(p)) if len(y) else float("nan"),
    }


def population_stability(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI between two share vectors over the same bins."""
    import numpy as np

    e = np.maximum(np.asarray(expected, dtype=float), PSI_FLOOR)
    a = np.maximum(np.asarray(actual, dtype=float), PSI_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))
