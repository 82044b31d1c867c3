"""Training: a time-based holdout, a calibrated gradient-boosted classifier, arrival quantiles.

The steps, all in time order so that nothing is learnt from the future of what it is judged on:

1. Features of every usable record from the records strictly before it (``rollcall.ml.features``).
2. Holdout: the latest ``HOLDOUT_SHARE`` (20 %) of sessions by start time. Everything before is
   the training part; its latest ``CALIBRATION_SHARE`` (20 %) of sessions is the calibration slice.
3. The classifier (``HistGradientBoostingClassifier``) is fitted on the training part before the
   calibration slice. Its number of trees is chosen on the calibration slice (lowest log loss).
4. Calibration on the calibration slice: isotonic and sigmoid are both fitted on its first half
   and scored (ECE) on its second half; the better kind is refitted on the whole slice.
5. Arrival: three quantile regressors (p10, p50, p90 minutes relative to the start), fitted on the
   attended training records with a known arrival (skipped when there are fewer than
   ``MIN_ARRIVALS``).
6. Metrics on the holdout: ROC-AUC, Brier, log loss, ECE (15 equal-width bins), counts, and for
   arrival the pinball losses and the p10-p90 coverage.

The fitted estimators are exported to numpy arrays (``rollcall.ml.model``); scikit-learn is only
needed here. The model that is evaluated is the model that is shipped (it has not seen the
holdout), so a registry can compare versions on the same holdout.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rollcall.domain import AttendanceRecord
from rollcall.ml.covariates import CovariateSpec, covariates_of
from rollcall.ml.evaluate import ECE_BINS, calibration_error, metrics
from rollcall.ml.features import EPOCH, FEATURES, History, usable
from rollcall.ml.history_csv import content_hash
from rollcall.ml.model import AttendanceModel, Calibrator, Intervals, TreeEnsemble
from rollcall.platform.errors import InsufficientData

if TYPE_CHECKING:
    import numpy as np

MIN_RECORDS = 200
MIN_ARRIVALS = 100
HOLDOUT_SHARE = 0.2
CALIBRATION_SHARE = 0.2
INTERVAL_BINS = 10
INTERVAL_Z = 1.645  # a 90 % normal interval
QUANTILES = (0.1, 0.5, 0.9)

CLASSIFIER_PARAMS: dict[str, Any] = {
    "max_iter": 200,  # an upper bound: the count used is chosen on the calibration slice
    "learning_rate": 0.1,
    "max_depth": 3,
    "min_samples_leaf": 100,
    "l2_regularization": 1.0,
    "early_stopping": False,
    "random_state": 0,
}
ARRIVAL_PARAMS: dict[str, Any] = {  # 20 trees predict as well as 60 at lr 0.1 (pinball within 0.001)
    "max_iter": 20,
    "learning_rate": 0.3,
    "max_depth": 3,
    "min_samples_leaf": 100,
    "early_stopping": False,
    "random_state": 0,
}


@dataclass(frozen=True)
class Dataset:
    """Features and labels of every usable record (``records``, in time order), and the time split."""

    records: list[AttendanceRecord]
    X: np.ndarray
    y: np.ndarray  # attended
    t: np.ndarray  # session start, seconds since EPOCH
    arrival: np.ndarray  # minutes relative to the start; NaN when unknown or absent
    holdout_from: int  # sessions starting at or after this are the holdout
    calibration_from: int  # training sessions starting at or after this are the calibration slice
    counts: dict[str, int]
    data_hash: str
    covariates: CovariateSpec = field(default_factory=CovariateSpec)  # the columns of X after FEATURES

    @property
    def features(self) -> tuple[str, ...]:
        return (*FEATURES, *self.covariates.names)

    def X_for(self, model: AttendanceModel) -> np.ndarray | None:
        """This dataset's rows as ``model``'s features (another model's covariates coded its way);
        None when the model's history features are not this code's (not comparable)."""
        import numpy as np

        if tuple(model.features[: len(FEATURES)]) != FEATURES:
            return None
        spec = model.covariates or CovariateSpec()
        if spec == self.covariates:
            return self.X
        extra = spec.matrix([covariates_of(r) for r in self.records])
        return np.hstack([self.X[:, : len(FEATURES)], extra])

    @property
    def holdout(self) -> np.ndarray:
        return self.t >= self.holdout_from

    @property
    def fit(self) -> np.ndarray:
        return self.t < self.calibration_from

    @property
    def calibration(self) -> np.ndarray:
        return (self.t >= self.calibration_from) & (self.t < self.holdout_from)


@dataclass(frozen=True)
class TrainedModel:
    model: AttendanceModel
    metrics: dict[str, Any]
    params: dict[str, Any]
    data_hash: str
    holdout_from: datetime
    created_at: datetime
    libraries: dict[str, str]
    features: tuple[str, ...] = field(default=FEATURES)


def _cutoff(session_starts: np.ndarray, share: float) -> int:
    """The start time from which the latest ``share`` of sessions begin."""
    import numpy as np

    starts = np.sort(session_starts)
    return int(starts[min(len(starts) - 1, int(len(starts) * (1 - share)))])


def build_dataset(records: Iterable[AttendanceRecord]) -> Dataset:
    """Features, labels and the time split; InsufficientData when there is too little to learn from."""
    import numpy as np

    rows = sorted(usable(records), key=lambda r: (r.starts_at, r.session_id, r.student_id))  # time order
    sessions = {r.session_id: r.starts_at for r in rows}
    counts = {
        "usable_records": len(rows),
        "required_records": MIN_RECORDS,
        "students": len({r.student_id for r in rows}),
        "sessions": len(sessions),
    }
    if len(rows) < MIN_RECORDS:
        raise InsufficientData({"reason": f"fewer than {MIN_RECORDS} usable records", **counts})
    history = History.from_records(rows)
    session_t = np.fromiter((int(s.timestamp()) - EPOCH for s in sessions.values()), np.int64, len(sessions))
    holdout_from = _cutoff(session_t, HOLDOUT_SHARE)
    calibration_from = _cutoff(session_t[session_t < holdout_from], CALIBRATION_SHARE)
    t, y = history.cols.t, history.cols.attended
    parts = {"fit": t < calibration_from, "calibration": (t >= calibration_from) & (t < holdout_from)}
    parts["holdout"] = t >= holdout_from
    for name, mask in parts.items():
        counts[f"{name}_records"] = int(mask.sum())
        if mask.sum() == 0 or y[mask].all() or not y[mask].any():
            raise InsufficientData(
                {"reason": f"the {name} part needs both attended and missed records", **counts}
            )
    fit_rows = [covariates_of(r) for r, fit in zip(rows, parts["fit"].tolist(), strict=True) if fit]
    covariates = CovariateSpec.fit(fit_rows, y[parts["fit"]])
    X = history.record_features()
    if covariates.names:
        X = np.hstack([X, covariates.matrix([covariates_of(r) for r in rows])])
        counts["covariates"] = len(covariates.names)
    return Dataset(
        records=rows,
        X=X,
        y=y,
        t=t,
        arrival=history.cols.arrival,
        holdout_from=holdout_from,
        calibration_from=calibration_from,
        counts=counts,
        data_hash=content_hash(rows),
        covariates=covariates,
    )


# --- export of scikit-learn estimators ------------------------------------------------------------------


def export_trees(estimator: Any, n_trees: int | None = None) -> TreeEnsemble:
    """A fitted HistGradientBoosting{Classifier,Regressor} (binary or single output) as numpy arrays."""
    import numpy as np

    predictors = [p[0] for p in estimator._predictors[:n_trees]]
    depth = max(int(p.nodes["depth"].max()) for p in predictors)
    n_internal, n_nodes = 2**depth - 1, 2 ** (depth + 1) - 1
    feature = np.zeros((len(predictors), n_internal), dtype=np.int32)
    threshold = np.full((len(predictors), n_internal), np.inf)
    value = np.zeros((len(predictors), n_nodes))
    for t, predictor in enumerate(predictors):
        nodes = predictor.nodes
        if (nodes["is_categorical"] != 0).any():
            raise ValueError("categorical splits are not exported")

        def place(i: int, at: int, level: int, tree: int = t, nodes: Any = nodes) -> float:
            node = nodes[i]
            if level == depth:
                value[tree, at] = node["value"]
                return float(node["value"])
            if node["is_leaf"]:  # above the bottom: both children repeat the leaf
                left = place(i, 2 * at + 1, level + 1)
                place(i, 2 * at + 2, level + 1)
                value[tree, at] = left
                return left
            feature[tree, at], threshold[tree, at] = node["feature_idx"], node["num_threshold"]
            lo, hi = int(node["left"]), int(node["right"])
            v_left = place(lo, 2 * at + 1, level + 1)
            v_right = place(hi, 2 * at + 2, level + 1)
            n_lo, n_hi = float(nodes[lo]["count"]), float(nodes[hi]["count"])
            value[tree, at] = (n_lo * v_left + n_hi * v_right) / max(n_lo + n_hi, 1.0)
            return float(value[tree, at])

        place(0, 0, 0)
    baseline = float(np.asarray(estimator._baseline_prediction).ravel()[0])
    return TreeEnsemble(feature=feature, threshold=threshold, value=value, baseline=baseline)


# --- fitting --------------------------------------------------------------------------------------------


def _fit_classifier(data: Dataset) -> tuple[TreeEnsemble, int]:
    """The classifier on the fit part; its tree count is the one with the lowest calibration log loss."""
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier

    from rollcall.ml.evaluate import log_loss

    clf = HistGradientBoostingClassifier(**CLASSIFIER_PARAMS).fit(data.X[data.fit], data.y[data.fit])
    cal_X, cal_y = data.X[data.calibration], data.y[data.calibration]
    losses = [log_loss(cal_y, 1 / (1 + np.exp(-raw))) for raw in clf.staged_decision_function(cal_X)]
    best = int(np.argmin(losses)) + 1
    return export_trees(clf, best), best


def _fit_calibrator(raw: np.ndarray, y: np.ndarray) -> tuple[Calibrator, dict[str, float]]:
    """Isotonic or sigmoid, whichever has the lower ECE on the later half (fitted on the earlier half)."""
    half = len(raw) // 2  # the slice is in time order (the dataset is)
    scores = {}
    for kind in ("isotonic", "sigmoid"):
        trial = _calibrator(kind, raw[:half], y[:half])
        scores[kind] = calibration_error(y[half:], trial(raw[half:]))
    kind = min(scores, key=lambda k: scores[k])
    return _calibrator(kind, raw, y), scores


def _calibrator(kind: str, raw: np.ndarray, y: np.ndarray) -> Calibrator:
    import numpy as np

    if kind == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso_reg = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
        return Calibrator("isotonic", np.asarray(iso_reg.X_thresholds_), np.asarray(iso_reg.y_thresholds_))
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1e6).fit(raw[:, None], y)
    return Calibrator("sigmoid", np.zeros(0), np.array([float(lr.coef_[0, 0]), float(lr.intercept_[0])]))


def _intervals(p: np.ndarray, y: np.ndarray) -> Intervals:
    """Equal-count bins of the calibrated predictions on the calibration slice: per bin, the gap
    between observed and predicted rate, and the 90 % half-width of the observed rate (plus half a
    record, so that a bin of all-attended records still has some width)."""
    import numpy as np

    edges = np.unique(np.quantile(p, np.linspace(0, 1, INTERVAL_BINS + 1)[1:-1]))
    b = np.searchsorted(edges, p, side="right")
    n = np.bincount(b, minlength=len(edges) + 1).astype(float)
    observed = np.bincount(b, weights=y.astype(float), minlength=len(edges) + 1) / np.maximum(n, 1)
    predicted = np.bincount(b, weights=p, minlength=len(edges) + 1) / np.maximum(n, 1)
    half = INTERVAL_Z * np.sqrt(observed * (1 - observed) / np.maximum(n, 1)) + 0.5 / np.maximum(n, 1)
    return Intervals(edges=edges, gap=observed - predicted, half=half)


def _reference(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Decile edges and shares of each feature: the drift baseline. It is taken on the calibration
    slice, the latest training weeks, whose students have histories about as long as recent data
    will (early records, with little history behind them, would make every later week look drifted)."""
    import numpy as np

    edges = np.quantile(X, np.linspace(0.1, 0.9, 9), axis=0).T  # features × 9
    shares = np.stack(
        [np.bincount(np.searchsorted(e, X[:, j], side="right"), minlength=10) for j, e in enumerate(edges)]
    )
    return edges, shares / max(len(X), 1)


def _fit_arrival(data: Dataset) -> tuple[TreeEnsemble, TreeEnsemble, TreeEnsemble] | None:
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingRegressor

    known = ~data.holdout & data.y & ~np.isnan(data.arrival)
    if known.sum() < MIN_ARRIVALS:
        return None
    X, minutes = data.X[known], data.arrival[known]
    models = []
    for q in QUANTILES:
        reg = HistGradientBoostingRegressor(loss="quantile", quantile=q, **ARRIVAL_PARAMS).fit(X, minutes)
        models.append(export_trees(reg))
    return models[0], models[1], models[2]


def evaluate_model(model: AttendanceModel, data: Dataset) -> dict[str, Any]:
    """Holdout metrics of any model on this dataset (the registry compares versions with this)."""
    import numpy as np

    ho = data.holdout
    X = data.X_for(model)
    if X is None:
        raise ValueError("the model's features are not this dataset's")
    scores = model.score(X[ho])
    out: dict[str, Any] = metrics(data.y[ho], scores.probability)
    if scores.arrival is not None:
        known = data.y[ho] & ~np.isnan(data.arrival[ho])
        actual, predicted = data.arrival[ho][known], scores.arrival[known]
        for j, q in enumerate(QUANTILES):
            diff = actual - predicted[:, j]
            out[f"arrival_pinball_p{round(q * 100)}"] = float(np.mean(np.maximum(q * diff, (q - 1) * diff)))
        inside = (actual >= predicted[:, 0]) & (actual <= predicted[:, 2])
        out["arrival_coverage_p10_p90"] = float(inside.mean()) if len(actual) else float("nan")
    return out


def train(records: Iterable[AttendanceRecord] | Dataset, *, now: datetime | None = None) -> TrainedModel:
    """Train, calibrate and evaluate an attendance model; InsufficientData below 200 usable records."""
    import numpy as np
    import sklearn

    from rollcall.platform.observability import logger

    data = records if isinstance(records, Dataset) else build_dataset(records)
    logger.info("training: dataset ready", extra={"counts": data.counts})
    classifier, n_trees = _fit_classifier(data)
    logger.info("training: classifier fitted", extra={"trees": n_trees, "depth": classifier.depth})
    cal = data.calibration
    calibrator, calibration_ece = _fit_calibrator(classifier.raw(data.X[cal]), data.y[cal])
    p_cal = calibrator(classifier.raw(data.X[cal]))
    edges, shares = _reference(data.X[cal])
    model = AttendanceModel(
        features=data.features,
        classifier=classifier,
        calibrator=calibrator,
        intervals=_intervals(p_cal, data.y[cal]),
        reference_edges=edges,
        reference_shares=shares,
        arrival=_fit_arrival(data),
        covariates=data.covariates if data.covariates.names else None,
    )
    logger.info(
        "training: calibrated", extra={"calibration": calibrator.kind, "arrival": model.arrival is not None}
    )
    result = evaluate_model(model, data)
    result.update(data.counts)
    result.update(
        {"calibration": calibrator.kind, "calibration_ece_trials": calibration_ece, "ece_bins": ECE_BINS}
    )
    logger.info("training: evaluated", extra={"roc_auc": result["roc_auc"], "ece": result["ece"]})
    params = {
        "classifier": {**CLASSIFIER_PARAMS, "max_iter": n_trees},
        "arrival": ARRIVAL_PARAMS,
        "quantiles": QUANTILES,
        "holdout_share": HOLDOUT_SHARE,
        "calibration_share": CALIBRATION_SHARE,
    }
    return TrainedModel(
        model=model,
        metrics=result,
        params=params,
        data_hash=data.data_hash,
        holdout_from=datetime.fromtimestamp(data.holdout_from + EPOCH, UTC),
        created_at=now or datetime.now(UTC),
        libraries={"scikit-learn": sklearn.__version__, "numpy": np.__version__},
        features=data.features,
    )
