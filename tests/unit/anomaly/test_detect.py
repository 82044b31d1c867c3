"""All detectors together: recall on the injected set, false alarms on a clean org, merging, dedupe."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from rollcall.anomaly.detect import DETECTORS, detect
from rollcall.anomaly.findings import Finding, event_finding, merge
from rollcall.services.scanning import decide
from rollcall.store.anomalies import Anomaly, Mark
from testkit.scan_inputs import from_history
from testkit.synthetic import SyntheticHistory
from tests.unit.anomaly.support import make_settings


def test_every_injected_anomaly_is_found_with_its_type_and_subject(injected_org: SyntheticHistory) -> None:
    detection = detect(from_history(injected_org), make_settings())
    found = {f.key for f in detection.findings}
    missed = [(a.type, a.subject) for a in injected_org.anomalies if (a.type, a.subject) not in found]
    # model drift needs a model: its detector says so instead of guessing
    assert missed == [("model_drift", "model:attendance")]
    assert detection.skipped == {"model_drift": "no active model"}
    assert set(detection.timings_ms) == {"frame", *(d.__name__ for d in DETECTORS)}


def test_a_clean_org_raises_at_most_one_alarm_per_100_students(clean_org: SyntheticHistory) -> None:
    detection = detect(from_history(clean_org), make_settings())
    assert len(detection.findings) <= len(clean_org.students) / 100, Counter(
        f.type for f in detection.findings
    )


def test_findings_about_one_subject_merge_into_one() -> None:
    a = event_finding(
        "proxy_attendance", "student:s1", "medium", "a face matched two", {"variant": "x"}, "photo:1"
    )
    b = event_finding(
        "proxy_attendance", "student:s1", "high", "two places at once", {"variant": "y"}, "overlap:1"
    )
    c = event_finding("proxy_attendance", "student:s2", "medium", "other", {"variant": "x"}, "photo:2")
    merged = {f.subject: f for f in merge([a, b, c])}
    assert merged["student:s2"] == c
    one = merged["student:s1"]
    assert (one.severity, one.summary) == ("high", "two places at once (and 1 more)")
    assert [e["variant"] for e in one.evidence["events"]] == ["y", "x"]
    assert one.occurrences == ("overlap:1", "photo:1")


NOW = datetime(2026, 4, 1, 12, tzinfo=UTC)
DAY = timedelta(hours=24)
DROP = Finding("attendance_drop", "student:s1", "high", "dropped", {})
COLLAPSE = event_finding("session_collapse", "session:x1", "high", "collapsed", {}, "x1")


def _mark(ago: timedelta, occurrences: tuple[str, ...] = ()) -> Mark:
    seen = NOW - ago
    return Mark("a-1", seen, frozenset(occurrences), seen.isoformat())


def _anomaly(status: str) -> Anomaly:
    return Anomaly("a-1", "attendance_drop", "high", "student:s1", "dropped", {}, [], status, "t", "t")


def test_the_dedupe_rule() -> None:
    def action(finding: Finding, mark: Mark | None, current: Anomaly | None) -> str:
        return decide(finding, mark, current, NOW, DAY).action

    # New: raised. Within 24 hours of the last raise or refresh: not raised again, whatever its status
    assert action(DROP, None, None) == "raise"
    assert action(DROP, _mark(timedelta(hours=23)), _anomaly("resolved")) == "suppress"
    # After 24 hours: an open or acknowledged anomaly is refreshed, not raised twice
    assert action(DROP, _mark(DAY), _anomaly("open")) == "refresh"
    assert action(DROP, _mark(DAY), _anomaly("acknowledged")) == "refresh"
    # A resolved condition that recurs is raised again; a resolved event is not
    assert action(DROP, _mark(DAY), _anomaly("resolved")) == "raise"
    assert action(COLLAPSE, _mark(DAY, ("x1",)), _anomaly("resolved")) == "suppress"
    assert action(COLLAPSE, _mark(DAY, ("x0",)), _anomaly("resolved")) == "raise"
    # A mark whose anomaly is gone (a scan cut short between the two writes): raised
    assert action(DROP, _mark(DAY), None) == "raise"
