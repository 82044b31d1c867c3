"""Anomalies of one organisation, and the dedupe marks that keep scans from raising one twice.

Items (``<home>`` is the subject's partition: ``ORG#o#STUDENT#<student>`` for a student, so that
erasing the student erases them; ``ORG#o#ANOMALY#<kind>#<id>`` for a session, class, model or
organisation)::

    anomaly  pk <home>  sk ANOMALY#<anomaly_id>
             gsi1 ORG#o#ANOMALIES#<status>           / <anomaly_id>
             gsi2 ORG#o#ANOMALIES#<type>#<severity>  / <anomaly_id>
    dedupe   pk <home>  sk ANOMALY-DEDUPE#<type>     expires_at (TTL)

An anomaly id is ``<detected yyyymmddThhmmssZ>-<10 hex>``: ids sort as detection times, so both
indexes list newest first, and a page ends at an id (the cursor). Finding an anomaly by its id
asks the three status partitions of gsi1 for that sort key.

The dedupe mark of a (type, subject) says which anomaly was last raised for it, when it was last
raised or refreshed (``seen_at``) and which events it has covered (``occurrences``). Each write
puts a random ``claim`` and is conditional on the claim the scan read (or on there being no live
mark), so of two concurrent scans only one raises. TTL deletion is late (up to days on AWS): a
mark past ``expires_at`` counts as absent.
"""

from __future__ import annotations

import heapq
import re
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rollcall.anomaly.findings import RESOLVED, REVIEW_STATUSES
from rollcall.domain import iso, parse_time
from rollcall.platform.errors import ConcurrentUpdate
from rollcall.store.table import OrgRecords, check_id

MARK_PREFIX = "ANOMALY-DEDUPE#"
ITEM_PREFIX = "ANOMALY#"
STORED_FIELDS = (
    "anomaly_id",
    "type",
    "severity",
    "subject",
    "summary",
    "evidence",
    "occurrences",
    "status",
    "detected_at",
    "last_seen_at",
    "seen_count",
    "status_changed_at",
    "status_changed_by",
    "note",
)


ANOMALY_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{10}$")


def is_anomaly_id(value: str) -> bool:
    return bool(ANOMALY_ID.match(value))


def new_anomaly_id(now: datetime) -> str:
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:10]}"


@dataclass(frozen=True)
class Anomaly:
    anomaly_id: str
    type: str
    severity: str
    subject: str
    summary: str
    evidence: dict[str, Any]
    occurrences: list[str]
    status: str
    detected_at: str
    last_seen_at: str
    seen_count: int = 1
    status_changed_at: str | None = None
    status_changed_by: str | None = None
    note: str | None = None

    @classmethod
    def of(cls, item: dict[str, Any]) -> Anomaly:
        return cls(**{k: item[k] for k in STORED_FIELDS if k in item})

    def fields(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in STORED_FIELDS if getattr(self, k) is not None}


@dataclass(frozen=True)
class Mark:
    anomaly_id: str
    seen_at: datetime
    occurrences: frozenset[str]
    claim: str  # this write's random token: the next write's condition


class AnomalyRepo:
    def __init__(self, records: OrgRecords) -> None:
        self.records = records

    # --- keys --------------------------------------------------------------------------------

    def home(self, subject: str) -> str:
        kind, _, ident = subject.partition(":")
        check_id(ident, f"{kind} id")
        if kind == "student":
            return self.records.key("STUDENT", ident)
        return self.records.key("ANOMALY", kind, ident)

    def _index_keys(self, a: Anomaly) -> dict[str, str]:
        return {
            "gsi1pk": self.records.key("ANOMALIES", a.status),
            "gsi1sk": a.anomaly_id,
            "gsi2pk": self.records.key("ANOMALIES", a.type, a.severity),
            "gsi2sk": a.anomaly_id,
        }

    # --- what a scan does --------------------------------------------------------------------

    def mark(self, type_: str, subject: str, now: datetime) -> Mark | None:
        """The live dedupe mark of (type, subject), or None."""
        item = self.records.get(self.home(subject), MARK_PREFIX + type_, consistent=True)
        if item is None or item.get("expires_at", 0) < now.timestamp():
            return None
        return Mark(
            item["anomaly_id"],
            parse_time(item["seen_at"]),
            frozenset(item.get("occurrences") or ()),
            item["claim"],
        )

    def claim(
        self,
        type_: str,
        subject: str,
        *,
        anomaly_id: str,
        occurrences: Iterable[str],
        now: datetime,
        previous: Mark | None,
        ttl_seconds: float,
    ) -> bool:
        """Write the mark of (type, subject) unless another scan changed it since ``previous`` was
        read; False when one did (nothing written)."""
        kept = set(occurrences)
        item: dict[str, Any] = {
            "pk": self.home(subject),
            "sk": MARK_PREFIX + type_,
            "kind": "anomaly_dedupe",
            "anomaly_id": anomaly_id,
            "seen_at": iso(now),
            "claim": uuid.uuid4().hex,
            "expires_at": int(now.timestamp() + ttl_seconds),
        }
        if kept:
            item["occurrences"] = kept
        changes = {k: v for k, v in item.items() if k not in ("pk", "sk")}
        remove = () if kept else ("occurrences",)
        if previous is None:
            condition = "attribute_not_exists(pk) OR expires_at < :now"
            values: dict[str, Any] = {":now": int(now.timestamp())}
        else:
            condition, values = "claim = :claim", {":claim": previous.claim}
        try:
            self.records.update(
                item["pk"], item["sk"], changes, remove=remove, condition=condition, values=values
            )
        except ConcurrentUpdate:
            return False
        return True

    def put(self, anomaly: Anomaly) -> None:
        self.records.put(
            {
                "pk": self.home(anomaly.subject),
                "sk": ITEM_PREFIX + anomaly.anomaly_id,
                "kind": "anomaly",
                **anomaly.fields(),
                **self._index_keys(anomaly),
            }
        )

    def in_home(self, subject: str, anomaly_id: str) -> Anomaly | None:
        item = self.records.get(self.home(subject), ITEM_PREFIX + anomaly_id, consistent=True)
        return Anomaly.of(item) if item else None

    def refresh(self, current: Anomaly, updated: Anomaly) -> Anomaly | None:
        """Replace an unresolved anomaly's findings (severity, summary, evidence, counts); None
        when it was resolved meanwhile."""
        changes = {
            k: v
            for k, v in updated.fields().items()
            if k in ("severity", "summary", "evidence", "occurrences", "last_seen_at", "seen_count")
        }
        changes["gsi2pk"] = self.records.key("ANOMALIES", updated.type, updated.severity)
        try:
            return self._update(current, changes, "<>", RESOLVED)
        except ConcurrentUpdate:
            return None

    def _update(self, anomaly: Anomaly, changes: dict[str, Any], op: str, status: str) -> Anomaly:
        """Set ``changes`` if the status ``op`` (= or <>) ``status``; ConcurrentUpdate if not."""
        item = self.records.update(
            self.home(anomaly.subject),
            ITEM_PREFIX + anomaly.anomaly_id,
            changes,
            condition=f"#status {op} :status",
            names={"#status": "status"},
            values={":status": status},
        )
        return Anomaly.of(item)

    # --- what people do ----------------------------------------------------------------------

    def get(self, anomaly_id: str) -> Anomaly | None:
        """An anomaly by id (one small query per status at most)."""
        check_id(anomaly_id, "anomaly_id")
        for status in REVIEW_STATUSES:
            for item in self.records.query(
                self.records.key("ANOMALIES", status), index="gsi1", sk_between=(anomaly_id, anomaly_id)
            ):
                return Anomaly.of(item)
        return None

    def set_status(self, anomaly: Anomaly, to: str, *, who: str, note: str | None, now: datetime) -> Anomaly:
        """Move an anomaly from its current status to ``to``; ConcurrentUpdate if it moved meanwhile."""
        changes: dict[str, Any] = {
            "status": to,
            "status_changed_at": iso(now),
            "status_changed_by": who,
            "gsi1pk": self.records.key("ANOMALIES", to),
        }
        if note is not None:
            changes["note"] = note
        return self._update(anomaly, changes, "=", anomaly.status)

    def list(
        self,
        *,
        status: str | None = None,
        type_: str | None = None,
        severity: str | None = None,
        types: Iterable[str] = (),
        severities: Iterable[str] = (),
        limit: int = 50,
        before: str | None = None,
    ) -> tuple[list[Anomaly], str | None]:
        """Newest first, at most ``limit``, ids before ``before``; the page and the next cursor.

        With a status, its gsi1 partition is read and the type and severity filtered; otherwise
        the gsi2 partitions of the (type, severity) pairs asked for (``types``/``severities`` are
        every possible value, used when one is not given) are read and merged.
        """
        if status is not None:
            streams = [self._stream("gsi1", self.records.key("ANOMALIES", status), before)]
        else:
            pairs = [
                (t, s)
                for t in ([type_] if type_ else types)
                for s in ([severity] if severity else severities)
            ]
            streams = [self._stream("gsi2", self.records.key("ANOMALIES", t, s), before) for t, s in pairs]
        page: list[Anomaly] = []
        for item in heapq.merge(*streams, key=lambda i: i["anomaly_id"], reverse=True):
            if (type_ and item["type"] != type_) or (severity and item["severity"] != severity):
                continue
            if len(page) == limit:
                return page, page[-1].anomaly_id
            page.append(Anomaly.of(item))
        return page, None

    def _stream(self, index: str, pk: str, before: str | None) -> Iterator[dict[str, Any]]:
        if before is None:
            yield from self.records.query(pk, index=index, newest_first=True)
            return
        for item in self.records.query(pk, index=index, newest_first=True, sk_between=("0", before)):
            if item["anomaly_id"] != before:
                yield item

    def counts(self, statuses: Iterable[str]) -> dict[str, Counter[tuple[str, str]]]:
        """Per status, how many anomalies of each (type, severity)."""
        out = {}
        for status in statuses:
            items = self.records.query(
                self.records.key("ANOMALIES", status), index="gsi1", attributes=("type", "severity")
            )
            out[status] = Counter((i["type"], i["severity"]) for i in items)
        return out
