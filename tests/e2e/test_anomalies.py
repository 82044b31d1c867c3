"""Anomaly scans through the local stack: the schedule scans and alerts, a rescan raises nothing new,
reviews are audit-logged, and an organisation never sees another's anomalies.

A small synthetic organisation (16 students, 6 weeks, anomalies injected) is stored at the stack's
emulator, moved in time so that its history ends now; a second, clean one stands for "another".
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import httpx
import pytest

from rollcall.store.table import OrgRecords
from rollcall_local.api import CONTROL_HEADER
from testkit.seeding import store_history
from testkit.synthetic import SyntheticHistory, generate
from tests.e2e.conftest import LocalStack
from tests.integration.runtime.helpers import wait_for

TABLE = "rollcall-local-records"
SCHEDULE = "AnomalyScanFunctionScanSchedule"
ORG, OTHER = "anomalous", "quiet"


def _ending_now(history: SyntheticHistory) -> SyntheticHistory:
    return history.shifted(datetime.now(UTC) - timedelta(minutes=1) - history.now)


@pytest.fixture(scope="module")
def seeded(stack: LocalStack) -> SyntheticHistory:
    dynamodb = boto3.client("dynamodb", endpoint_url=stack.endpoint, region_name="us-east-1")
    history = _ending_now(generate(ORG, students=16, weeks=6, seed=11))
    store_history(OrgRecords(ORG, TABLE, client=dynamodb), history)
    quiet = _ending_now(generate(OTHER, students=4, weeks=2, seed=5, anomalies=False))
    store_history(OrgRecords(OTHER, TABLE, client=dynamodb), quiet)
    return history


def _fire(stack: LocalStack) -> dict[str, Any]:
    response = httpx.post(
        f"{stack.api_url}/_local/schedules/{SCHEDULE}/fire", headers={CONTROL_HEADER: "1"}, timeout=330
    )
    answer = response.json()
    assert answer["status"] == "ok", answer
    return dict(answer["response"])


def _alerts(stack: LocalStack) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", endpoint_url=stack.endpoint, region_name="us-east-1")
    url = sqs.get_queue_url(QueueName="rollcall-local-alerts")["QueueUrl"]
    out = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        out += [json.loads(m["Body"]) for m in batch]
        for m in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return out


def _listed(stack: LocalStack, org: str, **params: str) -> list[dict[str, Any]]:
    response = stack.client("teacher", org=org).get("/v1/anomalies", params={"limit": "200", **params})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def test_a_fired_schedule_scans_and_alerts_and_a_rescan_raises_nothing(
    stack: LocalStack, seeded: SyntheticHistory
) -> None:
    # When the 6-hourly schedule fires
    first = _fire(stack)
    # Then both organisations were scanned and the injected anomalies raised (drift: no model yet)
    assert first["organisations"] == 2
    listed = _listed(stack, ORG)
    truth = {(a.type, a.subject) for a in seeded.anomalies if a.type != "model_drift"}
    assert truth <= {(a["type"], a["subject"]) for a in listed}
    assert first["raised"] == len(listed)
    # And each high or critical one is one message on the alert queue
    alerts = _alerts(stack)
    alerted = {a["anomaly_id"] for a in listed if a["severity"] in ("high", "critical")}
    assert alerted
    assert len(alerts) == first["alerts"] == len(alerted)
    assert {m["alert_id"] for m in alerts} == alerted
    assert {m["org"] for m in alerts} == {ORG}

    # When it fires again (within 24 hours), Then nothing new is raised or alerted
    second = _fire(stack)
    assert (second["raised"], second["alerts"]) == (0, 0)
    assert _alerts(stack) == []
    assert len(_listed(stack, ORG)) == len(listed)


def test_an_on_demand_scan_is_a_job_whose_result_says_what_it_found(
    stack: LocalStack, seeded: SyntheticHistory
) -> None:
    # Given the schedule's scan of a moment ago, When a teacher asks for a scan now
    teacher = stack.client("teacher", org=ORG)
    response = teacher.post("/v1/anomalies/scan")
    # Then it is a job, queued
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]

    def done() -> dict[str, Any] | None:
        job = teacher.get(f"/v1/jobs/{job_id}").json()
        return job if job["status"] in ("succeeded", "failed") else None

    job = wait_for(done, timeout=300, interval=0.5, what=f"scan job {job_id}")
    # And its result says what was found, and that none of it is new
    assert (job["kind"], job["status"], job["attempts"]) == ("anomaly_scan", "succeeded", 1), job
    body = job["result"]
    assert body["org"] == ORG
    assert (body["raised"], body["raised_ids"]) == (0, [])
    assert body["read"]["attendance_records"] == len(seeded.records)
    assert sum(t["suppressed"] for t in body["by_type"].values()) == body["suppressed"] > 0
    assert body["skipped"] == {"model_drift": "no active model"}
    # A student may not scan
    assert stack.client("student", org=ORG, sub="s00001").post("/v1/anomalies/scan").status_code == 403


def test_reviewing_an_anomaly_is_audit_logged(stack: LocalStack, seeded: SyntheticHistory) -> None:
    officer = stack.client("teacher", org=ORG, sub="officer-kim")
    (drop,) = _listed(stack, ORG, type="attendance_drop")
    # When it is acknowledged with a note
    answer = officer.patch(
        f"/v1/anomalies/{drop['anomaly_id']}", json={"status": "acknowledged", "note": "calling"}
    )
    # Then it is acknowledged by whom, when, with the note; the listing by status agrees
    assert answer.status_code == 200, answer.text
    assert (answer.json()["status"], answer.json()["status_changed_by"], answer.json()["note"]) == (
        "acknowledged",
        "officer-kim",
        "calling",
    )
    assert [a["anomaly_id"] for a in _listed(stack, ORG, status="acknowledged")] == [drop["anomaly_id"]]
    assert officer.get(f"/v1/anomalies/{drop['anomaly_id']}").json()["status"] == "acknowledged"
    # And the audit log has who and when
    dynamodb = boto3.client("dynamodb", endpoint_url=stack.endpoint, region_name="us-east-1")
    audit = dynamodb.query(
        TableName=TABLE,
        IndexName="gsi1",
        KeyConditionExpression="gsi1pk = :s",
        ExpressionAttributeValues={":s": {"S": f"ORG#{ORG}#SUBJECT#anomaly:{drop['anomaly_id']}"}},
    )["Items"]
    assert [(i["actor"]["S"], i["action"]["S"], i["details"]["M"]["to"]["S"]) for i in audit] == [
        ("officer-kim", "anomaly.reviewed", "acknowledged")
    ]
    # An illegal transition is refused; the summary counts it as acknowledged
    again = officer.patch(f"/v1/anomalies/{drop['anomaly_id']}", json={"status": "acknowledged"})
    assert (again.status_code, again.json()["code"]) == (409, "INVALID_TRANSITION")
    summary = officer.get("/v1/anomalies/summary").json()
    assert summary["acknowledged"]["by_type"] == {"attendance_drop": {drop["severity"]: 1}}


def test_an_organisation_never_sees_another_s_anomalies(stack: LocalStack, seeded: SyntheticHistory) -> None:
    theirs = _listed(stack, ORG)
    other = stack.client("admin", org=OTHER)
    assert _listed(stack, OTHER) == []
    some = theirs[0]["anomaly_id"]
    assert other.get(f"/v1/anomalies/{some}").json()["code"] == "ANOMALY_NOT_FOUND"
    refused = other.patch(f"/v1/anomalies/{some}", json={"status": "resolved"})
    assert (refused.status_code, refused.json()["code"]) == (404, "ANOMALY_NOT_FOUND")
    assert other.get("/v1/anomalies/summary").json()["open"]["total"] == 0
    assert stack.client("teacher", org=ORG).get(f"/v1/anomalies/{some}").json()["status"] != "resolved"
