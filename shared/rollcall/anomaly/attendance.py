"""Attendance detectors: a student's drop, chronic absence, and a session far below its class.

Rates count present and late as attended, absent as missed; ``uncertain`` records (awaiting a
teacher's review) count as neither. Windows are [now - N days, now) by session start.

Severity:

- ``attendance_drop``: medium; high when the window's rate is at most 50 %; critical at most 20 %
  (the student has all but stopped coming).
- ``chronic_absence``: medium; high under 40 %; critical under 20 %.
- ``session_collapse``: medium; high when the session's rate is at most half the class's usual.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rollcall.anomaly.findings import (
    ATTENDANCE_DROP,
    CHRONIC_ABSENCE,
    SESSION_COLLAPSE,
    Finding,
    at_least,
    event_finding,
    pct,
    rounded,
)
from rollcall.anomaly.inputs import Context
from rollcall.domain import iso

if TYPE_CHECKING:
    import numpy as np


def stamp(seconds: int) -> str:
    return iso(datetime.fromtimestamp(int(seconds), UTC))


def attendance_drop(c: Context) -> list[Finding]:
    """The last ``anomaly_drop_window_days`` against the student's own history before them.

    ``z`` is how many standard errors the window's rate lies below the rate the student's history
    predicts for that many sessions: ``(p - r) / sqrt(p (1 - p) / n)`` with ``p`` the history's
    rate (Laplace-smoothed, so that a perfect record still has a spread), ``r`` the window's rate
    and ``n`` its sessions. A drop needs ``z >= anomaly_drop_min_z`` *and* a rate at least
    ``anomaly_drop_min_points`` lower.
    """
    import numpy as np

    s, f = c.settings, c.frame
    since = c.since(s.anomaly_drop_window_days)
    start = f.start
    a_w, n_w = f.per_student((start >= since) & (start < c.now))
    a_h, n_h = f.per_student(start < since)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate_w = a_w / n_w
        rate_h = a_h / n_h
        p = (a_h + 1.0) / (n_h + 2.0)
        z = (p - rate_w) / np.sqrt(p * (1 - p) / n_w)
    hit = (
        (n_w >= s.anomaly_drop_min_window_records)
        & (n_h >= s.anomaly_drop_min_history_records)
        & (z >= s.anomaly_drop_min_z)
        & (rate_h - rate_w >= s.anomaly_drop_min_points)
    )
    out = []
    for i in np.flatnonzero(hit):
        sid, r, h = f.student_ids[i], float(rate_w[i]), float(rate_h[i])
        severity = at_least("medium", (r <= 0.5, "high"), (r <= 0.2, "critical"))
        evidence = {
            "window": {"since": stamp(since), "until": stamp(c.now)},
            "window_rate": rounded(r),
            "window_attended": int(a_w[i]),
            "window_records": int(n_w[i]),
            "history_rate": rounded(h),
            "history_attended": int(a_h[i]),
            "history_records": int(n_h[i]),
            "drop_points": rounded(h - r),
            "z": rounded(z[i], 2),
        }
        summary = (
            f"{sid} attended {pct(r)} of {int(n_w[i])} sessions in the last {s.anomaly_drop_window_days} "
            f"days, against {pct(h)} of {int(n_h[i])} before (z = {z[i]:.1f})"
        )
        out.append(Finding(ATTENDANCE_DROP, f"student:{sid}", severity, summary, evidence))
    return out


def chronic_absence(c: Context) -> list[Finding]:
    """Attending under ``anomaly_chronic_below`` of the last ``anomaly_chronic_window_days``' sessions."""
    import numpy as np

    s, f = c.settings, c.frame
    days = s.anomaly_chronic_window_days
    since, before = c.since(days), c.since(2 * days)
    start = f.start
    a, n = f.per_student((start >= since) & (start < c.now))
    a_prev, n_prev = f.per_student((start >= before) & (start < since))
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = a / n
    hit = (n >= s.anomaly_chronic_min_records) & (rate < s.anomaly_chronic_below)
    out = []
    for i in np.flatnonzero(hit):
        sid, r = f.student_ids[i], float(rate[i])
        severity = at_least("medium", (r < 0.4, "high"), (r < 0.2, "critical"))
        evidence = {
            "window": {"since": stamp(since), "until": stamp(c.now)},
            "rate": rounded(r),
            "attended": int(a[i]),
            "records": int(n[i]),
            "threshold": s.anomaly_chronic_below,
            "previous_window_rate": rounded(a_prev[i] / n_prev[i]) if n_prev[i] else None,
        }
        summary = (
            f"{sid} attended {pct(r)} of {int(n[i])} sessions in the last {days} days "
            f"(chronic below {pct(s.anomaly_chronic_below)})"
        )
        out.append(Finding(CHRONIC_ABSENCE, f"student:{sid}", severity, summary, evidence))
    return out


def session_collapse(c: Context) -> list[Finding]:
    """A recent session whose rate is at least ``anomaly_collapse_min_sd`` standard deviations (and
    ``anomaly_collapse_min_drop``) below the mean of its class's other sessions in the history.

    The class's usual is that of its other sessions in the same weekly slot (weekday and time),
    when it has at least ``anomaly_collapse_min_class_sessions`` of them: Monday at 8 is usually
    emptier than Wednesday at 11, and is no collapse for it. Otherwise all its other sessions.
    Only sessions with at least ``anomaly_collapse_min_students`` records are judged or enter a
    usual; the standard deviation is floored at ``anomaly_collapse_sd_floor``.
    """
    import numpy as np

    s, f = c.settings, c.frame
    keep = f.usable
    n_sessions = len(f.session_ids)
    n = np.bincount(f.session[keep], minlength=n_sessions)
    a = np.bincount(f.session[keep & f.attended], minlength=n_sessions)
    valid = n >= s.anomaly_collapse_min_students
    rate = np.where(valid, a / np.maximum(n, 1), 0.0)
    week_minute = (f.session_start // 60 + 3 * 24 * 60) % (7 * 24 * 60)  # 1970-01-01 was a Thursday
    _, slot = np.unique(f.session_class * (7 * 24 * 60) + week_minute, return_inverse=True)
    by_slot = _LeaveOneOut(slot, rate, valid)
    by_class = _LeaveOneOut(f.session_class, rate, valid)
    since = c.since(s.anomaly_collapse_lookback_days)
    recent = valid & (f.session_start >= since) & (f.session_start < c.now)
    out = []
    for k in np.flatnonzero(recent).tolist():
        same_slot = by_slot.others(k) >= s.anomaly_collapse_min_class_sessions
        usual = by_slot if same_slot else by_class
        m = usual.others(k)
        if m < s.anomaly_collapse_min_class_sessions:
            continue
        mean, sd = usual.mean_sd(k)
        sd = max(sd, s.anomaly_collapse_sd_floor)
        r = rate[k]
        z = (mean - r) / sd
        if z < s.anomaly_collapse_min_sd or mean - r < s.anomaly_collapse_min_drop:
            continue
        session_id, class_id = f.session_ids[k], f.class_ids[f.session_class[k]]
        location = f.location_of(k)
        event = {
            "session_id": session_id,
            "class_id": class_id,
            "starts_at": stamp(f.session_start[k]),
            "location": location,
            "rate": rounded(r),
            "attended": int(a[k]),
            "records": int(n[k]),
            "usual_rate": rounded(mean),
            "usual_sd": rounded(sd),
            "usual_sessions": int(m),
            "usual_of": "the class's sessions in the same weekly slot"
            if same_slot
            else "the class's sessions",
            "z": rounded(z, 2),
        }
        when = datetime.fromtimestamp(int(f.session_start[k]), UTC).strftime("%a %Y-%m-%d %H:%M")
        summary = (
            f"session {session_id} of class {class_id} ({when} UTC{', ' + location if location else ''}): "
            f"{pct(r)} attended ({int(a[k])} of {int(n[k])}) against a usual {pct(mean)} ± {pct(sd)}"
        )
        severity = at_least("medium", (r <= mean / 2, "high"))
        out.append(
            event_finding(SESSION_COLLAPSE, f"session:{session_id}", severity, summary, event, session_id)
        )
    return out


class _LeaveOneOut:
    """Per group of sessions, the mean and sample sd of the *other* valid sessions' rates."""

    def __init__(self, group: np.ndarray, rate: np.ndarray, valid: np.ndarray) -> None:
        import numpy as np

        self.group, self.rate = group, rate
        size = int(group.max()) + 1 if len(group) else 0
        self.count = np.bincount(group[valid], minlength=size)
        self.total = np.bincount(group[valid], weights=rate[valid], minlength=size)
        self.squares = np.bincount(group[valid], weights=rate[valid] ** 2, minlength=size)

    def others(self, k: int) -> int:
        return int(self.count[self.group[k]]) - 1

    def mean_sd(self, k: int) -> tuple[float, float]:
        g, r, m = self.group[k], float(self.rate[k]), self.others(k)
        mean = (self.total[g] - r) / m
        var = max((self.squares[g] - r * r) / m - mean * mean, 0.0) * m / max(m - 1, 1)
        return float(mean), float(var**0.5)
