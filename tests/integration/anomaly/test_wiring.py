"""The anomaly-scan function's wiring to the model registry: the active model is loaded and
checked as prediction loads it, and drift is reported where the weekly retrain reads it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from rollcall.services.scanning import ScanWiring, wiring
from rollcall.services.training import JobMessage
from rollcall.store import clients
from rollcall_local.emulator import Aws
from rollcall_local.template import Physical
from tests.integration.models.conftest import Outbox, Stores, recent_history, store
from tests.unit.anomaly.support import make_settings

ORG = "wire-a"


@pytest.fixture(scope="module")
def trained(aws: Aws, physical: Physical) -> Stores:
    refs = physical.refs
    stores = Stores(
        aws, refs["RecordsTable"], refs["ModelRegistryTable"], refs["ModelBucket"], refs["PhotoBucket"]
    )
    store(stores.records(ORG), recent_history(ORG, students=12, seed=8))
    done = stores.trainer(ORG, Outbox()).run(JobMessage(ORG, "job-wire-1"))
    assert done.result["activated"] is True
    return stores


@pytest.fixture
def scan_wiring(trained: Stores) -> Iterator[ScanWiring]:
    settings = make_settings(
        records_table=trained.records_table,
        registry_table=trained.registry_table,
        model_bucket=trained.bucket,
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", trained.aws.endpoint)
        patch.setenv("AWS_DEFAULT_REGION", trained.aws.region)
        for name, value in trained.aws.credentials.items():
            patch.setenv(name, value)
        clients.reset()
        yield wiring(settings)
    clients.reset()


def test_the_active_model_is_loaded_from_the_registry(scan_wiring: ScanWiring, trained: Stores) -> None:
    assert scan_wiring.models is not None
    active = scan_wiring.models(ORG)

    assert active is not None and active.version == "v0001"
    assert tuple(active.model.features) == tuple(
        trained.registry(ORG).require("attendance", "v0001").metadata["features"]
    )
    assert scan_wiring.models("wire-nobody") is None  # no active model: drift is not judged


def test_drift_is_reported_on_the_registry_state(scan_wiring: ScanWiring, trained: Stores) -> None:
    assert scan_wiring.report_drift is not None
    at = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)

    scan_wiring.report_drift(ORG, "attendance", {"psi": {"attendance_rate_4w": 0.31}}, at)

    state = trained.registry(ORG).state("attendance")
    assert state.drift_reported_at == at
    assert state.drift_evidence == {"psi": {"attendance_rate_4w": 0.31}}


def test_a_tampered_artifact_is_refused_and_drift_skipped(scan_wiring: ScanWiring, trained: Stores) -> None:
    assert scan_wiring.models is not None
    path = "models/attendance/wire-a/v0001/"
    good = trained.artifacts().get(path + "model.npz")
    trained.artifacts().put(path, {"model.npz": good[:-7] + b"tamper!"})
    try:
        assert scan_wiring.models(ORG) is None
    finally:
        trained.artifacts().put(path, {"model.npz": good})
    assert scan_wiring.models(ORG) is not None
