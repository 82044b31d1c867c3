"""Matching health: are photos still being matched as well as usual?

The share of faces that were ``uncertain`` (between the confident and uncertain thresholds) or
``unknown`` (no enrolled student close enough) over the last day of marking, against the same
share over the ``anomaly_health_baseline_days`` before it. "The last day" is the 24 hours up to
the latest marking (so a scan on Sunday still judges Friday), and nothing is judged when the
latest marking is older than ``anomaly_health_max_idle_days``.

An alarm needs at least ``anomaly_health_min_faces`` faces that day, a share at least
``anomaly_health_ratio`` times the usual one and at least ``anomaly_health_min_share``.
Severity: medium; high at twice the ratio (4x the usual by default); critical when half the
faces or more go unmatched. The evidence names the classes with the worst share that day (a
camera, a room, a badly lit hall).

One finding per organisation and day (subject ``org:<org>``; the day is its occurrence).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from rollcall.anomaly.findings import MATCHING_HEALTH, Finding, at_least, event_finding, pct, rounded
from rollcall.anomaly.inputs import Context
from rollcall.domain import iso

WORST_CLASSES = 3
MIN_CLASS_FACES = 10


def _sums(events: list[dict]) -> tuple[int, int, int]:
    faces = sum(int(e["counts"].get("faces", 0)) for e in events)
    uncertain = sum(int(e["counts"].get("uncertain", 0)) for e in events)
    unknown = sum(int(e["counts"].get("unknown", 0)) for e in events)
    return faces, uncertain, unknown


def matching_health(c: Context) -> list[Finding]:
    s, now = c.settings, c.inputs.now
    events = [e for e in c.inputs.marking_events if e["marked_at_time"] <= now and e.get("counts")]
    if not events:
        return []
    latest = max(e["marked_at_time"] for e in events)
    if latest < now - timedelta(days=s.anomaly_health_max_idle_days):
        return []
    day_start = latest - timedelta(days=1)
    base_start = day_start - timedelta(days=s.anomaly_health_baseline_days)
    day = [e for e in events if e["marked_at_time"] > day_start]
    base = [e for e in events if base_start <= e["marked_at_time"] <= day_start]
    faces, uncertain, unknown = _sums(day)
    base_faces, base_uncertain, base_unknown = _sums(base)
    if faces < s.anomaly_health_min_faces or not base_faces:
        return []
    share = (uncertain + unknown) / faces
    usual = (base_uncertain + base_unknown) / base_faces
    if share < s.anomaly_health_min_share or share < s.anomaly_health_ratio * usual:
        return []
    ratio = share / usual if usual else None
    evidence = {
        "window": {"since": iso(day_start), "until": iso(latest)},
        "photos": len(day),
        "faces": faces,
        "uncertain": uncertain,
        "unknown": unknown,
        "share": rounded(share),
        "usual_share": rounded(usual, 4),
        "ratio": None if ratio is None else rounded(ratio, 2),
        "baseline": {"since": iso(base_start), "photos": len(base), "faces": base_faces},
        "worst_classes": _worst_classes(day),
    }
    times = f"{ratio:.1f}x the usual {pct(usual)}" if ratio is not None else "none usually"
    summary = f"{pct(share)} of {faces} faces in the last day of marking were uncertain or unknown, {times}"
    severity = at_least(
        "medium", (share >= 2 * s.anomaly_health_ratio * usual, "high"), (share >= 0.5, "critical")
    )
    occurrence = f"day:{latest:%Y-%m-%d}"
    return [event_finding(MATCHING_HEALTH, f"org:{c.inputs.org}", severity, summary, evidence, occurrence)]


def _worst_classes(events: list[dict]) -> list[dict]:
    by_class: dict[str, list[dict]] = defaultdict(list)
    for e in events:
        by_class[e.get("class_id") or "?"].append(e)
    rows: list[dict[str, Any]] = []
    for class_id, group in by_class.items():
        faces, uncertain, unknown = _sums(group)
        if faces >= MIN_CLASS_FACES:
            rows.append(
                {"class_id": class_id, "faces": faces, "share": rounded((uncertain + unknown) / faces)}
            )
    rows.sort(key=lambda r: -r["share"])
    return rows[:WORST_CLASSES]
