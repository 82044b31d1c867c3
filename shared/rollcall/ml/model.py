"""The trained attendance model as plain numpy arrays: what prediction runs, without scikit-learn.

Training (``rollcall.ml.train``) fits scikit-learn estimators and exports them here, because
importing scikit-learn costs about a second of cold start and unpickling its estimators needs it.
The exported model reproduces scikit-learn's predictions exactly (a unit test holds it to 1e-9).

- :class:`TreeEnsemble`: gradient-boosted trees re-laid as *complete* binary trees of one depth
  (a leaf above the bottom becomes a chain of "always left" splits), so that every row walks the
  same number of levels and all rows × trees move together in a few numpy operations per level.
  It also returns per-feature path contributions (Saabas): at each split, the change in the
  subtree's expected value is credited to the split's feature; ``expected`` (the raw score of
  an average row) plus the contributions is the raw score.
- :class:`Calibrator`: isotonic (piecewise linear) or sigmoid (Platt) map from raw score to probability.
- :class:`Intervals`: per calibration bin, how far the observed rate may lie from the prediction.
- :class:`AttendanceModel`: the classifier, its calibrator and intervals, the optional arrival
  quantile models (p10, p50, p90 minutes), and the distribution of every feature in the latest
  training weeks (decile edges and shares, for drift checks).

Inputs must be finite (the features always are).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from rollcall.ml.covariates import CovariateSpec

CHUNK_ROWS = 4096  # rows per pass: keeps rows × trees arrays cache-sized


@dataclass(frozen=True)
class TreeEnsemble:
    """``T`` trees of depth ``D``: internal nodes 0 .. 2^D-2 (children of i: 2i+1, 2i+2), then leaves."""

    feature: np.ndarray  # (T, 2^D - 1) int32
    threshold: np.ndarray  # (T, 2^D - 1) float64: go right when x > threshold
    value: np.ndarray  # (T, 2^(D+1) - 1) float64: expected raw value at every node (leaves last)
    baseline: float

    @property
    def expected(self) -> float:
        """The raw score of an average training row: the baseline plus each tree's root value."""
        return self.baseline + float(self.value[:, 0].sum())

    @property
    def depth(self) -> int:
        return int(self.feature.shape[1] + 1).bit_length() - 1

    def raw(self, X: np.ndarray) -> np.ndarray:
        """The raw score (log-odds, or the regression value) of each row."""
        return self._walk(X, contributions=False)[0]

    def explain(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw scores and per-feature contributions (rows × features): expected + contributions = raw."""
        raw, contrib = self._walk(X, contributions=True)
        assert contrib is not None
        return raw, contrib

    def _walk(self, X: np.ndarray, *, contributions: bool) -> tuple[np.ndarray, np.ndarray | None]:
        import numpy as np

        X = np.ascontiguousarray(X, dtype=np.float64)
        n, n_features = X.shape
        raw = np.empty(n)
        contrib = np.zeros((n, n_features)) if contributions else None
        for start in range(0, n, CHUNK_ROWS):
            rows = X[start : start + CHUNK_ROWS]
            out = contrib[start : start + CHUNK_ROWS] if contrib is not None else None
            raw[start : start + len(rows)] = self._walk_chunk(rows, out)
        return raw, contrib

    @cached_property
    def _flat(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Flat arrays for the walk: feature, threshold, the value change into each child, leaf values."""
        import numpy as np

        n_internal = self.feature.shape[1]
        children = 2 * np.arange(n_internal) + 1
        to_left = self.value[:, children] - self.value[:, :n_internal]
        to_right = self.value[:, children + 1] - self.value[:, :n_internal]
        flat = (self.feature.astype(np.int32), self.threshold, to_left, to_right, self.value[:, n_internal:])
        return tuple(np.ascontiguousarray(a).ravel() for a in flat)  # type: ignore[return-value]

    def _walk_chunk(self, X: np.ndarray, contrib: np.ndarray | None) -> np.ndarray:
        import numpy as np

        feature, threshold, to_left, to_right, leaf_value = self._flat
        n_trees, n_internal = self.feature.shape
        rows, n_features = X.shape
        flat_x = X.ravel()
        row_base = (np.arange(rows, dtype=np.int32) * n_features)[:, None]
        tree_base = np.arange(n_trees, dtype=np.int32) * n_internal
        node = np.zeros((rows, n_trees), dtype=np.int32)
        for _ in range(self.depth):
            at = node + tree_base
            cell = row_base + feature[at]  # row * n_features + feature: the cell of X, and of contrib
            right = flat_x[cell] > threshold[at]
            if contrib is not None:
                delta = np.where(right, to_right[at], to_left[at])
                contrib += np.bincount(cell.ravel(), weights=delta.ravel(), minlength=contrib.size).reshape(
                    contrib.shape
                )
            node = 2 * node + 1 + right
        leaf = node - n_internal + (np.arange(n_trees, dtype=np.int32) * (n_internal + 1))
        return self.baseline + leaf_value[leaf].sum(axis=1)


@dataclass(frozen=True)
class Calibrator:
    """Raw log-odds → probability: ``isotonic`` (np.interp over x → y) or ``sigmoid`` (y = [a, b])."""

    kind: str
    x: np.ndarray
    y: np.ndarray

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        import numpy as np

        if self.kind == "isotonic":
            return np.interp(raw, self.x, self.y)
        a, b = self.y
        return 1.0 / (1.0 + np.exp(-(a * raw + b)))


@dataclass(frozen=True)
class Intervals:
    """How far the true rate may be from a prediction, from calibration bins on held-back data.

    For the bin a probability falls in (``edges``), the observed rate was ``gap`` away from the
    mean prediction, give or take ``half`` (a 90 % normal interval of the bin's observed rate).
    The interval of ``p`` is [p + gap - half, p + gap + half], widened to contain ``p``.
    """

    edges: np.ndarray  # inner bin edges over probability
    gap: np.ndarray
    half: np.ndarray

    def __call__(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import numpy as np

        b = np.searchsorted(self.edges, p, side="right")
        low = np.minimum(p, p + self.gap[b] - self.half[b])
        high = np.maximum(p, p + self.gap[b] + self.half[b])
        return np.clip(low, 0.0, 1.0), np.clip(high, 0.0, 1.0)


@dataclass(frozen=True)
class Scores:
    probability: np.ndarray
    low: np.ndarray
    high: np.ndarray
    effects: np.ndarray  # rows × features: signed change in probability attributed to each feature
    arrival: np.ndarray | None  # rows × 3 (p10, p50, p90 minutes), or None without an arrival model


@dataclass(frozen=True)
class AttendanceModel:
    features: tuple[str, ...]
    classifier: TreeEnsemble
    calibrator: Calibrator
    intervals: Intervals
    reference_edges: np.ndarray  # features × 9 inner decile edges in the latest training weeks
    reference_shares: np.ndarray  # features × 10 shares per decile bin there
    arrival: tuple[TreeEnsemble, TreeEnsemble, TreeEnsemble] | None = None
    covariates: CovariateSpec | None = None  # the features after the history's, when it uses any

    def probability(self, X: np.ndarray) -> np.ndarray:
        return self.calibrator(self.classifier.raw(X))

    def drift(self, X: np.ndarray) -> dict[str, float]:
        """The PSI of each feature of ``X`` (recent rows) against the latest training weeks' deciles.

        ``n_prior`` and ``term_week`` grow with time by nature; their PSI says little on its own.
        """
        return _psi(self.features, self.reference_edges, self.reference_shares, X)

    def score(self, X: np.ndarray) -> Scores:
        """Probabilities, intervals, per-feature effects and arrival quantiles for the rows of X.

        A feature's effect is how far the probability would move back if its contribution were
        taken out of the log-odds: ``p - expit(logit(p) - contribution)``. (Taking it out before
        an isotonic calibration instead would give step-shaped, often equal, effects.)
        """
        import numpy as np

        raw, contrib = self.classifier.explain(X)
        p = self.calibrator(raw)
        low, high = self.intervals(p)
        q = np.clip(p, 1e-6, 1 - 1e-6)
        logit = np.log(q / (1 - q))
        effects = p[:, None] - 1.0 / (1.0 + np.exp(contrib - logit[:, None]))
        arrival = None
        if self.arrival is not None:
            arrival = np.sort(np.column_stack([m.raw(X) for m in self.arrival]), axis=1)
        return Scores(p, low, high, effects, arrival)


def feature_drift(reference: Mapping[str, Any], X: np.ndarray) -> dict[str, float]:
    """:meth:`AttendanceModel.drift` from a model's metadata alone: ``reference`` is the
    ``drift_reference`` of its metadata.json (``features``, ``edges``, ``shares``); the columns of
    ``X`` are in ``reference["features"]`` order (``rollcall.ml.features.FEATURES``)."""
    import numpy as np

    return _psi(
        tuple(reference["features"]), np.asarray(reference["edges"]), np.asarray(reference["shares"]), X
    )


def _psi(features: Sequence[str], edges: np.ndarray, shares: np.ndarray, X: np.ndarray) -> dict[str, float]:
    import numpy as np

    from rollcall.ml.evaluate import population_stability

    out = {}
    for j, name in enumerate(features[: X.shape[1]]):  # a scan computes the history features only
        bins = np.searchsorted(edges[j], X[:, j], side="right")
        now = np.bincount(bins, minlength=10) / max(len(X), 1)
        out[name] = population_stability(shares[j], now)
    return out
