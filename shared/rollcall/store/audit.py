"""The audit log: who changed what, when (teacher corrections, anomaly reviews, erasures, model
activations). Entries are append-only.

Items::

    entry  pk ORG#o#AUDIT#<yyyy-mm>  sk <at>#<entry id>   gsi1 ORG#o#SUBJECT#<subject> / <at>#<entry id>

``subject`` names the thing changed, e.g. ``attendance:<session>:<student>`` or ``anomaly:<id>``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rollcall.domain import iso
from rollcall.store.attendance import months_between
from rollcall.store.table import OrgRecords

ATTENDANCE_CORRECTED = "attendance.corrected"  # subject attendance:<session>:<student>; the scan reads it
STUDENT_ERASED = "student.erased"  # subject student:<id>; the anomaly scan's window cache reads it
STUDENT_UPDATED = "student.updated"  # subject student:<id>; details: what changed, from and to
SESSION_DELETED = "session.deleted"  # subject session:<id>; the anomaly scan's window cache reads it


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: str
    actor: str
    action: str
    subject: str
    details: dict[str, Any]


class AuditLog:
    def __init__(self, records: OrgRecords) -> None:
        self.records = records

    def append(
        self, *, actor: str, action: str, subject: str, at: datetime, details: dict[str, Any] | None = None
    ) -> AuditEntry:
        self.records.put(self.item(actor=actor, action=action, subject=subject, at=at, details=details))
        return AuditEntry(iso(at), actor, action, subject, details or {})

    def item(
        self, *, actor: str, action: str, subject: str, at: datetime, details: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The stored item of a new entry (:meth:`append` writes it; bulk writers batch them)."""
        stamp, entry_id = iso(at), uuid.uuid4().hex
        subject_key = subject.replace("#", "_")
        return {
            "pk": self.records.key("AUDIT", stamp[:7]),
            "sk": f"{stamp}#{entry_id}",
            "kind": "audit",
            "at": stamp,
            "actor": actor,
            "action": action,
            "subject": subject,
            "details": details or {},
            "gsi1pk": self.records.prefix + "SUBJECT#" + subject_key,
            "gsi1sk": f"{stamp}#{entry_id}",
        }

    def between(self, since: datetime, until: datetime) -> list[AuditEntry]:
        """The organisation's entries with ``since <= at <= until``, in time order."""
        lo, hi = iso(since), iso(until) + "~"
        return [
            entry_of(i)
            for m in months_between(since, until)
            for i in self.records.query(self.records.key("AUDIT", m), sk_between=(lo, hi))
        ]

    def for_subject(self, subject: str) -> list[AuditEntry]:
        items = self.records.query(self.records.prefix + "SUBJECT#" + subject.replace("#", "_"), index="gsi1")
        return [entry_of(i) for i in items]


def entry_of(item: dict[str, Any]) -> AuditEntry:
    return AuditEntry(item["at"], item["actor"], item["action"], item["subject"], item.get("details", {}))
