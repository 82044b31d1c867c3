"""What a detector reports: a :class:`Finding`, before the scan de-duplicates and stores it.

A finding names its ``type`` and ``subject`` (``student:<id>``, ``session:<id>``, ``class:<id>``,
``model:<type>`` or ``org:<org>``), a ``severity``, a one-sentence ``summary`` an attendance
officer can read without the numbers, and the numbers behind it (``evidence``: plain ints,
floats, strings and lists, ready to store and to send).

Findings about past *events* (a session, a pair of sessions, a photo, one record) carry the
events' keys in ``occurrences`` and their details in ``evidence["events"]``: several events of
the same (type, subject) found by one scan are merged into one finding (:func:`merge`), and an
event already raised is never raised again. Findings about an ongoing *condition* (a drop, a
chronic absence, drift) have no occurrences: they are raised again once resolved, when they
recur after the dedupe window.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

ReviewStatus = Literal["open", "acknowledged", "resolved"]  # where a person's review has taken it
REVIEW_STATUSES: tuple[ReviewStatus, ...] = get_args(ReviewStatus)
OPEN, ACKNOWLEDGED, RESOLVED = REVIEW_STATUSES
Severity = Literal["low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = get_args(Severity)
ALERTED: frozenset[str] = frozenset({"high", "critical"})

AnomalyType = Literal[
    "attendance_drop",
    "chronic_absence",
    "session_collapse",
    "proxy_attendance",
    "unusual_checkin",
    "matching_health",
    "model_drift",
]
TYPES: tuple[AnomalyType, ...] = get_args(AnomalyType)
(
    ATTENDANCE_DROP,
    CHRONIC_ABSENCE,
    SESSION_COLLAPSE,
    PROXY_ATTENDANCE,
    UNUSUAL_CHECKIN,
    MATCHING_HEALTH,
    MODEL_DRIFT,
) = TYPES
SUBJECT_KINDS = ("student", "session", "class", "model", "org")


@dataclass(frozen=True)
class Finding:
    type: str
    subject: str
    severity: Severity
    summary: str
    evidence: dict[str, Any]
    occurrences: tuple[str, ...] = field(default=())

    @property
    def key(self) -> tuple[str, str]:
        return self.type, self.subject

    @property
    def subject_kind(self) -> str:
        return self.subject.split(":", 1)[0]

    @property
    def subject_id(self) -> str:
        return self.subject.split(":", 1)[1]


def rank(severity: str) -> int:
    return SEVERITIES.index(severity)


def at_least(severity: Severity, *raised: tuple[bool, Severity]) -> Severity:
    """``severity`` raised to the highest of the ``(condition, severity)`` pairs that hold."""
    for holds, level in raised:
        if holds and rank(level) > rank(severity):
            severity = level
    return severity


def event_finding(
    type_: str, subject: str, severity: Severity, summary: str, event: dict[str, Any], *occurrences: str
) -> Finding:
    """A finding about one event, known by its ``occurrences`` keys (see the module docstring)."""
    return Finding(type_, subject, severity, summary, {"events": [event]}, occurrences)


def merge(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per (type, subject): events concatenated, the highest severity, its summary."""
    groups: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        groups.setdefault(f.key, []).append(f)
    out = []
    for group in groups.values():
        if len(group) == 1:
            out.append(group[0])
            continue
        group.sort(key=lambda f: -rank(f.severity))
        top = group[0]
        events = [e for f in group for e in f.evidence.get("events", [f.evidence])]
        occurrences = tuple(sorted({o for f in group for o in f.occurrences}))
        summary = f"{top.summary} (and {len(group) - 1} more)"
        out.append(Finding(top.type, top.subject, top.severity, summary, {"events": events}, occurrences))
    return out


def pct(rate: float) -> str:
    return f"{rate:.0%}"


def rounded(value: float, digits: int = 3) -> float:
    """A plain float for evidence (numpy scalars are not stored as they are)."""
    return round(float(value), digits)
