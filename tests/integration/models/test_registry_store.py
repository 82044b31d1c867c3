"""The registry's items and the artifact store, on the provisioned template (moto)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rollcall.ml import artifact
from rollcall.platform.auth import Principal, Role
from rollcall.platform.errors import ConcurrentUpdate, Conflict, NotFound, WrongOrganisation
from rollcall.services.alerts import Alert
from rollcall.services.registry import RegistryService
from rollcall.store.model_versions import (
    ModelRegistry,
    ModelVersion,
    active_metadata,
    check_model_type,
    report_drift,
)
from tests.integration.models.conftest import NOW, Stores

REFERENCE = {"features": ["rate_overall"], "edges": [[0.1] * 9], "shares": [[0.1] * 10], "window": "w"}


def version(name: str, status: str = "candidate", sha: str = "ab" * 32) -> ModelVersion:
    return ModelVersion(
        model_type="attendance",
        version=name,
        status=status,
        created_at=NOW,
        created_by="root",
        job_id=f"job-{name}",
        sha256=sha,
        artifact={"bucket": "b", "prefix": f"models/attendance/o/{name}/", "files": {}},
        metadata={"version": name, "metrics": {"roc_auc": 0.8, "ece": 0.02}, "drift_reference": REFERENCE},
        trained_records=1000,
        parent_version=None,
        evaluation={"activated": False},
    )


def test_a_version_name_is_taken_once(stores: Stores) -> None:
    registry = stores.registry("reg-names")
    assert registry.register(version("v0001"))
    assert not registry.register(version("v0001", sha="cd" * 32))
    assert registry.require("attendance", "v0001").sha256 == "ab" * 32
    with pytest.raises(NotFound) as missing:
        registry.require("attendance", "v0009")
    assert missing.value.code == "VERSION_NOT_FOUND"


def test_activation_is_one_conditional_write_of_the_state(stores: Stores) -> None:
    registry = stores.registry("reg-activate")
    v1, v2 = version("v0001"), version("v0002", sha="cd" * 32)
    registry.register(v1)
    registry.register(v2)

    # Given v0001 activated when nothing was active
    state = registry.activate("attendance", v1, actor="job:1", at=NOW, only_if_active=None, conditional=True)
    assert (state.active, state.active_sha256, state.activated_by) == ("v0001", "ab" * 32, "job:1")

    # When a job that compared against "nothing active" tries to activate, Then it loses
    with pytest.raises(ConcurrentUpdate):
        registry.activate("attendance", v2, actor="job:2", at=NOW, only_if_active=None, conditional=True)
    with pytest.raises(ConcurrentUpdate):
        registry.activate("attendance", v2, actor="job:2", at=NOW, only_if_active="v0000", conditional=True)

    # And a version reads active only while the state names it
    statuses = {
        v.version: v.status_given(registry.state("attendance")) for v in registry.versions("attendance")
    }
    assert statuses == {"v0001": "active", "v0002": "candidate"}
    registry.activate("attendance", v2, actor="root", at=NOW)  # by hand: unconditional
    statuses = {
        v.version: v.status_given(registry.state("attendance")) for v in registry.versions("attendance")
    }
    assert statuses == {"v0001": "candidate", "v0002": "active"}


def test_an_archived_version_activated_again_is_a_candidate_and_a_challenger_is_cleared(
    stores: Stores,
) -> None:
    registry = stores.registry("reg-archive")
    v1, v2 = version("v0001"), version("v0002")
    registry.register(v1)
    registry.register(v2)
    registry.activate("attendance", v2, actor="root", at=NOW)
    registry.set_status("attendance", "v0001", "archived", NOW)
    registry.set_traffic("attendance", registry.require("attendance", "v0001"), 0.3, actor="root", at=NOW)

    state = registry.activate("attendance", registry.require("attendance", "v0001"), actor="root", at=NOW)

    assert (state.active, state.challenger, state.share) == ("v0001", None, 0.0)
    stored = registry.require("attendance", "v0001")
    assert (stored.status, stored.archived_at) == ("candidate", None)


def test_traffic_is_set_and_ended(stores: Stores) -> None:
    registry = stores.registry("reg-traffic")
    v1, v2 = version("v0001"), version("v0002", sha="cd" * 32)
    registry.register(v1)
    registry.register(v2)
    registry.activate("attendance", v1, actor="root", at=NOW)
    state = registry.set_traffic("attendance", v2, 0.25, actor="root", at=NOW)
    assert (state.challenger, state.challenger_sha256, state.share) == ("v0002", "cd" * 32, 0.25)
    state = registry.set_traffic("attendance", None, 0.25, actor="root", at=NOW)
    assert (state.challenger, state.challenger_sha256, state.share) == (None, None, 0.0)


def test_the_anomaly_scan_reads_the_active_metadata_and_reports_drift(stores: Stores) -> None:
    org, table, client = "reg-drift", stores.registry_table, stores.aws.client("dynamodb")
    assert active_metadata(org, "attendance", table=table, client=client) is None
    registry = stores.registry(org)
    registry.register(version("v0001"))
    registry.activate("attendance", version("v0001"), actor="root", at=NOW)

    metadata = active_metadata(org, "attendance", table=table, client=client)
    assert metadata is not None
    assert (metadata["version"], metadata["drift_reference"]) == ("v0001", REFERENCE)

    # Drift reported after the last training is pending; a training after it answers it
    registry.note("attendance", last_trained_at=NOW - timedelta(days=3))
    report_drift(org, "attendance", evidence={"psi": {"hour": 0.4}}, at=NOW, table=table, client=client)
    state = registry.state("attendance")
    assert state.drift_pending and state.drift_evidence == {"psi": {"hour": 0.4}}
    assert not registry.note("attendance", last_trained_at=NOW + timedelta(minutes=1)).drift_pending


def test_an_organisation_sees_only_its_registry(stores: Stores) -> None:
    stores.registry("reg-mine").register(version("v0001"))
    assert stores.registry("reg-theirs").versions("attendance") == []
    assert stores.registry("reg-theirs").version("attendance", "v0001") is None
    foreign = stores.registry("reg-theirs")
    with pytest.raises(WrongOrganisation):
        foreign.items.get("ORG#reg-mine#MODEL#attendance", "VERSION#v0001")
    with pytest.raises(NotFound) as unknown:
        check_model_type("faces")
    assert unknown.value.code == "MODEL_TYPE_NOT_FOUND"


def test_artifacts_are_written_and_read_back(stores: Stores) -> None:
    artifacts = stores.artifacts()
    written = artifacts.put("models/attendance/reg-s3/v0001/", {"model.npz": b"abc", "metadata.json": b"{}"})
    assert written["model.npz"]["key"] == "models/attendance/reg-s3/v0001/model.npz"
    assert written["model.npz"]["bytes"] == 3 and written["model.npz"]["s3_version_id"]
    assert artifacts.get("models/attendance/reg-s3/v0001/model.npz") == b"abc"
    with pytest.raises(NotFound):
        artifacts.get("models/attendance/reg-s3/v0002/model.npz")


def test_a_registry_of_an_invalid_organisation_is_refused(stores: Stores) -> None:
    from rollcall.platform.errors import InvalidInput

    with pytest.raises(InvalidInput):
        ModelRegistry("bad#org", stores.registry_table)


def test_a_challenger_whose_artifact_fails_its_check_is_refused_and_the_refusal_is_in_the_history(
    stores: Stores,
) -> None:
    # Given an active version, and a challenger whose artifact is not what its sha256 says
    org, alerts = "reg-tampered", list[Alert]()
    registry = stores.registry(org)
    v1, v2 = version("v0001"), version("v0002", sha="cd" * 32)
    registry.register(v1)
    registry.register(v2)
    registry.activate("attendance", v1, actor="root", at=NOW)
    prefix = artifact.prefix("attendance", org, "v0002")
    stores.artifacts().put(prefix, {artifact.MODEL_FILE: b"not the model that was trained"})
    service = RegistryService(stores.records(org), registry, stores.artifacts(), alerts.append)
    admin = Principal("root", org, Role.ADMIN)
    # When an admin routes half the students to it, or activates it
    for attempt in (
        lambda: service.set_traffic(admin, "attendance", "v0002", 0.5, now=NOW),
        lambda: service.activate(admin, "attendance", "v0002", reason="try", now=NOW),
    ):
        with pytest.raises(Conflict) as refused:
            attempt()
        assert (refused.value.status, refused.value.code) == (409, "ARTIFACT_INTEGRITY")
    # Then no student is routed to it, and both refusals are in the model's history and alerted
    state = registry.state("attendance")
    assert (state.active, state.challenger, state.share) == ("v0001", None, 0.0)
    actions = [e.action for e in service.history("attendance")]
    assert sorted(actions) == ["model.activation_refused", "model.traffic_refused"]
    assert [a.type for a in alerts] == ["model_artifact_integrity"] * 2
