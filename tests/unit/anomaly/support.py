"""Helpers of the anomaly unit tests: settings, hand-made records and inputs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from rollcall.anomaly.findings import Finding
from rollcall.anomaly.inputs import ActiveModel, Context, Correction, ScanInputs
from rollcall.domain import AttendanceRecord, Source, Status
from rollcall.platform.settings import AnomalyScanSettings

if TYPE_CHECKING:
    from testkit.synthetic import SyntheticHistory

NOW = datetime(2026, 3, 30, tzinfo=UTC)  # a Monday
DAY = timedelta(days=1)


def make_settings(**overrides: object) -> AnomalyScanSettings:
    """AnomalyScanSettings with the defaults under test, whatever ANOMALY_* the environment has."""
    values: dict[str, object] = {
        "stage": "test",
        "records_table": "records",
        "auth_issuer": "https://issuer.test",
        "auth_audience": "rollcall",
        "auth_hs256_secret": "s" * 32,
        "alert_queue_url": "http://queue.test/alerts",
        "registry_table": "registry",
        "model_bucket": "models",
    }
    defaults = {
        name: f.default for name, f in AnomalyScanSettings.model_fields.items() if name.startswith("anomaly_")
    }
    return AnomalyScanSettings(**(values | defaults | overrides))  # type: ignore[arg-type]


def record(
    student: str,
    starts_at: datetime,
    *,
    attended: bool = True,
    status: Status | None = None,
    class_id: str = "c1",
    session_id: str | None = None,
    location: str | None = "room-1",
    minutes: int = 50,
    arrival: float | None = None,
    source: Source = Source.SYNTHETIC,
    marked_at: datetime | None = None,
    marked_by: str | None = None,
) -> AttendanceRecord:
    status = status or (Status.PRESENT if attended else Status.ABSENT)
    return AttendanceRecord(
        student_id=student,
        session_id=session_id or f"{class_id}-{starts_at:%Y%m%d-%H%M}",
        class_id=class_id,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=minutes),
        status=status,
        arrived_at=None if arrival is None else starts_at + timedelta(minutes=arrival),
        location=location,
        source=source,
        marked_at=marked_at,
        marked_by=marked_by,
    )


def daily(
    student: str, days: int, *, attended: Sequence[bool] | None = None, end: datetime = NOW, **kw: Any
) -> list[AttendanceRecord]:
    """One 9 o'clock session a day for the ``days`` days before ``end`` (oldest first)."""
    pattern = attended if attended is not None else [True] * days
    starts = [end.replace(hour=9) - (days - i) * DAY for i in range(days)]
    return [record(student, s, attended=a, **kw) for s, a in zip(starts, pattern, strict=True)]


def context(
    records: Sequence[AttendanceRecord],
    *,
    now: datetime = NOW,
    events: Sequence[dict[str, Any]] = (),
    corrections: Sequence[Correction] = (),
    model: ActiveModel | None = None,
    **overrides: object,
) -> Context:
    inputs = ScanInputs("org1", now, list(records), list(events), list(corrections), model)
    return Context(inputs, make_settings(**overrides))


def keys(findings: Sequence[Finding]) -> set[tuple[str, str]]:
    return {f.key for f in findings}


def injected(history: SyntheticHistory, variant: str) -> tuple[str, str]:
    """The (type, subject) of the one anomaly of that variant the generator injected."""
    (found,) = [a for a in history.anomalies if a.details.get("variant") == variant]
    return found.type, found.subject
