"""Marking events: one per (session, photo), what a photo showed when it was marked.

Items::

    marking  pk ORG#o#SESSION#<session>  sk PHOTO#<sha256>
             gsi2 ORG#o#MARKINGS#<yyyy-mm> / <marked_at>#<session>#<sha256>

The item makes a resent photo a no-op (its first result is answered again), and keeps
``counts`` {faces, present, uncertain, unknown} and, per face, the status, the distance and the
students within the confident threshold (never an embedding): what the anomaly scan needs for
matching health and for faces that match two students.

Erasing a student removes their id from the events (:meth:`MarkingRepo.forget_student`): a face
that was theirs keeps its status and distance with ``student_id`` null, and they leave the
present, uncertain and absent lists and every face's ``within_confident``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from rollcall.domain import iso, parse_time
from rollcall.store.attendance import month, months_between
from rollcall.store.table import OrgRecords


class MarkingRepo:
    def __init__(self, records: OrgRecords) -> None:
        self.records = records

    def get(self, session_id: str, photo_hash: str) -> dict[str, Any] | None:
        return self.records.get(
            self.records.key("SESSION", session_id), f"PHOTO#{photo_hash}", consistent=True
        )

    def put(self, session_id: str, photo_hash: str, marked_at: datetime, event: dict[str, Any]) -> bool:
        """Store the event of a photo's first marking; False when the photo was marked before."""
        return self.records.put(self.item(session_id, photo_hash, marked_at, event), if_absent=True)

    def item(
        self, session_id: str, photo_hash: str, marked_at: datetime, event: dict[str, Any]
    ) -> dict[str, Any]:
        """The stored item of a marking event (:meth:`put` writes it)."""
        stamp = iso(marked_at)
        return {
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

    def between(self, since: datetime, until: datetime) -> Iterator[dict[str, Any]]:
        """Marking events of the organisation with ``since <= marked_at <= until``, in time order."""
        lo, hi = iso(since), iso(until) + "~"
        for m in months_between(since, until):
            for item in self.records.query(
                self.records.key("MARKINGS", m), index="gsi2", sk_between=(lo, hi)
            ):
                item["marked_at_time"] = parse_time(item["marked_at"])
                yield item

    def seen_in(self, session_ids: Iterable[str], student_id: str) -> list[tuple[str, str]]:
        """The (session, photo hash) of the photos of ``session_ids`` with a face matched to the student."""
        return [
            (event["session_id"], event["photo_hash"])
            for event in self._events(session_ids)
            if any(face.get("student_id") == student_id for face in event.get("faces") or [])
        ]

    def forget_student(self, session_ids: Iterable[str], student_id: str) -> int:
        """Remove ``student_id`` from the marking events of ``session_ids``; how many mentioned them."""
        changed = 0
        for event in self._events(session_ids):
            if _forget(event, student_id):
                self.records.put(event)
                changed += 1
        return changed

    def _events(self, session_ids: Iterable[str]) -> Iterator[dict[str, Any]]:
        for session_id in dict.fromkeys(session_ids):
            yield from self.records.query(
                self.records.key("SESSION", session_id), sk_prefix="PHOTO#", consistent=True
            )


def _forget(event: dict[str, Any], student_id: str) -> bool:
    """Remove ``student_id`` from one event, in place; whether it was there."""
    found = False
    for name in ("present", "uncertain", "absent"):
        if student_id in (event.get(name) or []):
            event[name] = [s for s in event[name] if s != student_id]
            found = True
    for face in event.get("faces") or []:
        if face.get("student_id") == student_id:
            face["student_id"] = None
            found = True
        if student_id in (face.get("within_confident") or []):
            face["within_confident"] = [s for s in face["within_confident"] if s != student_id]
            found = True
    return found
