"""Marking events: one per (session, photo), what a photo showed when it was marked.

Items::

    marking  pk ORG#o#SESSION#<session>  sk PHOTO#<sha256>
             gsi2 ORG#o#MARKINGS#<yyyy-mm> / <marked_at>#<session>#<sha256>

The item makes a resent photo a no-op (its first result is answered again), and keeps
``counts`` {faces, present, uncertain, unknown} and, per face, the status, the distance and the
students within the confident threshold (never an embedding): what the anomaly scan needs for
matching health and for faces that match two students.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from rollcall.records import iso, parse_time
from rollcall.store.attendance import month, months_between
from rollcall.store.records import OrgRecords


class MarkingRepo:
    def __init__(self, records: OrgRecords) -> None:
        self.records = records

    def get(self, session_id: str, photo_hash: str) -> dict[str, Any] | None:
        return self.records.get(
            self.records.key("SESSION", session_id), f"PHOTO#{photo_hash}", consistent=True
        )

    def put(self, session_id: str, photo_hash: str, marked_at: datetime, event: dict[str, Any]) -> bool:
        """Store the event of a photo's first marking; False when the photo was marked before."""
        stamp = iso(marked_at)
        item = {
            **event,
            "pk": self.records.key("SESSION", session_id),
            "sk": f"PHOTO#{photo_hash}",
            "kind": "marking",
            "session_id": session_id,
            "photo_hash": photo_hash,
            "marked_at": stamp,
            "gsi2pk": self.records.key("MARKINGS", month(marked_at)),
            "gsi2sk": f"{stamp}#{session_id}#{photo_hash}",
        }
        return self.records.put(item, if_absent=True)

    def between(self, since: datetime, until: datetime) -> Iterator[dict[str, Any]]:
        """Marking events of the organisation with ``since <= marked_at <= until``, in time order."""
        lo, hi = iso(since), iso(until) + "~"
        for m in months_between(since, until):
            for item in self.records.query(
                self.records.key("MARKINGS", m), index="gsi2", sk_between=(lo, hi)
            ):
                item["marked_at_time"] = parse_time(item["marked_at"])
                yield item
