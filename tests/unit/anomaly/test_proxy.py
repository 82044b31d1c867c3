"""Proxy attendance: overlapping sessions, faces matching two students, repeated corrections."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from rollcall.anomaly.findings import PROXY_ATTENDANCE
from rollcall.anomaly.inputs import Context, Correction
from rollcall.anomaly.proxy import double_matches, overlapping_sessions, repeated_corrections
from rollcall.domain import Source
from testkit.scan_inputs import from_history
from testkit.synthetic import SyntheticHistory
from tests.unit.anomaly.support import DAY, NOW, context, injected, keys, make_settings, record


def test_each_signal_finds_its_injected_variant_and_nothing_on_a_clean_org(
    injected_org: SyntheticHistory, clean_org: SyntheticHistory
) -> None:
    for detector, variant in (
        (overlapping_sessions, "overlap"),
        (double_matches, "double_match"),
        (repeated_corrections, "repeated_corrections"),
    ):
        found = detector(Context(from_history(injected_org), make_settings()))
        assert injected(injected_org, variant) in keys(found), variant
        assert all(f.evidence["events"][0]["variant"] == variant for f in found)
        assert detector(Context(from_history(clean_org), make_settings())) == [], variant


def test_overlap_needs_two_places_at_once() -> None:
    monday = NOW.replace(hour=9) - 7 * DAY
    a = record("s1", monday, class_id="math", location="room-1")
    b = record("s1", monday + timedelta(minutes=30), class_id="art", location="room-2")
    touching = record("s1", monday + timedelta(minutes=50), class_id="bio", location="room-3")
    same_room = record("s1", monday + timedelta(minutes=20), class_id="gym", location="room-1")
    absent = record("s1", monday + timedelta(minutes=10), class_id="chem", location="room-4", attended=False)
    # Given two attended sessions that overlap by 20 minutes in two rooms
    (found,) = overlapping_sessions(context([a, b]))
    # Then it is a high proxy signal naming both sessions
    assert (found.type, found.subject, found.severity) == (PROXY_ATTENDANCE, "student:s1", "high")
    (event,) = found.evidence["events"]
    assert [s["location"] for s in event["sessions"]] == ["room-1", "room-2"]
    assert event["overlap_minutes"] == 20
    # Given sessions that only touch, overlap in the same room, or where the student was absent: nothing
    assert overlapping_sessions(context([a, touching])) == []
    assert overlapping_sessions(context([a, same_room])) == []
    assert overlapping_sessions(context([a, absent])) == []
    # Given a long session overlapping a later one that is not the next: found
    long = record("s1", monday, class_id="long", location="hall", minutes=180)
    later = record("s1", monday + timedelta(minutes=120), class_id="late", location="room-9")
    both = overlapping_sessions(context([long, a, later]))
    sessions = {s["session_id"] for f in both for e in f.evidence["events"] for s in e["sessions"]}
    assert {long.session_id, later.session_id} <= sessions


def _photo(faces: list[dict[str, Any]], when: str = "2026-03-25T09:05:00+00:00") -> dict[str, Any]:
    from datetime import datetime

    return {
        "session_id": "math-1",
        "class_id": "math",
        "photo_hash": "abc123",
        "marked_at_time": datetime.fromisoformat(when),
        "counts": {"faces": len(faces), "present": len(faces), "uncertain": 0, "unknown": 0},
        "faces": faces,
    }


def test_a_face_within_the_confident_threshold_of_two_students_is_a_double_match() -> None:
    face = {"student_id": "s1", "status": "present", "distance": 0.42, "within_confident": ["s2", "s1"]}
    single = {"student_id": "s3", "status": "present", "distance": 0.3, "within_confident": ["s3"]}
    (found,) = double_matches(context([], events=[_photo([single, face])]))
    assert (found.subject, found.severity) == ("student:s1", "medium")
    assert found.evidence["events"][0]["students_within_confident"] == ["s1", "s2"]
    assert found.occurrences == ("photo:abc123:1",)
    # Given the photo older than the lookback, Then nothing
    assert double_matches(context([], events=[_photo([face], "2026-03-01T09:05:00+00:00")])) == []


def _correction(student: str, days_ago: float, **kw: Any) -> Correction:
    values = {"from_status": "absent", "from_source": "roster", "to_status": "present"} | kw
    return Correction(student, f"x-{days_ago}", NOW - timedelta(days=days_ago), "teacher-1", **values)


def test_repeated_corrections_of_face_based_absences_count_from_the_minimum() -> None:
    three = [_correction("s1", d) for d in (1, 5, 9)]
    (found,) = repeated_corrections(context([], corrections=three))
    assert (found.subject, found.severity) == ("student:s1", "medium")
    assert found.evidence["events"][0]["corrections"] == 3
    assert found.evidence["events"][0]["corrected_by"] == {"teacher-1": 3}
    assert len(found.occurrences) == 3
    # Two are not enough; six are high
    assert repeated_corrections(context([], corrections=three[:2])) == []
    six = three + [_correction("s1", d) for d in (11, 13, 15)]
    assert repeated_corrections(context([], corrections=six))[0].severity == "high"
    # Corrections of uncertain or imported records, to absent, or outside the window do not count
    others = [
        _correction("s1", 2, from_status="uncertain", from_source="face"),
        _correction("s1", 3, from_source=Source.IMPORT.value),
        _correction("s1", 4, to_status="absent"),
        _correction("s1", 40),
    ]
    assert repeated_corrections(context([], corrections=three[:2] + others)) == []
