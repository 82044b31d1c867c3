"""Model drift: is the active attendance model still looking at the world it was trained on?

The features of the usable records of the last ``anomaly_drift_window_days`` are computed exactly
as prediction computes them (``rollcall.ml.features.History`` over the scan's history window) and
compared with the model's training reference:

- feature drift: the population stability index of each feature against the deciles the model
  kept from its latest training weeks (``AttendanceModel.drift``); above ``anomaly_drift_psi``
  a feature has drifted. ``n_prior`` and ``term_week`` grow with time by nature and are left out.
- calibration drift: the observed attendance rate against the mean predicted probability; a gap
  of ``anomaly_calibration_gap`` or more (either way) is drift. The ECE is in the evidence.

One finding per model (subject ``model:<type>``), an ongoing condition. Severity: medium; high
when a feature's PSI exceeds 0.5 or the calibration gap is twice the threshold. Each detection is
also reported to the registry (``report_drift``) for the weekly retrain trigger.
"""

from __future__ import annotations

from datetime import UTC, datetime

from rollcall.anomaly.findings import MODEL_DRIFT, Finding, at_least, pct, rounded
from rollcall.anomaly.inputs import Context, Skip
from rollcall.domain import iso

GROWING = frozenset({"n_prior", "term_week"})
HIGH_PSI = 0.5


def model_drift(c: Context) -> list[Finding]:
    import numpy as np

    from rollcall.ml.evaluate import calibration_error
    from rollcall.ml.features import FEATURES, History, usable

    s, active = c.settings, c.inputs.model
    if active is None:
        raise Skip("no active model")
    spec = getattr(active.model, "covariates", None)  # a model trained with covariates has a spec
    computed = (*FEATURES, *(spec.names if spec else ()))
    missing = [name for name in active.model.features if name not in computed]
    if missing:
        raise Skip(f"the model uses features this code does not compute: {missing}")
    since = datetime.fromtimestamp(c.since(s.anomaly_drift_window_days), UTC)
    rows = usable(c.inputs.records)
    recent = [r for r in rows if since <= r.starts_at < c.inputs.now]
    if len(recent) < s.anomaly_drift_min_records:
        raise Skip(f"{len(recent)} recent usable records (at least {s.anomaly_drift_min_records} needed)")
    history = History.from_records(rows)
    X = history.features(
        [r.student_id for r in recent], [r.class_id for r in recent], [r.starts_at for r in recent]
    )
    if spec is not None:
        from rollcall.ml.covariates import covariates_of

        X = np.hstack([X, spec.matrix([covariates_of(r) for r in recent])])
    X = X[:, [computed.index(name) for name in active.model.features]]
    psi = active.model.drift(X)
    drifted = {k: v for k, v in psi.items() if k not in GROWING and v > s.anomaly_drift_psi}
    y = np.fromiter((r.attended for r in recent), bool, len(recent))
    p = active.model.probability(X)
    observed, predicted = float(y.mean()), float(p.mean())
    gap = observed - predicted
    calibration_drift = abs(gap) >= s.anomaly_calibration_gap
    if not drifted and not calibration_drift:
        return []
    ranked = {k: rounded(v) for k, v in sorted(drifted.items(), key=lambda kv: -kv[1])}
    evidence = {
        "model_type": active.model_type,
        "model_version": active.version,
        "window": {"since": iso(since), "until": iso(c.inputs.now)},
        "records": len(recent),
        "drifted_features": ranked,
        "psi": {k: rounded(v) for k, v in psi.items()},
        "psi_threshold": s.anomaly_drift_psi,
        "calibration": {
            "observed_rate": rounded(observed),
            "predicted_rate": rounded(predicted),
            "gap": rounded(gap),
            "gap_threshold": s.anomaly_calibration_gap,
            "ece": rounded(calibration_error(y, p)),
            "drifted": calibration_drift,
        },
    }
    parts = []
    if drifted:
        top = ", ".join(f"{k} (PSI {v:.2f})" for k, v in list(ranked.items())[:3])
        parts.append(f"input drift in {top}")
    if calibration_drift:
        parts.append(f"observed attendance {pct(observed)} against {pct(predicted)} predicted")
    summary = f"model {active.model_type} {active.version}: " + "; ".join(parts)
    severity = at_least(
        "medium",
        (any(v > HIGH_PSI for v in drifted.values()), "high"),
        (abs(gap) >= 2 * s.anomaly_calibration_gap, "high"),
    )
    return [Finding(MODEL_DRIFT, f"model:{active.model_type}", severity, summary, evidence)]
