"""Classes of one organisation: an id (what keys and records use) and a display name.

Items::

    class  pk ORG#o#CLASS#<class>  sk META   name, name_key, created_by, created_at

A class needs no item to exist (sessions and memberships name its id); the item only gives it a
display name. Imports that name classes (``JARDIM DA PENHA``) store their names here.
"""

from __future__ import annotations

from datetime import datetime

from rollcall.domain import iso
from rollcall.store.table import OrgRecords, check_id


class ClassRepo:
    def __init__(self, records: OrgRecords) -> None:
        self.records = records

    def ensure_names(self, names: dict[str, str], *, created_by: str, created_at: datetime) -> int:
        """Store the display name of each class id (a name given again replaces the old); the count."""
        return self.records.batch_put(
            {
                "pk": self.records.key("CLASS", check_id(class_id, "class_id")),
                "sk": "META",
                "kind": "class",
                "class_id": class_id,
                "name": name,
                "created_by": created_by,
                "created_at": iso(created_at),
            }
            for class_id, name in sorted(names.items())
        )

    def name(self, class_id: str) -> str | None:
        """The class's display name, or None when it has none."""
        item = self.records.get(self.records.key("CLASS", check_id(class_id, "class_id")), "META")
        return item.get("name") if item else None
