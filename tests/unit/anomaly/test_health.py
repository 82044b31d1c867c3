"""Matching health: the last day of marking against the 30 days before it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from rollcall.anomaly.health import matching_health
from rollcall.anomaly.inputs import Context
from testkit.scan_inputs import from_history
from testkit.synthetic import SyntheticHistory
from tests.unit.anomaly.support import NOW, context, make_settings


def test_the_injected_bad_day_is_found_and_a_clean_org_is_healthy(
    injected_org: SyntheticHistory, clean_org: SyntheticHistory
) -> None:
    (truth,) = [a for a in injected_org.anomalies if a.type == "matching_health"]
    (found,) = matching_health(Context(from_history(injected_org), make_settings()))
    assert found.key == (truth.type, truth.subject)
    assert found.severity == "high"
    assert found.evidence["events"][0]["worst_classes"]
    assert matching_health(Context(from_history(clean_org), make_settings())) == []


def _event(at: datetime, faces: int, bad: int, class_id: str = "c1") -> dict[str, Any]:
    return {
        "session_id": f"{class_id}-{at:%Y%m%d%H}",
        "class_id": class_id,
        "photo_hash": f"{at:%Y%m%d%H}",
        "marked_at_time": at,
        "counts": {"faces": faces, "present": faces - bad, "uncertain": bad - bad // 2, "unknown": bad // 2},
    }


def _days(
    bad_today: int, faces_today: int = 100, latest: datetime = NOW - timedelta(hours=14)
) -> list[dict[str, Any]]:
    """Thirty usual days at 3 % uncertain or unknown, then a day with ``bad_today`` of ``faces_today``."""
    usual = [_event(latest - timedelta(days=d, hours=h), 100, 3) for d in range(1, 31) for h in (0, 4)]
    return [*usual, _event(latest, faces_today, bad_today)]


def test_the_last_day_needs_twice_the_usual_share() -> None:
    # Given a day at 6 % against a usual 3 % (exactly twice)
    (found,) = matching_health(context([], events=_days(6)))
    assert (found.subject, found.severity) == ("org:org1", "medium")
    evidence = found.evidence["events"][0]
    assert (evidence["faces"], evidence["share"], evidence["usual_share"], evidence["ratio"]) == (
        100,
        0.06,
        0.03,
        2.0,
    )
    # Given 5 %, Then it is healthy enough
    assert matching_health(context([], events=_days(5))) == []
    # Given 13 % (over four times the usual), high; 60 %, critical
    assert matching_health(context([], events=_days(13)))[0].severity == "high"
    assert matching_health(context([], events=_days(60)))[0].severity == "critical"


def test_matching_health_needs_volume_and_recent_marking() -> None:
    assert matching_health(context([], events=_days(20, faces_today=40))) == []  # 50 % of 40 faces
    stale = _days(30, latest=NOW - timedelta(days=4))
    assert matching_health(context([], events=stale)) == []
    # The same stale day is judged by a scan within three days of it
    assert matching_health(context([], events=stale, now=NOW - timedelta(days=2)))


def test_the_last_day_is_the_day_before_the_latest_marking() -> None:
    # Given a bad Friday and a scan on the Monday morning after it (nothing marked since)
    friday = NOW - timedelta(days=3) + timedelta(hours=15)
    (found,) = matching_health(context([], events=_days(20, latest=friday), now=NOW + timedelta(hours=10)))
    assert found.occurrences == (f"day:{friday:%Y-%m-%d}",)
