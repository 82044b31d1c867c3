"""Features of (student, class, start time): one code path for training and prediction, no leakage.

A :class:`History` is built once from attendance records (numpy arrays sorted by a group key and
time, with running sums). The features of a query (student, class, start) are then lookups with
``searchsorted(..., side="left")`` on ``group * SPAN + start``: every sum covers records of the
group that start *strictly before* the query's start, by construction. So:

- training computes the features of every record against a History of all records, and
  prediction computes them for future sessions against the same kind of History: the same code;
- adding or changing a record at or after a session's start cannot change that session's features;
- the features of (s, c, t) read only student ``s``'s records before ``t`` and class ``c``'s
  records in the ``CLASS_WINDOW_DAYS`` before ``t``. A History built from just those records (what
  a single prediction loads) gives exactly the features a History of the whole organisation gives.

Times are whole seconds since 2000-01-01 UTC; weekday and hour are those of UTC. Records with
status ``uncertain`` (awaiting review) are neither history nor labels.

Rates are smoothed: the overall rate toward ``PRIOR_RATE`` with ``PRIOR_WEIGHT`` pseudo-records,
the narrower rates (class, weekday, hour band, recent windows) toward the student's overall rate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import TYPE_CHECKING

from rollcall.domain import AttendanceRecord, Status

if TYPE_CHECKING:
    import numpy as np

EPOCH = 946_684_800  # 2000-01-01T00:00:00Z in Unix seconds
SPAN = 1 << 32  # seconds per group in a key: group * SPAN + t (t < SPAN: until 2136)
DAY, WEEK = 86_400, 7 * 86_400
PRIOR_RATE, PRIOR_WEIGHT = 0.85, 2.0
CLASS_PRIOR_WEIGHT = 5.0
RECENT_DAYS = (7, 14, 28)
EWM_DAYS = 7.0  # e-folding time of the exponentially weighted rate
CLASS_WINDOW_DAYS = 28
CAP_DAYS = 60.0  # "days since" when there is nothing (or more than this) before
TERM_GAP_DAYS = 8  # a gap this long in a student's timeline starts a new term (a break week)
ARRIVAL_RANGE = (-60.0, 180.0)  # arrival minutes are clipped to this
HOUR_BANDS = (10, 12, 17)  # before 10, 10-12, 12-17, from 17

FEATURES: tuple[str, ...] = (
    "rate_overall",
    "rate_class",
    "rate_slot",
    "rate_weekday",
    "rate_hour_band",
    "rate_1w",
    "rate_2w",
    "rate_4w",
    "rate_ewm",
    "streak",
    "days_since_attended",
    "days_since_last",
    "class_rate_4w",
    "weekday",
    "hour",
    "term_week",
    "n_prior",
    "mean_lateness",
    "late_share",
)
USABLE = frozenset({Status.PRESENT, Status.LATE, Status.ABSENT})


def seconds(value: datetime) -> int:
    """A time as whole seconds since 2000-01-01 UTC (the features' clock)."""
    return int(value.timestamp()) - EPOCH


@dataclass(frozen=True)
class Columns:
    """Records (or queries) as arrays; ``student`` and ``klass`` are indices into the History's ids."""

    student: np.ndarray  # int64
    klass: np.ndarray  # int64
    t: np.ndarray  # int64 seconds since EPOCH
    attended: np.ndarray  # bool (queries: unused)
    late: np.ndarray  # bool
    arrival: np.ndarray  # float minutes, NaN when unknown or absent

    def __len__(self) -> int:
        return len(self.t)


def usable(records: Iterable[AttendanceRecord]) -> list[AttendanceRecord]:
    """The records that count as history and as labels: not awaiting review, one per (session,
    student) (a later duplicate replaces an earlier one, so overlapping loads can be concatenated)."""
    unique = {(r.session_id, r.student_id): r for r in records}
    return [r for r in unique.values() if r.status in USABLE]


class _Grouped:
    """Records sorted by ``group * SPAN + t`` with running counts: counts over "group, in [since, t)"
    in O(log n). Counts are integers, so differences of running sums are exact."""

    def __init__(self, group: np.ndarray, t: np.ndarray, counts: dict[str, np.ndarray]) -> None:
        import numpy as np

        key = group * SPAN + t
        self.order = np.argsort(key, kind="stable")
        self.key = key[self.order]
        self.t = t[self.order]
        self.group = group[self.order]
        zero = np.zeros(1, dtype=np.int64)
        self.sums = {
            k: np.concatenate((zero, np.cumsum(v[self.order], dtype=np.int64))) for k, v in counts.items()
        }

    def bounds(
        self, group: np.ndarray, t: np.ndarray, since: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Positions [lo, hi) of the group's records in [since, t) (since defaults to the beginning)."""
        import numpy as np

        base = group * SPAN
        lo = np.searchsorted(self.key, base + (0 if since is None else np.maximum(since, 0)), side="left")
        hi = np.searchsorted(self.key, base + t, side="left")
        return lo, hi

    def total(self, name: str, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        s = self.sums[name]
        return s[hi] - s[lo]


class History:
    """What features are computed from: records as sorted arrays with running sums, built once.

    Build it with :meth:`from_records`; ask for features with :meth:`features` (queries given by
    ids and start times) or :meth:`record_features` (the records it was built from).
    """

    def __init__(self, cols: Columns, student_ids: dict[str, int], class_ids: dict[str, int]) -> None:
        import numpy as np

        self.cols = cols
        self.attributes: dict[str, tuple[tuple[str, float | str], ...]] = {}  # see latest_attributes
        self.student_ids = student_ids
        self.class_ids = class_ids
        self.n_classes = len(class_ids) + 1  # the last index stands for "unknown"
        y = cols.attended
        known = ~np.isnan(cols.arrival)
        self.student = _Grouped(cols.student, cols.t, {"y": y, "known": known, "late": cols.late & y})
        self.student_class = _Grouped(cols.student * self.n_classes + cols.klass, cols.t, {"y": y})
        self.student_weekday = _Grouped(cols.student * 7 + weekday(cols.t), cols.t, {"y": y})
        self.student_band = _Grouped(cols.student * 4 + hour_band(cols.t), cols.t, {"y": y})
        self.student_class_weekday = _Grouped(
            self._class_weekday(cols.student, cols.klass, cols.t), cols.t, {"y": y}
        )
        self.klass = _Grouped(cols.klass, cols.t, {"y": y})
        self._student_state(y, known)

    def _student_state(self, y: np.ndarray, known: np.ndarray) -> None:
        """Per student, as of each of their records (in time order, inclusive): the signed run
        length (streak), the last attended time, the term's start, and running sums for the
        exponentially weighted rate and the lateness. One extra entry at the end stands for
        "no record" (read when a student has none before a query).

        The float sums restart per student (a loop over students) so that no other student's
        records enter them: adding later records changes nothing before them, to the last bit.
        """
        import numpy as np

        g = self.student
        n = len(g.key)
        ys = y[g.order]
        new_group = np.ones(n, dtype=bool)
        new_group[1:] = g.group[1:] != g.group[:-1]
        run_start = new_group.copy()
        run_start[1:] |= ys[1:] != ys[:-1]
        run_len = np.arange(n) - np.flatnonzero(run_start)[np.cumsum(run_start) - 1] + 1
        # last attended time: a running max of keys, which grow with the group (so it restarts)
        attended_key = np.where(ys, g.key, g.group * SPAN - 1)
        last = np.maximum.accumulate(attended_key) if n else attended_key
        term_start = new_group.copy()
        term_start[1:] |= (g.t[1:] - g.t[:-1]) >= TERM_GAP_DAYS * DAY
        # EWM weights exp(day / EWM_DAYS) count from the student's first record, which later records
        # cannot move; exact for histories up to 700 e-folding times (13 years).
        first_t = g.t[np.flatnonzero(new_group)[np.cumsum(new_group) - 1]]
        w = np.exp(np.minimum((g.t - first_t) / (EWM_DAYS * DAY), 700.0))
        minutes = self.cols.arrival[g.order]
        minutes = np.where(known[g.order], np.clip(np.nan_to_num(minutes), *ARRIVAL_RANGE), 0.0)
        edges = np.append(np.flatnonzero(new_group), n)

        def running(v: np.ndarray) -> np.ndarray:
            out = np.empty(n)
            for a, b in pairwise(edges):
                out[a:b] = np.cumsum(v[a:b])
            return out

        state = {
            "t": g.t,
            "streak": np.where(ys, run_len, -run_len),
            "last_attended": np.where(last >= g.group * SPAN, last - g.group * SPAN, -1),
            "term_start": g.t[np.flatnonzero(term_start)[np.cumsum(term_start) - 1]],
            "first_t": first_t,
            "w": running(w),
            "wy": running(w * ys),
            "minutes": running(minutes),
        }
        self.state = {k: np.append(v, 0) for k, v in state.items()}  # the "no record" entry last

    # --- construction ------------------------------------------------------------------------------

    @classmethod
    def from_records(cls, records: Iterable[AttendanceRecord]) -> History:
        """A History of the usable records (any order)."""
        import numpy as np

        rows = usable(records)
        student_ids: dict[str, int] = {}
        class_ids: dict[str, int] = {}
        student = np.fromiter(
            (student_ids.setdefault(r.student_id, len(student_ids)) for r in rows), np.int64, len(rows)
        )
        klass = np.fromiter(
            (class_ids.setdefault(r.class_id, len(class_ids)) for r in rows), np.int64, len(rows)
        )
        t = (
            np.fromiter((r.starts_at.timestamp() for r in rows), np.float64, len(rows)).astype(np.int64)
            - EPOCH
        )
        status = [r.status for r in rows]
        attended = np.fromiter((s is not Status.ABSENT for s in status), bool, len(rows))
        late = np.fromiter((s is Status.LATE for s in status), bool, len(rows))
        arrival = np.fromiter(
            (
                r.minutes_late if r.minutes_late is not None and r.status is not Status.ABSENT else np.nan
                for r in rows
            ),
            np.float64,
            len(rows),
        )
        cols = Columns(student, klass, np.maximum(t, 0), attended, late, arrival)
        history = cls(cols, student_ids, class_ids)
        latest: dict[str, AttendanceRecord] = {}
        for r in rows:
            if r.attributes and (r.student_id not in latest or r.starts_at >= latest[r.student_id].starts_at):
                latest[r.student_id] = r
        history.attributes = {s: r.attributes for s, r in latest.items()}
        return history

    def columns(
        self, student_ids: Sequence[str], class_ids: Sequence[str], starts: Sequence[datetime]
    ) -> Columns:
        """Queries as Columns (unknown students and classes get the "no records" index)."""
        import numpy as np

        n = len(starts)
        unknown_s, unknown_c = len(self.student_ids), len(self.class_ids)
        student = np.fromiter((self.student_ids.get(s, unknown_s) for s in student_ids), np.int64, n)
        klass = np.fromiter((self.class_ids.get(c, unknown_c) for c in class_ids), np.int64, n)
        t = np.fromiter((seconds(x) for x in starts), np.int64, n)
        nothing = np.zeros(n, dtype=bool)
        return Columns(student, klass, t, nothing, nothing, np.full(n, np.nan))

    # --- features ----------------------------------------------------------------------------------

    def features(
        self, student_ids: Sequence[str], class_ids: Sequence[str], starts: Sequence[datetime]
    ) -> np.ndarray:
        """The feature matrix (len(starts) × len(FEATURES)) of the queries."""
        return self.compute(self.columns(student_ids, class_ids, starts))

    def record_features(self) -> np.ndarray:
        """The feature matrix of the records this History was built from (the training set)."""
        return self.compute(self.cols)

    def compute(self, q: Columns) -> np.ndarray:
        import numpy as np

        t = np.clip(q.t, 0, SPAN - 1)
        g = self.student
        lo, hi = g.bounds(q.student, t)
        n = hi - lo
        has = n > 0
        last = np.where(has, hi - 1, len(g.key))  # the student's last record before t, or "none"
        state = {k: v[last] for k, v in self.state.items()}
        attended = g.total("y", lo, hi)
        overall = _smooth(attended, n, PRIOR_RATE, PRIOR_WEIGHT)
        out = {"rate_overall": overall, "n_prior": n.astype(float)}

        for name, grouped, group in (
            ("rate_class", self.student_class, q.student * self.n_classes + q.klass),
            ("rate_weekday", self.student_weekday, q.student * 7 + weekday(t)),
            ("rate_hour_band", self.student_band, q.student * 4 + hour_band(t)),
        ):
            a, b = grouped.bounds(group, t)
            out[name] = _smooth(grouped.total("y", a, b), b - a, overall, PRIOR_WEIGHT)
        same, n_same = self.similar(q)
        out["rate_slot"] = _smooth(same, n_same, out["rate_class"], PRIOR_WEIGHT)
        for days, name in zip(RECENT_DAYS, ("rate_1w", "rate_2w", "rate_4w"), strict=True):
            a, _ = g.bounds(q.student, t, since=t - days * DAY)
            out[name] = _smooth(g.total("y", a, hi), hi - a, overall, PRIOR_WEIGHT)

        decay = np.exp(np.maximum((state["first_t"] - t) / (EWM_DAYS * DAY), -700.0))
        out["rate_ewm"] = _smooth(state["wy"] * decay, state["w"] * decay, overall, PRIOR_WEIGHT)

        gap = np.where(has, (t - state["t"]) / DAY, CAP_DAYS)
        out["days_since_last"] = np.minimum(gap, CAP_DAYS)
        attended_at = np.where(has, state["last_attended"], -1)
        since_attended = np.minimum((t - attended_at) / DAY, CAP_DAYS)
        out["days_since_attended"] = np.where(attended_at >= 0, since_attended, CAP_DAYS)
        out["streak"] = np.where(has, state["streak"], 0).astype(float)
        in_term = has & (gap < TERM_GAP_DAYS)
        out["term_week"] = np.where(in_term, (t - state["term_start"]) // WEEK, 0).astype(float)

        out["mean_lateness"] = np.where(has, state["minutes"], 0.0) / (
            g.total("known", lo, hi) + PRIOR_WEIGHT
        )
        out["late_share"] = g.total("late", lo, hi) / (attended + PRIOR_WEIGHT)

        a, b = self.klass.bounds(q.klass, t, since=t - CLASS_WINDOW_DAYS * DAY)
        out["class_rate_4w"] = _smooth(self.klass.total("y", a, b), b - a, PRIOR_RATE, CLASS_PRIOR_WEIGHT)
        out["weekday"] = weekday(t).astype(float)
        out["hour"] = (t % DAY) / 3600.0
        return np.column_stack([out[name] for name in FEATURES])

    # --- what the fallbacks and covariates read -------------------------------------------------------

    def latest_attributes(self, student_id: str) -> tuple[tuple[str, float | str], ...]:
        """The attributes of the student's latest record that has any (``()`` when none)."""
        return self.attributes.get(student_id, ())

    def class_so_far(self, q: Columns) -> tuple[np.ndarray, np.ndarray]:
        """Per query: how often the class's students attended, and how many records, before t."""
        import numpy as np

        t = np.clip(q.t, 0, SPAN - 1)
        a, b = self.klass.bounds(q.klass, t)
        return self.klass.total("y", a, b).astype(float), (b - a).astype(float)

    def similar(self, q: Columns) -> tuple[np.ndarray, np.ndarray]:
        """Per query: how often the student attended, and how many records, on the same class and
        weekday before t (the similarity fallback's evidence)."""
        import numpy as np

        t = np.clip(q.t, 0, SPAN - 1)
        a, b = self.student_class_weekday.bounds(self._class_weekday(q.student, q.klass, t), t)
        return self.student_class_weekday.total("y", a, b), (b - a).astype(float)

    def arrivals(self, student: int, t: int) -> np.ndarray:
        """The student's known arrival minutes before ``t`` (for empirical arrival quantiles)."""
        import numpy as np

        lo, hi = self.student.bounds(np.array([student]), np.array([max(t, 0)]))
        minutes = self.cols.arrival[self.student.order[lo[0] : hi[0]]]
        return minutes[~np.isnan(minutes)]

    def _class_weekday(self, student: np.ndarray, klass: np.ndarray, t: np.ndarray) -> np.ndarray:
        return (student * self.n_classes + klass) * 7 + weekday(t)


def _smooth(hits: np.ndarray, n: np.ndarray, prior: np.ndarray | float, weight: float) -> np.ndarray:
    return (hits + weight * prior) / (n + weight)


def weekday(t: np.ndarray) -> np.ndarray:
    """Monday = 0; 2000-01-01 was a Saturday."""
    return (t // DAY + 5) % 7


def hour_band(t: np.ndarray) -> np.ndarray:
    import numpy as np

    return np.searchsorted(np.asarray(HOUR_BANDS) * 3600, t % DAY, side="right")
