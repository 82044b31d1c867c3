"""The anomaly scan against the store: reads, dedupe, alerts, reviews, listing, isolation, erasure.

A small synthetic organisation (16 students, 6 weeks, every anomaly injected) is stored through the
real repositories on the template's tables (moto), then scanned at times relative to its end.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from rollcall.anomaly.inputs import ActiveModel
from rollcall.platform.auth import Principal, Role
from rollcall.platform.errors import Conflict, InvalidInput
from rollcall.platform.settings import AnomalyScanSettings
from rollcall.services.alerts import send_alert
from rollcall.services.scanning import ScanWiring, list_anomalies, review, scan, summary
from rollcall.services.students import erase_student
from rollcall.store.anomalies import AnomalyRepo
from rollcall.store.attendance import AttendanceRepo
from rollcall.store.audit import AuditLog
from rollcall.store.photos import PhotoStore
from rollcall.store.table import OrgRecords
from rollcall_local.emulator import Aws
from rollcall_local.template import Physical
from testkit.seeding import store_history
from testkit.synthetic import generate
from tests.unit.anomaly.support import make_settings
from tests.unit.anomaly.test_drift import FakeModel

HISTORY = generate("scan-a", students=16, weeks=6, seed=11)
OFFICER = Principal("officer-1", "scan-a", Role.TEACHER)


@dataclass(frozen=True)
class Env:
    aws: Aws
    settings: AnomalyScanSettings
    queue_url: str

    def records(self, org: str) -> OrgRecords:
        return OrgRecords(org, self.settings.records_table, client=self.aws.client("dynamodb"))

    def wiring(self) -> ScanWiring:
        sqs = self.aws.client("sqs")
        return ScanWiring(alert=lambda a: send_alert(a, self.queue_url, client=sqs))

    def drain_alerts(self) -> list[dict[str, Any]]:
        sqs, out = self.aws.client("sqs"), []
        while batch := sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            out += [json.loads(m["Body"]) for m in batch]
            for m in batch:
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
        return out


@pytest.fixture(scope="module")
def env(aws: Aws, physical: Physical) -> Env:
    settings = make_settings(records_table=physical.refs["RecordsTable"])
    return Env(aws, settings, physical.refs["AlertQueue"])


def _seed(env: Env, org: str) -> OrgRecords:
    records = env.records(org)
    store_history(records, HISTORY)
    return records


@pytest.fixture(scope="module")
def scanned(env: Env) -> tuple[OrgRecords, Any]:
    """Organisation scan-b, stored and scanned once at the end of its history."""
    records = _seed(env, "scan-b")
    result = scan(records, HISTORY.now, env.settings, env.wiring())
    env.drain_alerts()
    return records, result


def test_the_window_read_is_the_org_wide_read_projected(scanned: tuple[OrgRecords, Any]) -> None:
    records, _ = scanned
    repo = AttendanceRepo(records)
    since = HISTORY.now - timedelta(days=30, hours=5)
    window = repo.window(since, HISTORY.now, workers=3)
    plain = list(repo.between(since, HISTORY.now))
    assert window == plain  # same records, same (time) order; the projection drops nothing a record has
    assert len(window) > 1000


def test_a_scan_raises_alerts_and_then_raises_nothing_twice(env: Env) -> None:
    records = _seed(env, "scan-a")
    env.drain_alerts()
    # When the organisation is scanned at the end of its history
    first = scan(records, HISTORY.now, env.settings, env.wiring())
    # Then every injected anomaly but drift (no model) is raised, stored and listed
    raised = {(a.type, a.subject) for a in first.raised}
    truth = {(a.type, a.subject) for a in HISTORY.anomalies if a.type != "model_drift"}
    assert truth <= raised
    assert first.skipped == {"model_drift": "no active model"}
    assert first.read["attendance_records"] == len(HISTORY.records)
    page, _ = list_anomalies(records, status="open", type_=None, severity=None, limit=100, cursor=None)
    assert {a.anomaly_id for a in page} == {a.anomaly_id for a in first.raised}
    # And the high and critical ones were alerted, one message each, with the anomaly's id
    alerts = env.drain_alerts()
    alerted = [a for a in first.raised if a.severity in ("high", "critical")]
    assert alerted
    assert sorted(m["alert_id"] for m in alerts) == sorted(a.anomaly_id for a in alerted)
    assert all(m["org"] == "scan-a" and m["source"] == "anomaly-scan" for m in alerts)
    assert all(m["evidence"]["summary"] for m in alerts)

    # When it is scanned again an hour later, Then nothing is raised and nothing alerted
    second = scan(records, HISTORY.now + timedelta(hours=1), env.settings, env.wiring())
    assert (second.raised, second.refreshed, second.alerts_sent) == ([], [], 0)
    assert {(s["type"], s["subject"]) for s in second.suppressed} == raised
    assert env.drain_alerts() == []

    # When the drop is resolved and the collapse acknowledged, and the scan runs a day later
    by_type = {a.type: a for a in first.raised}
    review(
        records,
        OFFICER,
        by_type["attendance_drop"].anomaly_id,
        status="resolved",
        note="called home",
        now=HISTORY.now,
    )
    review(
        records,
        OFFICER,
        by_type["chronic_absence"].anomaly_id,
        status="acknowledged",
        note=None,
        now=HISTORY.now,
    )
    later = scan(records, HISTORY.now + timedelta(hours=25), env.settings, env.wiring())
    # Then the drop, still there, is raised again; the acknowledged chronic absence is refreshed
    assert [a.type for a in later.raised] == ["attendance_drop"]
    assert later.raised[0].anomaly_id != by_type["attendance_drop"].anomaly_id
    refreshed = {a.type: a for a in later.refreshed}
    assert refreshed["chronic_absence"].anomaly_id == by_type["chronic_absence"].anomaly_id
    assert refreshed["chronic_absence"].seen_count == 2
    assert refreshed["chronic_absence"].status == "acknowledged"


def test_listing_filters_pages_and_summarises(scanned: tuple[OrgRecords, Any]) -> None:
    records, result = scanned
    everything = {a.anomaly_id for a in result.raised}

    def walk(**filters: Any) -> list[str]:
        ids: list[str] = []
        cursor = None
        while True:
            page, cursor = list_anomalies(
                records,
                limit=3,
                cursor=cursor,
                **({"status": None, "type_": None, "severity": None} | filters),
            )
            ids += [a.anomaly_id for a in page]
            if cursor is None:
                return ids

    # Pages of three walk every anomaly once, newest first
    ids = walk()
    assert sorted(ids) == sorted(everything)
    assert ids == sorted(ids, reverse=True)
    # Filters by type, severity and status select exactly theirs
    proxies = walk(type_="proxy_attendance")
    assert sorted(proxies) == sorted(a.anomaly_id for a in result.raised if a.type == "proxy_attendance")
    high = walk(severity="high")
    assert sorted(high) == sorted(a.anomaly_id for a in result.raised if a.severity == "high")
    both = sorted(
        (a.anomaly_id for a in result.raised if (a.type, a.severity) == ("proxy_attendance", "high")),
        reverse=True,
    )
    assert both
    assert walk(type_="proxy_attendance", severity="high", status="open") == both
    assert walk(status="resolved") == []
    counts = summary(records)
    assert counts["open"]["total"] == len(everything)
    assert counts["open"]["by_type"]["proxy_attendance"]["high"] == len(both)
    assert counts["acknowledged"] == {"total": 0, "by_type": {}}


@pytest.mark.parametrize("cursor", ["garbage", "zzzz", "20990101T000000Z-zzzzzzzzzz", "0"])
def test_a_cursor_no_page_answered_is_400_not_page_one(scanned: tuple[OrgRecords, Any], cursor: str) -> None:
    records, _ = scanned
    with pytest.raises(InvalidInput) as refused:
        list_anomalies(records, status=None, type_=None, severity=None, limit=3, cursor=cursor)
    assert (refused.value.status, refused.value.code) == (400, "INVALID_CURSOR")


def test_reviews_follow_legal_transitions_and_are_audited(env: Env, scanned: tuple[OrgRecords, Any]) -> None:
    records, result = scanned
    anomaly = result.raised[0]
    who = Principal("officer-2", "scan-b", Role.ADMIN)
    at = [HISTORY.now + timedelta(minutes=m) for m in range(3)]
    acknowledged = review(records, who, anomaly.anomaly_id, status="acknowledged", note="looking", now=at[0])
    assert (acknowledged.status, acknowledged.status_changed_by, acknowledged.note) == (
        "acknowledged",
        "officer-2",
        "looking",
    )
    with pytest.raises(Conflict) as caught:
        review(records, who, anomaly.anomaly_id, status="acknowledged", note=None, now=at[1])
    assert caught.value.code == "INVALID_TRANSITION"
    resolved = review(records, who, anomaly.anomaly_id, status="resolved", note="done", now=at[1])
    with pytest.raises(Conflict):
        review(records, who, anomaly.anomaly_id, status="acknowledged", note=None, now=at[2])
    reopened = review(records, who, anomaly.anomaly_id, status="open", note="again", now=at[2])
    assert (resolved.status, reopened.status) == ("resolved", "open")
    assert reopened.status_changed_at == "2026-02-16T00:02:00Z"
    trail = AuditLog(records).for_subject(f"anomaly:{anomaly.anomaly_id}")
    assert [(e.actor, e.action, e.details["from"], e.details["to"]) for e in trail] == [
        ("officer-2", "anomaly.reviewed", "open", "acknowledged"),
        ("officer-2", "anomaly.reviewed", "acknowledged", "resolved"),
        ("officer-2", "anomaly.reviewed", "resolved", "open"),
    ]


def test_an_organisation_never_sees_another_s_anomalies(env: Env, scanned: tuple[OrgRecords, Any]) -> None:
    _, result = scanned
    other = env.records("scan-z")
    assert list_anomalies(other, status=None, type_=None, severity=None, limit=50, cursor=None) == ([], None)
    assert all(AnomalyRepo(other).get(a.anomaly_id) is None for a in result.raised)
    assert summary(other) == {
        "open": {"total": 0, "by_type": {}},
        "acknowledged": {"total": 0, "by_type": {}},
    }


def test_two_scans_racing_for_a_mark_raise_once(env: Env) -> None:
    repo = AnomalyRepo(env.records("scan-race"))
    claim: Callable[..., bool] = repo.claim
    kwargs = {"anomaly_id": "x", "occurrences": (), "now": HISTORY.now, "previous": None, "ttl_seconds": 3600}
    assert claim("attendance_drop", "student:s1", **kwargs)
    assert not claim("attendance_drop", "student:s1", **kwargs)
    mark = repo.mark("attendance_drop", "student:s1", HISTORY.now)
    assert mark is not None
    assert claim("attendance_drop", "student:s1", **(kwargs | {"previous": mark}))
    assert not claim("attendance_drop", "student:s1", **(kwargs | {"previous": mark}))  # it moved since
    # An expired mark (its TTL passed, not yet deleted) counts as absent
    assert repo.mark("attendance_drop", "student:s1", HISTORY.now + timedelta(hours=2)) is None
    assert claim("attendance_drop", "student:s1", **(kwargs | {"now": HISTORY.now + timedelta(hours=2)}))


def test_drift_is_reported_for_retraining_and_alerted_once_it_becomes_high(
    env: Env, scanned: tuple[OrgRecords, Any]
) -> None:
    records, _ = scanned
    env.drain_alerts()
    reported: list[tuple[str, str, dict[str, Any], datetime]] = []
    model = FakeModel({"hour": 0.3}, 0.88)

    def wiring() -> ScanWiring:
        return replace(
            env.wiring(),
            models=lambda org: ActiveModel("v0003", model),
            report_drift=lambda *args: reported.append(args),
        )

    # Given an active model whose inputs drifted a little: raised (medium), reported, not alerted
    first = scan(records, HISTORY.now + timedelta(hours=25), env.settings, wiring())
    (drift,) = [a for a in first.raised if a.type == "model_drift"]
    assert (drift.subject, drift.severity) == ("model:attendance", "medium")
    assert [(org, kind, ev["drifted_features"], at) for org, kind, ev, at in reported] == [
        ("scan-b", "attendance", {"hour": 0.3}, HISTORY.now + timedelta(hours=25))
    ]
    assert env.drain_alerts() == []
    # When a day later the drift is worse: the open anomaly is refreshed to high, and alerted
    model.psi["hour"] = 0.7
    later = scan(records, HISTORY.now + timedelta(hours=50), env.settings, wiring())
    (worse,) = [a for a in later.refreshed if a.type == "model_drift"]
    assert (worse.anomaly_id, worse.severity, worse.seen_count) == (drift.anomaly_id, "high", 2)
    assert [m["alert_id"] for m in env.drain_alerts()] == [drift.anomaly_id]
    assert len(reported) == 2


def test_erasing_a_student_erases_their_anomalies(
    scanned: tuple[OrgRecords, Any], aws: Aws, physical: Physical
) -> None:
    records, result = scanned
    photos = PhotoStore("scan-b", physical.refs["PhotoBucket"], keep=False, client=aws.client("s3"))
    (drop,) = [a for a in result.raised if a.type == "attendance_drop"]
    student = drop.subject.split(":", 1)[1]
    theirs = [a for a in result.raised if a.subject == drop.subject]
    erased = erase_student(records, Principal("root", "scan-b", Role.ADMIN), student, photos, now=HISTORY.now)
    assert erased["anomalies"] == len(theirs)
    assert erased["anomaly_dedupe"] == len(theirs)
    assert all(AnomalyRepo(records).get(a.anomaly_id) is None for a in theirs)
    others = [a for a in result.raised if a.subject != drop.subject]
    assert all(AnomalyRepo(records).get(a.anomaly_id) is not None for a in others)
