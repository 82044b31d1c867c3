"""Attendance predictions with their fallback chain: model → similarity → heuristic.

Given the active model (or ``None`` when there is none or it could not be loaded), the history
before the sessions (a :class:`~rollcall.ml.features.History`) and the organisation's counts:

- ``model``: the calibrated model's probability. Interval: from the calibration bins on held-back
  data (how far observed rates were from predictions near this one, see ``model.Intervals``);
  it says how sure the calibration is, not how sure the model is about this one student.
  Factors: the features with the largest path contributions (``model.TreeEnsemble.explain``),
  each as its value and the signed change of the probability it accounts for.
- ``similarity``: the student's record on similar sessions (same class and weekday), smoothed
  toward the student's overall rate with ``SIMILARITY_WEIGHT`` pseudo-sessions, when there are
  at least ``MIN_SIMILAR`` of them.
- ``heuristic``: the organisation's base rate, or ``GLOBAL_PRIOR`` when it has no records; for a
  student with no history at all (a first-timer), the class's rate so far smoothed toward the
  organisation's with ``CLASS_PRIOR_WEIGHT`` pseudo-records.

``basis`` says what an answer rests on: ``history`` (the student's own records), ``priors`` (a
first-timer: the class's and organisation's rates), each with ``+covariates`` when the model
used a covariate the query or the student's records gave (lead time, reminder, attributes). A
model trained with covariates reads them from the query (``scheduled_at``, ``reminder_sent``,
``attributes``); attributes the query leaves out are the student's latest recorded ones.

For similarity and heuristic the interval is the 90 % Wilson score interval of the Beta
posterior's mean with its effective count (records plus pseudo-records): it narrows as evidence
grows. ``risk_level`` is ``high`` below ``HIGH_RISK_BELOW``, ``medium`` below
``MEDIUM_RISK_BELOW``, else ``low`` (the probability of attending). ``expected_arrival`` is the
model's p10/p50/p90 in minutes relative to the start, or the student's own empirical quantiles
(at least ``MIN_ARRIVALS`` known arrivals), or ``None``.

A model that fails while scoring degrades to the fallbacks (logged and counted as the metric
``PredictionModelFailed``), never to an error.
Results are columnar (:class:`Predictions`): 100,000 predictions are arrays; the API's item
dictionaries are made per item, when asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rollcall.domain import AttendanceRecord, iso
from rollcall.ml.covariates import Attributes, Covariates
from rollcall.ml.features import FEATURES, Columns, History, usable

if TYPE_CHECKING:
    import numpy as np

    from rollcall.ml.model import AttendanceModel

MODEL, SIMILARITY, HEURISTIC = "model", "similarity", "heuristic"
METHODS = (MODEL, SIMILARITY, HEURISTIC)
HIGH_RISK_BELOW, MEDIUM_RISK_BELOW = 0.6, 0.8
RISK_LEVELS = ("high", "medium", "low")
MIN_SIMILAR = 4
SIMILARITY_WEIGHT = 4.0
GLOBAL_PRIOR, GLOBAL_PRIOR_WEIGHT = 0.85, 10.0
MIN_ARRIVALS = 5
TOP_FACTORS = 3
MIN_EFFECT = 0.005  # factors that move the probability less than this are not listed
Z90 = 1.645
# Factor names beyond the model's features: what the fallbacks report.
SIMILAR_RATE, OVERALL_RATE, CLASS_PRIOR = "rate_similar_sessions", "rate_overall", "rate_class_prior"
FACTOR_NAMES = (*FEATURES, SIMILAR_RATE, CLASS_PRIOR)
CLASS_PRIOR_WEIGHT = 5.0
BASES = ("history", "priors", "history+covariates", "priors+covariates")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True, slots=True)
class Query:
    student_id: str
    class_id: str
    starts_at: datetime
    session_id: str | None = None
    scheduled_at: datetime | None = None
    reminder_sent: bool | None = None
    attributes: Attributes = ()


@dataclass(frozen=True)
class OrgStats:
    """The organisation's attendance so far: the heuristic's evidence."""

    attended: int
    records: int

    @classmethod
    def from_records(cls, records: Iterable[AttendanceRecord]) -> OrgStats:
        rows = usable(records)
        return cls(sum(r.attended for r in rows), len(rows))


@dataclass(frozen=True)
class Predictions:
    """Predictions for ``queries`` as arrays; ``item(i)`` is the API's answer for one."""

    queries: Sequence[Query]
    probability: np.ndarray
    low: np.ndarray
    high: np.ndarray
    method: np.ndarray  # index into METHODS
    arrival: np.ndarray  # n × 3 minutes (p10, p50, p90); NaN where unknown
    factor: np.ndarray  # n × TOP_FACTORS index into FACTOR_NAMES, -1 for none
    factor_value: np.ndarray
    factor_effect: np.ndarray
    model_version: str | None
    basis: np.ndarray | None = None  # index into BASES (None: all "history")
    factor_names: tuple[str, ...] = FACTOR_NAMES

    def __len__(self) -> int:
        return len(self.queries)

    def item(self, i: int) -> dict[str, Any]:
        return self.items(i, i + 1)[0]

    def items(self, start: int = 0, stop: int | None = None) -> list[dict[str, Any]]:
        """The API's answers for queries[start:stop] (arrays become lists once, not per number)."""
        import numpy as np

        part = slice(start, stop)
        probability = self.probability[part]
        basis = (np.zeros(len(self.probability), dtype=np.int8) if self.basis is None else self.basis)[part]
        risk = np.where(
            probability < HIGH_RISK_BELOW, 0, np.where(probability < MEDIUM_RISK_BELOW, 1, 2)
        ).tolist()
        columns = zip(
            self.queries[part],
            np.round(probability, 4).tolist(),
            np.round(self.low[part], 4).tolist(),
            np.round(self.high[part], 4).tolist(),
            risk,
            self.method[part].tolist(),
            np.round(self.arrival[part], 1).tolist(),
            self.factor[part].tolist(),
            np.round(self.factor_value[part], 4).tolist(),
            np.round(self.factor_effect[part], 4).tolist(),
            basis.tolist(),
            strict=True,
        )
        times: dict[datetime, str] = {}
        advice: dict[tuple[Any, ...], list[str]] = {}
        out = []
        for q, p, low, high, r, m, arrival, factor, value, effect, b in columns:
            method, level, on = METHODS[m], RISK_LEVELS[r], BASES[b]
            factors = [
                {"name": self.factor_names[f], "value": v, "effect": e}
                for f, v, e in zip(factor, value, effect, strict=True)
                if f >= 0
            ]
            expected = (
                None if arrival[1] != arrival[1] else dict(zip(("p10", "p50", "p90"), arrival, strict=True))
            )
            key = (
                level,
                method,
                on,
                expected and round(expected["p50"]),
                *((f["name"], f["value"]) for f in factors if f["effect"] < 0),
            )
            if key not in advice:
                advice[key] = recommendations(level, factors, expected, method, on)
            if q.starts_at not in times:
                times[q.starts_at] = iso(q.starts_at)
            out.append(
                {
                    "student_id": q.student_id,
                    "session_id": q.session_id,
                    "class_id": q.class_id,
                    "starts_at": times[q.starts_at],
                    "probability": p,
                    "interval": [low, high],
                    "risk_level": level,
                    "expected_arrival": expected,
                    "factors": factors,
                    "recommendations": list(advice[key]),
                    "method": method,
                    "basis": on,
                    "model_version": self.model_version if method == MODEL else None,
                }
            )
        return out


class Predictor:
    """Predictions for many queries at once; one instance per loaded model (or none)."""

    def __init__(self, model: AttendanceModel | None, model_version: str | None, org: OrgStats) -> None:
        self.model = model
        self.model_version = model_version if model is not None else None
        self.org = org

    def predict(self, history: History, queries: Sequence[Query]) -> Predictions:
        import numpy as np

        cols = history.columns(
            [q.student_id for q in queries], [q.class_id for q in queries], [q.starts_at for q in queries]
        )
        n = len(queries)
        arrival = np.full((n, 3), np.nan)
        if self.model is not None:
            try:
                return self._by_model(history, cols, queries, arrival)
            except Exception:  # a broken model must not break predictions
                from rollcall.platform.observability import count, logger

                logger.exception(
                    "model scoring failed: answering with the fallbacks", extra={"model": self.model_version}
                )
                count("PredictionModelFailed")
        return self._by_fallback(history, cols, queries, arrival)

    def _by_model(
        self, history: History, cols: Columns, queries: Sequence[Query], arrival: np.ndarray
    ) -> Predictions:
        import numpy as np

        assert self.model is not None
        X = history.compute(cols)
        spec = self.model.covariates
        with_covariates = np.zeros(len(queries), dtype=bool)
        if spec is not None:
            rows = [
                Covariates(
                    q.starts_at,
                    q.scheduled_at,
                    q.reminder_sent,
                    q.attributes or history.latest_attributes(q.student_id),
                )
                for q in queries
            ]
            X = np.hstack([X, spec.matrix(rows)])
            with_covariates = spec.present(rows)
        s = self.model.score(X)
        if s.arrival is not None:
            arrival = s.arrival
        else:
            self._empirical_arrival(history, cols, arrival)
        order = np.argsort(-np.abs(s.effects), axis=1)[:, :TOP_FACTORS]
        effect = np.take_along_axis(s.effects, order, axis=1)
        value = np.take_along_axis(X, order, axis=1)
        factor = np.where(np.abs(effect) >= MIN_EFFECT, order, -1)
        method = np.zeros(len(queries), dtype=np.int8)
        first = X[:, FEATURES.index("n_prior")] == 0
        basis = (first.astype(np.int8) + 2 * with_covariates).astype(np.int8)
        return Predictions(
            queries,
            s.probability,
            s.low,
            s.high,
            method,
            arrival,
            factor,
            value,
            effect,
            self.model_version,
            basis,
            tuple(self.model.features),
        )

    def _by_fallback(
        self, history: History, cols: Columns, queries: Sequence[Query], arrival: np.ndarray
    ) -> Predictions:
        import numpy as np

        n = len(queries)
        same_att, same_n = history.similar(cols)
        computed = history.compute(cols)
        overall = computed[:, FEATURES.index(OVERALL_RATE)]
        first = computed[:, FEATURES.index("n_prior")] == 0
        org_rate, org_n = self._org_prior()
        class_att, class_n = history.class_so_far(cols)
        p_class = (class_att + CLASS_PRIOR_WEIGHT * org_rate) / (class_n + CLASS_PRIOR_WEIGHT)
        similar = same_n >= MIN_SIMILAR
        p_sim = (same_att + SIMILARITY_WEIGHT * overall) / (same_n + SIMILARITY_WEIGHT)
        p = np.where(similar, p_sim, np.where(first, p_class, org_rate))
        weight = np.where(first, np.minimum(class_n + CLASS_PRIOR_WEIGHT, org_n), org_n)
        low, high = wilson(p, np.where(similar, same_n + SIMILARITY_WEIGHT, weight))
        self._empirical_arrival(history, cols, arrival)
        factor = np.full((n, TOP_FACTORS), -1)
        value = np.zeros((n, TOP_FACTORS))
        effect = np.zeros((n, TOP_FACTORS))
        factor[:, 0] = np.where(similar, FACTOR_NAMES.index(SIMILAR_RATE), -1)
        value[:, 0], effect[:, 0] = same_att / np.maximum(same_n, 1), p - overall
        factor[:, 1] = np.where(similar, FACTOR_NAMES.index(OVERALL_RATE), -1)
        value[:, 1], effect[:, 1] = overall, overall - org_rate
        prior = first & ~similar & (class_n > 0)
        factor[:, 0] = np.where(prior, FACTOR_NAMES.index(CLASS_PRIOR), factor[:, 0])
        value[:, 0] = np.where(prior, class_att / np.maximum(class_n, 1), value[:, 0])
        effect[:, 0] = np.where(prior, p - org_rate, effect[:, 0])
        method = np.where(similar, METHODS.index(SIMILARITY), METHODS.index(HEURISTIC)).astype(np.int8)
        basis = (first & ~similar).astype(np.int8)
        return Predictions(queries, p, low, high, method, arrival, factor, value, effect, None, basis)

    def _org_prior(self) -> tuple[float, float]:
        """The heuristic's rate and effective count: the organisation's, or the global prior."""
        if self.org.records == 0:
            return GLOBAL_PRIOR, GLOBAL_PRIOR_WEIGHT
        return (self.org.attended + 1) / (self.org.records + 2), float(self.org.records + 2)

    @staticmethod
    def _empirical_arrival(history: History, cols: Columns, out: np.ndarray) -> None:
        """Each student's own arrival quantiles before the session, where there are enough."""
        import numpy as np

        seen: dict[tuple[int, int], np.ndarray] = {}
        for i, key in enumerate(zip(cols.student.tolist(), cols.t.tolist(), strict=True)):
            if key not in seen:
                minutes = history.arrivals(*key)
                enough = len(minutes) >= MIN_ARRIVALS
                seen[key] = np.percentile(minutes, (10, 50, 90)) if enough else np.full(3, np.nan)
            out[i] = seen[key]


def wilson(p: np.ndarray, n: np.ndarray, z: float = Z90) -> tuple[np.ndarray, np.ndarray]:
    """The Wilson score interval of a rate ``p`` observed over ``n`` (effective) trials."""
    import numpy as np

    n = np.maximum(n, 1e-9)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


# --- recommendations ---------------------------------------------------------------------------------

_RISK_ADVICE = {
    "high": "High risk of absence: contact the student before the session.",
    "medium": "Some risk of absence: send a reminder before the session.",
}


def recommendations(
    risk: str,
    factors: list[dict[str, Any]],
    arrival: dict[str, float] | None,
    method: str,
    basis: str = "history",
) -> list[str]:
    """Short actions derived from the risk and the factors that lower the probability."""
    out = [_RISK_ADVICE[risk]] if risk in _RISK_ADVICE else []
    for f in factors:
        if f["effect"] < 0:
            text = _factor_advice(f["name"], f["value"])
            if text and text not in out:
                out.append(text)
    if arrival and arrival["p50"] > 5:
        out.append(
            f"Usually arrives about {arrival['p50']:.0f} minutes late: a reminder of the start time may help."
        )
    if basis.startswith("priors"):
        out.append("No history for this student yet: the class's and organisation's usual rates are used.")
    elif method == HEURISTIC:
        out.append("Little history for this student yet: the organisation's usual rate is shown.")
    return out


def _factor_advice(name: str, value: float) -> str | None:
    if name == "streak" and value < 0:
        return f"Missed the last {int(-value)} sessions in a row: check in with the student."
    if name == "days_since_attended":
        return f"Last attended {value:.0f} days ago: follow up."
    if name in ("rate_1w", "rate_2w", "rate_4w", "rate_ewm"):
        return "Attendance has dropped recently: review the last weeks with the student."
    if name == "weekday":
        return f"Sessions on {WEEKDAYS[int(value) % 7]}s are attended less."
    if name == "hour":
        return f"Sessions at {int(value):02d}:00 are attended less."
    if name == "lead_days":
        return f"Booked {value:.0f} days ahead: long lead times are missed more; send a reminder."
    if name == "reminder_sent" and value == 0:
        return "No reminder was sent: send one."
    if name == "class_rate_4w":
        return "The whole class has attended less recently: review the class's schedule."
    if name in ("rate_class", "rate_slot", SIMILAR_RATE):
        return "Attends this class less than others."
    if name in ("rate_overall", "rate_weekday", "rate_hour_band"):
        return "Attendance is below the usual level for this student's sessions."
    return None
