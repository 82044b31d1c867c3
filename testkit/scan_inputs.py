"""The inputs an anomaly scan reads, built straight from a synthetic history (tests, benchmarks).

What ``rollcall.services.scanning.gather`` reads from the store once the history is stored, without
storing it: the detectors can then be tested and measured on a history of any size in process.
"""

from __future__ import annotations

from rollcall.anomaly.inputs import ActiveModel, Correction, ScanInputs
from rollcall.domain import Source
from testkit.synthetic import SyntheticHistory


def from_history(history: SyntheticHistory, model: ActiveModel | None = None) -> ScanInputs:
    """The inputs a scan at ``history.now`` reads once ``history`` is stored (tests, benchmarks)."""
    events = [
        {
            "session_id": e.session_id,
            "class_id": e.class_id,
            "photo_hash": e.photo_hash,
            "marked_at_time": e.taken_at,
            "counts": {
                "faces": e.faces,
                "present": e.present,
                "uncertain": e.uncertain,
                "unknown": e.unknown,
            },
            "faces": [dict(f) for f in e.face_details],
        }
        for e in history.marking_events
    ]
    corrections = [
        Correction(
            c.student_id,
            c.session_id,
            c.corrected_at,
            c.corrected_by,
            c.previous_status.value,
            Source(c.previous_source).value,
            c.status.value,
        )
        for c in history.corrections
    ]
    return ScanInputs(history.org, history.now, history.records, events, corrections, model)
