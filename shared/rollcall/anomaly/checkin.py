"""Unusual check-ins, each an event of the last ``anomaly_checkin_lookback_days``:

- ``arrival``: an arrival far outside the student's usual window. The usual window is the p10-p90
  of the student's known arrivals before the lookback (at least ``anomaly_checkin_min_history`` of
  them); "far" is more than ``anomaly_checkin_margin_minutes`` beyond it, or more than the
  window's own width when that is larger (an erratic student has a wide window and a wide margin).
  When two or more, and more than ``anomaly_checkin_session_share``, of a session's arrivals are
  unusual, the photo was taken late, not the students: none of that session is reported.
  Severity low; medium when the arrival is an hour or more outside the usual window.
- ``outside_session_window``: a record written from a photo (source ``face``) more than
  ``anomaly_checkin_grace_minutes`` before its session started or after it ended: a record made
  when its class was not in session. Severity medium. When two or more, and more than
  ``anomaly_checkin_session_share``, of the students a session's photos showed were written
  outside its window, the whole photo was marked late: one low finding about the session instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rollcall.anomaly.attendance import stamp
from rollcall.anomaly.findings import UNUSUAL_CHECKIN, Finding, at_least, event_finding, rounded
from rollcall.anomaly.frame import NO_TIME, UNCERTAIN
from rollcall.anomaly.inputs import Context

if TYPE_CHECKING:
    import numpy as np

MEDIUM_MINUTES = 60


def group_quantiles(
    group: np.ndarray, values: np.ndarray, n_groups: int, qs: tuple[float, ...]
) -> np.ndarray:
    """Per group, the quantiles ``qs`` of its values (linear interpolation): n_groups × len(qs), NaN
    for groups without values."""
    import numpy as np

    order = np.lexsort((values, group))
    v, g = values[order], group[order]
    counts = np.bincount(g, minlength=n_groups)
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    out = np.full((n_groups, len(qs)), np.nan)
    has = counts > 0
    for j, q in enumerate(qs):
        pos = q * (counts[has] - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, counts[has] - 1)
        frac = pos - lo
        base = first[has]
        out[has, j] = v[base + lo] * (1 - frac) + v[base + hi] * frac
    return out


def _whole_session(flagged: np.ndarray, seen: np.ndarray, n_sessions: int, share: float) -> np.ndarray:
    """Per session: were at least two and more than ``share`` of the students it saw flagged (the
    photo, not the students)?"""
    import numpy as np

    count = np.bincount(flagged, minlength=n_sessions)
    return (count >= 2) & (count > share * np.bincount(seen, minlength=n_sessions))


def unusual_arrivals(c: Context) -> list[Finding]:
    import numpy as np

    s, f = c.settings, c.frame
    since = c.since(s.anomaly_checkin_lookback_days)
    start = f.start
    known = ~np.isnan(f.arrival)
    past = known & (start < since)
    n_students = len(f.student_ids)
    history = np.bincount(f.student[past], minlength=n_students)
    p10, p90 = group_quantiles(f.student[past], f.arrival[past], n_students, (0.1, 0.9)).T
    margin = np.maximum(s.anomaly_checkin_margin_minutes, p90 - p10)
    recent = np.flatnonzero(known & (start >= since) & (start < c.now))
    st = f.student[recent]
    minutes = f.arrival[recent]
    judged = history[st] >= s.anomaly_checkin_min_history
    late = minutes - (p90[st] + margin[st])
    early = (p10[st] - margin[st]) - minutes
    unusual = judged & ((late > 0) | (early > 0))
    # A session where many arrive "late" had its photo taken late: no student is reported.
    sessions = f.session[recent]
    late_photo = _whole_session(
        sessions[unusual], sessions, len(f.session_ids), s.anomaly_checkin_session_share
    )
    unusual &= ~late_photo[sessions]
    out = []
    for j in np.flatnonzero(unusual):
        row, i = recent[j], st[j]
        sid, session_id = f.student_ids[i], f.session_ids[f.session[row]]
        outside = float(max(minutes[j] - p90[i], p10[i] - minutes[j]))
        event = {
            "variant": "arrival",
            "session_id": session_id,
            "starts_at": stamp(start[row]),
            "arrival_minutes": rounded(minutes[j], 1),
            "usual_p10": rounded(p10[i], 1),
            "usual_p90": rounded(p90[i], 1),
            "usual_arrivals": int(history[i]),
            "minutes_outside_usual": rounded(outside, 1),
        }
        when = "after" if minutes[j] >= 0 else "before"
        summary = (
            f"{sid} arrived {abs(minutes[j]):.0f} minutes {when} the start of {session_id}; "
            f"usually between {p10[i]:+.0f} and {p90[i]:+.0f} minutes"
        )
        severity = at_least("low", (outside >= MEDIUM_MINUTES, "medium"))
        out.append(
            event_finding(
                UNUSUAL_CHECKIN, f"student:{sid}", severity, summary, event, f"arrival:{session_id}"
            )
        )
    return out


def outside_session_window(c: Context) -> list[Finding]:
    import numpy as np

    s, f = c.settings, c.frame
    since = c.since(s.anomaly_checkin_lookback_days)
    grace = int(s.anomaly_checkin_grace_minutes * 60)
    start, end = f.start, f.end
    rows = f.face & (f.marked != NO_TIME) & (start >= since) & (start < c.now)
    outside = rows & ((f.marked < start - grace) | (f.marked > end + grace))
    seen = f.attended | (f.status == UNCERTAIN)  # what a photo marks
    late_photo = _whole_session(
        f.session[outside], f.session[seen], len(f.session_ids), s.anomaly_checkin_session_share
    )
    out = [
        _late_photo(c, k, np.flatnonzero(outside & (f.session == k)))
        for k in np.flatnonzero(late_photo).tolist()
    ]
    for row in np.flatnonzero(outside & ~late_photo[f.session]).tolist():
        sid = f.student_ids[f.student[row]]
        event, summary = _written_outside(c, row)
        summary = f"{sid}'s record for {summary}"
        key = f"record:{event['session_id']}"
        out.append(event_finding(UNUSUAL_CHECKIN, f"student:{sid}", "medium", summary, event, key))
    return out


def _written_outside(c: Context, row: int) -> tuple[dict, str]:
    """The event of a record written outside its session's window, and the end of its summary."""
    f = c.frame
    session_id = f.session_ids[f.session[row]]
    start, end, marked = int(f.start[row]), int(f.end[row]), int(f.marked[row])
    after = marked > end
    minutes = (marked - end) // 60 if after else (start - marked) // 60
    event = {
        "variant": "outside_session_window",
        "session_id": session_id,
        "starts_at": stamp(start),
        "ends_at": stamp(end),
        "marked_at": stamp(marked),
        "minutes_outside": minutes,
        "marked_by": f.records[row].marked_by,
    }
    when = "after the session ended" if after else "before it started"
    return event, f"{session_id} was written from a photo at {event['marked_at']}, {minutes} minutes {when}"


def _late_photo(c: Context, session: int, rows: np.ndarray) -> Finding:
    """Most of a session's face records written outside its window: one late photo, not N students."""
    event, summary = _written_outside(c, int(rows[0]))
    event["records"] = len(rows)
    session_id = event["session_id"]
    summary = f"{len(rows)} records of {summary.replace(' was ', ' were ', 1)}"
    return event_finding(
        UNUSUAL_CHECKIN, f"session:{session_id}", "low", summary, event, f"photo:{session_id}"
    )
