"""Running every detector over one organisation's inputs: the pure half of a scan.

``detect(inputs, settings)`` builds the columns once, runs each detector, merges what several
detectors found about the same (type, subject), and says what each found, what it could not
judge (and why) and how long it took.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from rollcall.anomaly.attendance import attendance_drop, chronic_absence, session_collapse
from rollcall.anomaly.checkin import outside_session_window, unusual_arrivals
from rollcall.anomaly.drift import model_drift
from rollcall.anomaly.findings import Finding, merge
from rollcall.anomaly.health import matching_health
from rollcall.anomaly.inputs import Context, ScanInputs, Skip
from rollcall.anomaly.proxy import double_matches, overlapping_sessions, repeated_corrections
from rollcall.platform.settings import AnomalyScanSettings

Detector = Callable[[Context], list[Finding]]

DETECTORS: tuple[Detector, ...] = (
    attendance_drop,
    chronic_absence,
    session_collapse,
    overlapping_sessions,
    double_matches,
    repeated_corrections,
    unusual_arrivals,
    outside_session_window,
    matching_health,
    model_drift,
)


@dataclass(frozen=True)
class Detection:
    findings: list[Finding]
    found: dict[str, int]  # per detector, findings before merging
    skipped: dict[str, str]  # detector -> why it judged nothing
    timings_ms: dict[str, float]  # "frame" and per detector


def detect(inputs: ScanInputs, settings: AnomalyScanSettings) -> Detection:
    clock = time.perf_counter()
    context = Context(inputs, settings)
    timings = {"frame": (time.perf_counter() - clock) * 1000}
    findings: list[Finding] = []
    found: Counter[str] = Counter()
    skipped: dict[str, str] = {}
    for detector in DETECTORS:
        name = detector.__name__
        clock = time.perf_counter()
        try:
            new = detector(context)
        except Skip as why:
            skipped[name] = str(why)
            new = []
        timings[name] = (time.perf_counter() - clock) * 1000
        found[name] = len(new)
        findings.extend(new)
    return Detection(merge(findings), dict(found), skipped, {k: round(v, 1) for k, v in timings.items()})
