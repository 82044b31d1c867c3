"""Proxy attendance: someone else answering for a student. Three signals, each an event:

- ``overlap``: the student attended two sessions that overlap in time at different locations
  (sessions without a location are not compared). Severity high: one of the two is not them.
- ``double_match``: one face in a classroom photo was within the confident threshold of two
  different enrolled students (marking events' ``within_confident``). Severity medium: a proxy, a
  twin, or an enrolment photo too poor to tell two students apart.
- ``repeated_corrections``: the student's face-based absences (the photo did not show them) were
  corrected to present at least ``anomaly_proxy_min_corrections`` times in
  ``anomaly_proxy_corrections_days``. Severity medium; high at twice that count.

The subject is the student marked present (for a double match: the student the face was given to).
"""

from __future__ import annotations

from collections import Counter, defaultdict

from rollcall.anomaly.attendance import stamp
from rollcall.anomaly.findings import PROXY_ATTENDANCE, Finding, at_least, event_finding
from rollcall.anomaly.inputs import Context
from rollcall.domain import iso

FACE_BASED = frozenset({"roster", "face"})  # an absence written by photo marking
ATTENDED = frozenset({"present", "late"})


def overlapping_sessions(c: Context) -> list[Finding]:
    import numpy as np

    f = c.frame
    since = c.since(c.settings.anomaly_proxy_lookback_days)
    start, end = f.start, f.end
    location = f.session_location[f.session]
    rows = np.flatnonzero(f.attended & (start >= since) & (start < c.now) & (location >= 0))
    rows = rows[np.lexsort((start[rows], f.student[rows]))]  # by student, then start
    student, t0, t1 = f.student[rows], start[rows], end[rows]
    # Per student in start order: the earlier record that ends last (the one a later start may overlap).
    key = student * (1 << 33) + t1
    running = np.maximum.accumulate(key) if len(key) else key
    holder = np.maximum.accumulate(np.where(key == running, np.arange(len(key)), 0)) if len(key) else key
    out = []
    for j in np.flatnonzero(student[1:] == student[:-1]) + 1:
        i = holder[j - 1]
        if student[i] != student[j] or t0[j] >= t1[i]:
            continue
        a, b = rows[i], rows[j]
        if location[a] == location[b]:
            continue
        out.append(_overlap(c, a, b))
    return out


def _overlap(c: Context, a: int, b: int) -> Finding:
    f = c.frame
    sid = f.student_ids[f.student[a]]
    sessions = []
    for row in (a, b):
        k = f.session[row]
        record = f.records[row]
        sessions.append(
            {
                "session_id": f.session_ids[k],
                "class_id": f.class_ids[f.session_class[k]],
                "location": f.location_of(k),
                "starts_at": stamp(f.session_start[k]),
                "ends_at": stamp(f.session_end[k]),
                "source": record.source.value,
                "marked_by": record.marked_by,
            }
        )
    minutes = (min(f.end[a], f.end[b]) - max(f.start[a], f.start[b])) // 60
    event = {"variant": "overlap", "sessions": sessions, "overlap_minutes": int(minutes)}
    first, second = sessions
    summary = (
        f"{sid} was marked present in {first['session_id']} ({first['location']}) and in "
        f"{second['session_id']} ({second['location']}), which overlap by {int(minutes)} minutes"
    )
    key = "overlap:" + "|".join(sorted(s["session_id"] for s in sessions))
    return event_finding(PROXY_ATTENDANCE, f"student:{sid}", "high", summary, event, key)


def double_matches(c: Context) -> list[Finding]:
    since, until = c.inputs.now.timestamp() - c.settings.anomaly_proxy_lookback_days * 86_400, c.now
    out = []
    for event in c.inputs.marking_events:
        if not since <= event["marked_at_time"].timestamp() <= until:
            continue
        for index, face in enumerate(event.get("faces") or []):
            close = sorted(set(face.get("within_confident") or []))
            if len(close) < 2:
                continue
            sid = face.get("student_id") or close[0]
            detail = {
                "variant": "double_match",
                "session_id": event["session_id"],
                "class_id": event.get("class_id"),
                "photo_hash": event["photo_hash"],
                "marked_at": iso(event["marked_at_time"]),
                "face": index,
                "students_within_confident": close,
                "distance": face.get("distance"),
            }
            others = ", ".join(s for s in close if s != sid)
            summary = (
                f"a face in a photo of {event['session_id']} matched {sid} and also {others} "
                "within the confident threshold"
            )
            key = f"photo:{event['photo_hash']}:{index}"
            out.append(event_finding(PROXY_ATTENDANCE, f"student:{sid}", "medium", summary, detail, key))
    return out


def repeated_corrections(c: Context) -> list[Finding]:
    s = c.settings
    since = c.inputs.now.timestamp() - s.anomaly_proxy_corrections_days * 86_400
    by_student = defaultdict(list)
    for x in c.inputs.corrections:
        if (
            x.from_status == "absent"
            and x.from_source in FACE_BASED
            and x.to_status in ATTENDED
            and since <= x.at.timestamp() <= c.now
        ):
            by_student[x.student_id].append(x)
    out = []
    for sid, found in sorted(by_student.items()):
        if len(found) < s.anomaly_proxy_min_corrections:
            continue
        found.sort(key=lambda x: x.at)
        actors = Counter(x.actor for x in found)
        event = {
            "variant": "repeated_corrections",
            "corrections": len(found),
            "session_ids": [x.session_id for x in found],
            "corrected_at": [iso(x.at) for x in found],
            "corrected_by": dict(actors),
        }
        summary = (
            f"{sid}'s face-based absences were corrected to present {len(found)} times in "
            f"{s.anomaly_proxy_corrections_days} days (by {', '.join(sorted(actors))})"
        )
        severity = at_least("medium", (len(found) >= 2 * s.anomaly_proxy_min_corrections, "high"))
        keys = [f"correction:{x.session_id}" for x in found]
        out.append(event_finding(PROXY_ATTENDANCE, f"student:{sid}", severity, summary, event, *keys))
    return out
