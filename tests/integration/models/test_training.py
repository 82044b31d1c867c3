"""Training jobs end to end on moto: train, register, activate, archive, decide, refuse, alert."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rollcall.domain import parse_time
from rollcall.ml import artifact
from rollcall.platform.auth import Principal, Role
from rollcall.platform.errors import InsufficientData
from rollcall.services.training import IF_NEEDED, JobMessage, remove_expired_predictions, weekly_retrain
from rollcall.store.attendance import week_slices
from rollcall.store.audit import AuditLog
from rollcall.store.job_log import JobRepo
from rollcall.store.model_versions import report_drift
from rollcall.store.prediction_log import PredictionRepo
from rollcall.store.table import OrgDirectory
from testkit.synthetic import generate
from tests.integration.models.conftest import NOW, Outbox, Stores, recent_history, store
from tests.integration.models.test_prediction_store import prediction
from tests.integration.models.test_registry_store import version

ADMIN = Principal("root", "train-a", Role.ADMIN)


@pytest.fixture(scope="module")
def first(stores: Stores) -> dict[str, Any]:
    """Organisation train-a, stored and trained once (by request, as POST train does)."""
    store(stores.records("train-a"), recent_history("train-a"))
    outbox = Outbox()
    trainer = stores.trainer("train-a", outbox)
    job = trainer.request(ADMIN, "attendance")
    (message,) = outbox.messages
    done = trainer.run(JobMessage.parse(message, "m-1"))
    return {"job": job, "done": done, "message": message}


def test_a_job_trains_registers_and_activates_the_first_version(
    stores: Stores, first: dict[str, Any]
) -> None:
    done = first["done"]
    assert (done.status, done.attempts, done.job_id) == ("succeeded", 1, first["job"].job_id)
    assert (done.result["version"], done.result["activated"]) == ("v0001", True)

    # The window's read was counted on the job, slice by slice, to its end
    window = done.result["window"]
    slices = len(week_slices(parse_time(window["from"]), parse_time(window["until"])))
    assert done.counts == {"done": slices, "total": slices, "unit": "week slices"} and slices > 50

    # The artifact in S3 is what the registry says, and carries the drift reference
    registry = stores.registry("train-a")
    entry = registry.require("attendance", "v0001")
    prefix = "models/attendance/train-a/v0001/"
    model_bytes = stores.artifacts().get(prefix + "model.npz")
    assert artifact.sha256(model_bytes) == entry.sha256 == done.result["sha256"]
    metadata = json.loads(stores.artifacts().get(prefix + "metadata.json"))
    assert metadata == entry.metadata
    assert len(metadata["drift_reference"]["edges"]) == len(metadata["features"])
    assert (entry.job_id, entry.created_by, entry.parent_version) == (done.job_id, "root", None)
    assert set(entry.artifact["files"]) == {"model.npz", "metadata.json"}

    # The state counts the usable data; the audit log has the registration and the activation
    state = registry.state("attendance")
    assert (
        state.active == "v0001"
        and state.data_stats["usable_records"] == done.result["counts"]["usable_records"]
    )
    actions = sorted(e.action for e in AuditLog(stores.records("train-a")).for_subject("model:attendance"))
    assert actions == ["model.activated", "model.registered"]


def test_a_redelivered_message_trains_nothing(stores: Stores, first: dict[str, Any]) -> None:
    trainer = stores.trainer("train-a", Outbox())
    before = [v.version for v in stores.registry("train-a").versions("attendance")]

    again = trainer.run(JobMessage.parse(first["message"], "m-1"))

    assert (again.status, again.attempts) == ("succeeded", 1)
    assert [v.version for v in stores.registry("train-a").versions("attendance")] == before


def test_the_weekly_check_skips_a_fresh_model_and_records_why(stores: Stores, first: dict[str, Any]) -> None:
    message = JobMessage("train-a", "job-weekly-1", mode=IF_NEEDED, reason="weekly", requested_by="schedule")
    done = stores.trainer("train-a", Outbox()).run(message)

    assert done.status == "succeeded" and done.result["trained"] is False
    assert "no drift reported" in done.result["reason"]
    check = stores.registry("train-a").state("attendance").last_retrain_check
    assert (check["retrain"], check["job_id"]) == (False, "job-weekly-1")


def test_drift_reported_by_the_anomaly_scan_makes_the_weekly_check_train(
    stores: Stores, first: dict[str, Any]
) -> None:
    report_drift(
        "train-a",
        "attendance",
        evidence={"psi": {"hour": 0.5}},
        at=datetime.now(UTC),
        table=stores.registry_table,
        client=stores.aws.client("dynamodb"),
    )
    message = JobMessage("train-a", "job-weekly-2", mode=IF_NEEDED, reason="weekly", requested_by="schedule")
    done = stores.trainer("train-a", Outbox()).run(message)

    assert done.result["trained"] is True and done.result["version"] == "v0002"
    # The same data gives the same model: it does not beat the active one on the same holdout
    assert done.result["activated"] is False and "does not beat" in done.result["decision"]
    assert done.result["active_on_same_holdout"]["roc_auc"] == done.result["metrics"]["roc_auc"]
    assert not stores.registry("train-a").state("attendance").drift_pending


def test_only_the_newest_five_versions_and_the_active_one_are_kept(
    stores: Stores, first: dict[str, Any]
) -> None:
    registry = stores.registry("train-a")
    for n in range(3, 7):
        registry.register(version(f"v{n:04d}"))

    done = stores.trainer("train-a", Outbox()).run(JobMessage("train-a", "job-archive"))

    assert done.result["version"] == "v0007"
    assert done.result["archived"] == ["v0002"]
    state = registry.state("attendance")
    statuses = {v.version: v.status_given(state) for v in registry.versions("attendance")}
    assert statuses["v0001"] == "active" and statuses["v0002"] == "archived"
    assert stores.artifacts().get("models/attendance/train-a/v0002/model.npz")  # the files are kept


def test_too_little_data_is_refused_at_once_and_fails_a_job_with_the_counts(stores: Stores) -> None:
    history = generate(
        "train-small", students=2, weeks=1, seed=3, start=NOW - timedelta(days=10), anomalies=False
    )
    store(stores.records("train-small"), history)
    trainer = stores.trainer("train-small", Outbox())

    with pytest.raises(InsufficientData) as refused:
        trainer.request(Principal("root", "train-small", Role.ADMIN), "attendance")
    assert refused.value.detail["usable_records"] == len(history.records) < 200

    done = trainer.run(JobMessage("train-small", "job-small"))
    assert (done.status, done.error["code"]) == ("failed", "INSUFFICIENT_DATA")
    assert done.error["detail"]["usable_records"] == len(history.records)
    assert stores.registry("train-small").versions("attendance") == []


def test_a_tampered_active_artifact_is_alerted_and_the_new_version_replaces_it(stores: Stores) -> None:
    store(stores.records("train-b"), recent_history("train-b", students=12, seed=6))
    outbox = Outbox()
    trainer = stores.trainer("train-b", outbox)
    assert trainer.run(JobMessage("train-b", "job-b1")).result["activated"] is True
    stores.artifacts().put("models/attendance/train-b/v0001/", {"model.npz": b"tampered"})

    done = trainer.run(JobMessage("train-b", "job-b2"))

    (alert,) = outbox.alerts
    assert (alert.type, alert.subject, alert.source) == (
        "model_artifact_integrity",
        "model:attendance:v0001",
        "train",
    )
    assert (done.result["version"], done.result["activated"]) == ("v0002", True)
    assert done.result["active_on_same_holdout"] is None


def test_the_weekly_schedule_queues_a_check_per_organisation(stores: Stores, first: dict[str, Any]) -> None:
    outbox = Outbox()
    directory = OrgDirectory(stores.records_table, client=stores.aws.client("dynamodb"))

    queued = weekly_retrain(directory, lambda org: stores.trainer(org, outbox), NOW)["queued"]

    assert set(queued) == set(directory.organisations()) >= {"train-a"}
    assert {m["mode"] for m in outbox.messages} == {IF_NEEDED}
    job = JobRepo(stores.records("train-a")).require(queued["train-a"])
    assert (job.status, job.reason, job.requested_by) == ("queued", "weekly", "schedule")


def test_the_daily_retention_removes_expired_predictions_per_organisation(
    stores: Stores, first: dict[str, Any]
) -> None:
    records = stores.records("train-a")
    PredictionRepo(records).put_many([(prediction("gone", "s00001", 400), {})], retention=timedelta(days=365))
    directory = OrgDirectory(stores.records_table, client=stores.aws.client("dynamodb"))

    removed = remove_expired_predictions(directory, stores.records, NOW, timedelta(days=365))

    assert removed["by_organisation"]["train-a"] == 1 and removed["removed"] >= 1


def test_a_history_of_2016_trains_on_a_window_ending_at_its_latest_record(stores: Stores) -> None:
    # Given an organisation whose whole history is ten years old
    start = datetime(2016, 4, 4, tzinfo=UTC)  # a Monday
    history = generate("train-old", students=20, weeks=6, seed=8, start=start, anomalies=False)
    store(stores.records("train-old"), history)
    latest = max(r.starts_at for r in history.records)
    outbox = Outbox()
    trainer = stores.trainer("train-old", outbox)

    # When training is asked for without a window end
    trainer.request(Principal("root", "train-old", Role.ADMIN), "attendance")
    (message,) = outbox.messages
    done = trainer.run(JobMessage.parse(message, "m-old"))

    # Then the window ends at the latest record and every record of the history is learnt from
    assert (done.status, done.result["activated"]) == ("succeeded", True)
    assert done.result["counts"]["usable_records"] == len(history.records)
    stats = stores.registry("train-old").state("attendance").data_stats
    assert stats["window"]["until"] == latest.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert done.result["window"] == stats["window"]


def test_an_until_in_the_request_ends_the_window_there(stores: Stores) -> None:
    start = datetime(2016, 4, 4, tzinfo=UTC)
    history = generate("train-until", students=20, weeks=6, seed=9, start=start, anomalies=False)
    store(stores.records("train-until"), history)
    admin = Principal("root", "train-until", Role.ADMIN)
    outbox = Outbox()
    trainer = stores.trainer("train-until", outbox)

    # A window that ends before the history begins holds nothing: refused at once, with its end
    with pytest.raises(InsufficientData) as refused:
        trainer.request(admin, "attendance", until=start - timedelta(days=1))
    assert refused.value.detail["usable_records"] == 0
    assert refused.value.detail["window_end"] == "2016-04-03T00:00:00Z"

    # A window that ends after week four learns from the records up to then only
    until = start + timedelta(weeks=4)
    trainer.request(admin, "attendance", until=until)
    (message,) = outbox.messages
    assert message["until"] == "2016-05-02T00:00:00Z"
    done = trainer.run(JobMessage.parse(message, "m-until"))
    assert done.status == "succeeded"
    assert done.result["counts"]["usable_records"] == sum(r.starts_at <= until for r in history.records)


def test_a_version_under_the_useful_minimum_is_refused_and_the_result_says_why(stores: Stores) -> None:
    # Given an organisation with an active version
    store(stores.records("train-floor"), recent_history("train-floor", students=12, seed=12))
    trainer = stores.trainer("train-floor", Outbox())
    assert trainer.run(JobMessage("train-floor", "job-floor-1")).result["activated"] is True

    # When a new version is trained under a floor no model reaches
    strict = replace(trainer, min_useful_auc=0.99)
    done = strict.run(JobMessage("train-floor", "job-floor-2"))

    # Then it is registered, not activated, and the result explains it beside the active score
    activation = done.result["activation"]
    assert (done.status, activation["activated"], activation["min_useful_auc"]) == ("succeeded", False, 0.99)
    assert activation["active_version"] == "v0001"
    assert activation["active_roc_auc"] == done.result["active_on_same_holdout"]["roc_auc"] > 0.5
    assert activation["roc_auc"] == done.result["metrics"]["roc_auc"]
    assert "below the useful minimum 0.99" in activation["reason"]
    assert f"the active version scores {activation['active_roc_auc']:.4f}" in activation["reason"]
    assert stores.registry("train-floor").state("attendance").active == "v0001"
