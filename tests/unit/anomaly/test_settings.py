"""The detectors' thresholds: read from ANOMALY_*, each documented, bad values refused at start."""

from __future__ import annotations

import pytest

from rollcall.platform.errors import ConfigurationError
from rollcall.platform.settings import AnomalyScanSettings, load_settings
from tests.unit.anomaly.support import make_settings

ENV = {
    "STAGE": "test",
    "RECORDS_TABLE": "records",
    "AUTH_ISSUER": "https://issuer.test",
    "AUTH_AUDIENCE": "rollcall",
    "AUTH_HS256_SECRET": "s" * 32,
    "ALERT_QUEUE_URL": "http://queue.test/alerts",
    "REGISTRY_TABLE": "registry",
    "MODEL_BUCKET": "models",
}


def test_every_threshold_is_documented() -> None:
    fields = {n: f for n, f in AnomalyScanSettings.model_fields.items() if n.startswith("anomaly_")}
    assert len(fields) >= 30
    assert [n for n, f in fields.items() if not f.description] == []


def test_thresholds_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in (ENV | {"ANOMALY_DROP_MIN_Z": "3.5", "ANOMALY_CHRONIC_BELOW": "0.5"}).items():
        monkeypatch.setenv(k, v)
    settings = load_settings(AnomalyScanSettings)
    assert (settings.anomaly_drop_min_z, settings.anomaly_chronic_below) == (3.5, 0.5)
    assert settings.anomaly_dedupe_hours == make_settings().anomaly_dedupe_hours == 24


def test_a_bad_threshold_fails_the_start_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in (ENV | {"ANOMALY_CHRONIC_BELOW": "1.5"}).items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigurationError) as caught:
        load_settings(AnomalyScanSettings)
    assert "ANOMALY_CHRONIC_BELOW" in str(caught.value.detail)
