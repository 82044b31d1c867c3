"""Prediction history, and the attendance reads a prediction needs.

Items (in the student's partition, so that erasing a student erases its predictions)::

    prediction  pk ORG#o#STUDENT#<student>  sk PRED#<made_at>#<prediction_id>
                gsi2 ORG#o#PREDS#<yyyy-mm of made_at> / <made_at>#<student>#<prediction_id>

``kind`` is ``prediction`` (what student erasure counts), ``expires_at`` (the table's TTL) is
``made_at`` plus the retention, and the item keeps the model version and the variant (champion
or challenger) that made it, so that versions can be compared on the outcomes that followed. The
month index (gsi2) lets the daily retention job find expired predictions, and comparisons read a
window of months, without scanning the table.

The reads (:class:`HistoryReader`) fetch only the attributes features use.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rollcall.domain import AttendanceRecord, Session, iso, parse_time
from rollcall.store.attendance import month, months_between, record_from_item, session_from_item
from rollcall.store.table import OrgRecords, check_id, ttl_after

HISTORY_FIELDS = (
    "student_id",
    "session_id",
    "class_id",
    "starts_at",
    "ends_at",
    "status",
    "arrived_at",
    "attrs",
)
SESSION_FIELDS = ("session_id", "class_id", "starts_at", "ends_at")


@dataclass(frozen=True, slots=True)
class StoredPrediction:
    prediction_id: str
    student_id: str
    session_id: str | None
    class_id: str
    starts_at: datetime
    probability: float
    method: str
    model_type: str
    model_version: str | None
    variant: str  # champion | challenger
    made_at: datetime
    made_by: str


class PredictionRepo:
    def __init__(self, records: OrgRecords) -> None:
        self.records = records

    def _item(self, p: StoredPrediction, extra: dict[str, Any], retention: timedelta) -> dict[str, Any]:
        made = iso(p.made_at)
        item: dict[str, Any] = {
            "pk": self.records.key("STUDENT", check_id(p.student_id, "student_id")),
            "sk": f"PRED#{made}#{p.prediction_id}",
            "kind": "prediction",
            "prediction_id": p.prediction_id,
            "student_id": p.student_id,
            "class_id": p.class_id,
            "starts_at": iso(p.starts_at),
            "probability": p.probability,
            "method": p.method,
            "model_type": p.model_type,
            "variant": p.variant,
            "made_at": made,
            "made_by": p.made_by,
            "expires_at": ttl_after(retention.total_seconds(), p.made_at.timestamp()),
            "gsi2pk": self.records.key("PREDS", month(p.made_at)),
            "gsi2sk": f"{made}#{p.student_id}#{p.prediction_id}",
            **extra,
        }
        if p.session_id:
            item["session_id"] = p.session_id
        if p.model_version:
            item["model_version"] = p.model_version
        return item

    def put_many(
        self, predictions: Iterable[tuple[StoredPrediction, dict[str, Any]]], *, retention: timedelta
    ) -> int:
        """Store predictions (each with extra attributes: interval, risk level); the count."""
        return self.records.batch_put(self._item(p, extra, retention) for p, extra in predictions)

    def made_between(self, since: datetime, until: datetime) -> Iterator[StoredPrediction]:
        """Predictions made in [since, until], in time order."""
        lo, hi = iso(since), iso(until) + "~"
        for m in months_between(since, until):
            for item in self.records.query(self.records.key("PREDS", m), index="gsi2", sk_between=(lo, hi)):
                yield _prediction_from_item(item)

    def delete_made_before(self, cutoff: datetime, *, months: int) -> int:
        """Delete the predictions made before ``cutoff`` in its month and the ``months`` before it;
        the count (older ones were removed by earlier runs, or by the table's TTL)."""
        since = cutoff - timedelta(days=31 * months)
        keys = [
            (i["pk"], i["sk"])
            for m in months_between(since, cutoff)
            for i in self.records.query(
                self.records.key("PREDS", m),
                index="gsi2",
                sk_between=("0", iso(cutoff)),
                attributes=("pk", "sk", "made_at"),
            )
            if i["made_at"] < iso(cutoff)
        ]
        return self.records.batch_delete(keys)


def _prediction_from_item(item: dict[str, Any]) -> StoredPrediction:
    return StoredPrediction(
        prediction_id=item["prediction_id"],
        student_id=item["student_id"],
        session_id=item.get("session_id"),
        class_id=item["class_id"],
        starts_at=parse_time(item["starts_at"]),
        probability=float(item["probability"]),
        method=item["method"],
        model_type=item.get("model_type", ""),
        model_version=item.get("model_version"),
        variant=item.get("variant", "champion"),
        made_at=parse_time(item["made_at"]),
        made_by=item.get("made_by", ""),
    )


class HistoryReader:
    """The attendance a prediction reads, with only the attributes features use."""

    def __init__(self, records: OrgRecords) -> None:
        self.records = records

    def student(
        self, student_id: str, *, before: datetime, since: datetime | None = None
    ) -> list[AttendanceRecord]:
        """A student's records of sessions starting in [``since``, ``before``), in time order."""
        items = self.records.query(
            self.records.key("STUDENT", check_id(student_id, "student_id"), "ATT"),
            index="gsi1",
            sk_between=(iso(since) if since else "0", iso(before)),
            attributes=HISTORY_FIELDS,
        )
        return [r for r in map(record_from_item, items) if r.starts_at < before]

    def class_sessions(self, class_id: str, *, since: datetime, before: datetime) -> list[Session]:
        items = self.records.query(
            self.records.key("CLASS", check_id(class_id, "class_id"), "SESSIONS"),
            index="gsi1",
            sk_between=(iso(since), iso(before)),
            attributes=SESSION_FIELDS,
        )
        return [s for s in map(session_from_item, items) if s.starts_at < before]

    def session_records(self, session_id: str) -> list[AttendanceRecord]:
        items = self.records.query(
            self.records.key("SESSION", check_id(session_id, "session_id")),
            sk_prefix="ATT#",
            attributes=HISTORY_FIELDS,
        )
        return [record_from_item(i) for i in items]
