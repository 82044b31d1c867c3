"""The anomaly scan's window cache: the attendance a scan read, kept for the next scan.

A scan reads 16 weeks of attendance (465,000 records for 1,000 students) to judge the last few
days. Most of it has not changed since the scan before, six hours earlier. The cache keeps what a
scan read, as one gzipped JSON object per organisation in the scan-cache bucket::

    attendance-window/<org>.json.gz
    {"format": 1, "org", "since", "horizon", "as_of", "fields": [...], "rows": [[...], ...]}

``rows`` hold the record items' :data:`~rollcall.store.attendance.WINDOW_FIELDS` (sessions starting
in [since, horizon]) as they were at ``as_of``, the store's clock when that read began. The next
scan reads only the records written since (the change index, ``AttendanceRepo.changed_items``),
lays them over the rows, and drops the students erased since (the audit log): see
``rollcall.services.scanning.read_attendance``.

The bucket is unversioned, so a cache rewritten without an erased student's rows keeps none of
them, and expires its objects after a few days (the template's lifecycle rule).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rollcall.domain import iso, parse_time
from rollcall.platform.errors import NotFound
from rollcall.platform.observability import logger
from rollcall.store import clients
from rollcall.store.attendance import WINDOW_FIELDS
from rollcall.store.client_errors import translated
from rollcall.store.table import check_id

FORMAT = 1


@dataclass(frozen=True)
class WindowSnapshot:
    org: str
    since: datetime  # rows hold every record whose session starts in [since, horizon] ...
    horizon: datetime
    as_of: datetime  # ... as the store had them when the read began (the store's clock)
    items: list[dict[str, Any]]


class WindowCache:
    """One organisation's cached window in ``bucket``."""

    def __init__(self, org: str, bucket: str, *, client: Any = None) -> None:
        self.org = check_id(org, "org")
        self.bucket = bucket
        self.client = client

    client = clients.Client("s3")

    @property
    def key(self) -> str:
        return f"attendance-window/{self.org}.json.gz"

    def load(self) -> WindowSnapshot | None:
        """The cached window, or None when there is none or it cannot be read (then the scan reads
        the whole window again: the cache is never needed for a right answer)."""
        try:
            with translated("read the scan's window cache"):
                body = self.client.get_object(Bucket=self.bucket, Key=self.key)["Body"].read()
        except NotFound:
            return None
        import gzip  # 2 ms of import: off the cold start of the functions that never read a window

        try:
            data = json.loads(gzip.decompress(body))
            if data.get("format") != FORMAT or data.get("org") != self.org:
                return None
            fields = data["fields"]
            if tuple(fields) != WINDOW_FIELDS:
                return None
            return WindowSnapshot(
                org=self.org,
                since=parse_time(data["since"]),
                horizon=parse_time(data["horizon"]),
                as_of=parse_time(data["as_of"]),
                items=[
                    {k: v for k, v in zip(fields, row, strict=True) if v is not None} for row in data["rows"]
                ],
            )
        except (OSError, ValueError, KeyError, TypeError):
            logger.warning(
                "the scan's window cache is unreadable: the whole window is read", extra={"org": self.org}
            )
            return None

    def save(self, snapshot: WindowSnapshot) -> int:
        """Write the snapshot over the previous one; its size in bytes."""
        import gzip

        data = {
            "format": FORMAT,
            "org": self.org,
            "since": iso(snapshot.since),
            "horizon": iso(snapshot.horizon),
            "as_of": iso(snapshot.as_of),
            "fields": list(WINDOW_FIELDS),
            "rows": [[item.get(f) for f in WINDOW_FIELDS] for item in snapshot.items],
        }
        body = gzip.compress(json.dumps(data, separators=(",", ":")).encode(), compresslevel=1)
        with translated("write the scan's window cache"):
            self.client.put_object(
                Bucket=self.bucket, Key=self.key, Body=body, ContentType="application/gzip"
            )
        return len(body)

    def delete(self) -> None:
        with translated("delete the scan's window cache"):
            self.client.delete_object(Bucket=self.bucket, Key=self.key)
