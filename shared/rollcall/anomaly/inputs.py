"""What the detectors read: one organisation's recent data, gathered once per scan.

- ``records``: attendance records of sessions starting in the history window (see :func:`windows`).
- ``marking_events``: one dict per photo, as ``rollcall.store.photo_events.MarkingRepo.between`` yields
  them: ``session_id``, ``class_id``, ``photo_hash``, ``marked_at_time`` (datetime), ``counts``
  {faces, present, uncertain, unknown} and ``faces`` (per face: ``student_id``, ``status``,
  ``distance``, ``within_confident``).
- ``corrections``: teachers' corrections (:class:`Correction`), from the audit log
  (``rollcall.services.scanning.correction_of``).
- ``model``: the active attendance model (:class:`ActiveModel`), or None.

Nothing here reads the store: the scan service does, and tests and benchmarks build the same
inputs from a synthetic history (``testkit.scan_inputs.from_history``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from rollcall.anomaly.frame import Frame, epoch
from rollcall.domain import AttendanceRecord

if TYPE_CHECKING:
    import numpy as np

    from rollcall.platform.settings import AnomalyScanSettings


class DriftModel(Protocol):
    """What drift detection needs of a model (``rollcall.ml.model.AttendanceModel`` is one)."""

    @property
    def features(self) -> tuple[str, ...]: ...

    def drift(self, X: np.ndarray) -> dict[str, float]: ...

    def probability(self, X: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class ActiveModel:
    """The organisation's active model, as the registry serves it."""

    version: str
    model: DriftModel
    model_type: str = "attendance"


@dataclass(frozen=True, slots=True)
class Correction:
    """A teacher's correction of one record (an ``attendance.corrected`` audit entry)."""

    student_id: str
    session_id: str
    at: datetime
    actor: str
    from_status: str | None
    from_source: str | None
    to_status: str


@dataclass(frozen=True)
class Windows:
    """How far back each input is read (all end at ``now``)."""

    attendance: datetime
    markings: datetime
    corrections: datetime


def windows(settings: AnomalyScanSettings, now: datetime) -> Windows:
    s = settings
    marking_days = max(
        s.anomaly_health_baseline_days + s.anomaly_health_max_idle_days + 1, s.anomaly_proxy_lookback_days
    )
    return Windows(
        attendance=now - timedelta(days=s.anomaly_history_days),
        markings=now - timedelta(days=marking_days),
        corrections=now - timedelta(days=s.anomaly_proxy_corrections_days),
    )


@dataclass(frozen=True)
class ScanInputs:
    org: str
    now: datetime
    records: Sequence[AttendanceRecord]
    marking_events: Sequence[dict[str, Any]]
    corrections: Sequence[Correction]
    model: ActiveModel | None = None


class Context:
    """One scan's inputs, settings and the columns built from them, shared by the detectors."""

    def __init__(self, inputs: ScanInputs, settings: AnomalyScanSettings) -> None:
        self.inputs = inputs
        self.settings = settings
        self.now = epoch(inputs.now)
        self.frame = Frame.of(inputs.records)

    def since(self, days: float) -> int:
        """Epoch seconds ``days`` before now."""
        return self.now - int(days * 86_400)


class Skip(Exception):
    """Raised by a detector that cannot judge this organisation now; the reason is reported."""
