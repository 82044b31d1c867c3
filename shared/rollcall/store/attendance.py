"""Sessions and attendance records of one organisation.

Items (``o`` is the organisation; times are ISO-8601 UTC, so they sort as time does)::

    session     pk ORG#o#SESSION#<session>   sk META
                gsi1 ORG#o#CLASS#<class>#SESSIONS / <starts_at>#<session>
                gsi2 ORG#o#SESSIONS#<yyyy-mm>       / <starts_at>#<session>
    attendance  pk ORG#o#SESSION#<session>   sk ATT#<student>
                gsi1 ORG#o#STUDENT#<student>#ATT    / <starts_at>#<session>
                gsi2 ORG#o#ATT#<yyyy-mm>            / <starts_at>#<session>#<student>
                gsi3 ORG#o#ATTCHG#<yyyy-mm-dd>      / <changed_at>#<session>#<student>

One item per (session, student): concurrent markings of a session cannot make two records of a
student. Which write wins is decided by the store, atomically, with a condition on the item:

- ``merge`` (face marking): a photo can only raise a student's status (absent < uncertain <
  present/late), and never overrides a teacher's correction. Several photos of a session merge:
  present in any is present.
- ``replace`` (corrections and imports): the new record is written whatever was there.
- ``if_absent``: only where there is no record yet (the roster's "absent" for students not seen).

The organisation-wide index (gsi2) is sharded by month so that a time window reads only its
months and no partition grows without bound. The change index (gsi3) holds every record under
the day it was last written (``changed_at``, the writer's clock): what changed since a time is a
read of a day or two, whatever the sessions' dates (the anomaly scan's window cache reads it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from rollcall.domain import AttendanceRecord, Session, Source, Status, iso, parse_time, utc
from rollcall.platform.errors import AlreadyExists, ConcurrentUpdate, NotFound
from rollcall.store import bulk
from rollcall.store.table import OrgRecords, check_id

WriteMode = Literal["merge", "replace", "if_absent"]

LATEST_SEARCH_MONTHS = 240  # how far back the latest record is looked for (20 years of month shards)
CONCURRENT_WRITES = 16  # within the shared client's 32 pooled connections (rollcall.store.clients)

# An excused absence is a teacher's correction, which no photo overrides whatever the rank.
RANK = {Status.ABSENT: 1, Status.UNCERTAIN: 2, Status.LATE: 3, Status.PRESENT: 3, Status.EXCUSED: 3}


def month(value: datetime) -> str:
    return utc(value).strftime("%Y-%m")


def months_between(start: datetime, end: datetime) -> list[str]:
    """Every ``yyyy-mm`` from ``start``'s month to ``end``'s, inclusive."""
    year, mon = utc(start).year, utc(start).month
    last = (utc(end).year, utc(end).month)
    out = []
    while (year, mon) <= last:
        out.append(f"{year:04d}-{mon:02d}")
        year, mon = (year + 1, 1) if mon == 12 else (year, mon + 1)
    return out


def week_slices(since: datetime, until: datetime) -> list[tuple[str, str, str]]:
    """[since, until] as (month, low, high) sort-key ranges of at most a week, none across a month.

    A range ``(iso(a), iso(b))`` holds the keys of sessions starting in [a, b): ``iso(b)`` sorts
    before every key that starts with it. The last range reaches ``until`` inclusive.
    """
    out = []
    lo = utc(since)
    end = utc(until)
    while lo <= end:
        next_month = (lo.replace(day=1) + timedelta(days=32)).replace(day=1, hour=0, minute=0, second=0)
        hi = min(lo + timedelta(days=7), next_month)
        out.append((month(lo), iso(lo), iso(hi) if hi <= end else iso(end) + "~"))
        lo = hi
    return out


# --- sessions ------------------------------------------------------------------------------------


class SessionRepo:
    def __init__(self, records: OrgRecords) -> None:
        self.records = records

    def _item(self, session: Session, **extra: Any) -> dict[str, Any]:
        r, start = self.records, iso(session.starts_at)
        item = {
            "pk": r.key("SESSION", session.session_id),
            "sk": "META",
            "kind": "session",
            "session_id": session.session_id,
            "class_id": session.class_id,
            "starts_at": start,
            "ends_at": iso(session.ends_at),
            "gsi1pk": r.key("CLASS", session.class_id, "SESSIONS"),
            "gsi1sk": f"{start}#{session.session_id}",
            "gsi2pk": r.key("SESSIONS", month(session.starts_at)),
            "gsi2sk": f"{start}#{session.session_id}",
            **extra,
        }
        if session.location:
            item["location"] = session.location
        return item

    def create(self, session: Session, *, created_by: str, created_at: datetime) -> Session:
        """Store a new session; AlreadyExists if its id is taken."""
        check_id(session.session_id, "session_id")
        check_id(session.class_id, "class_id")
        item = self._item(session, created_by=created_by, created_at=iso(created_at))
        if not self.records.put(item, if_absent=True):
            raise AlreadyExists(f"session {session.session_id} already exists")
        return session

    def ensure(
        self,
        sessions: Iterable[Session],
        *,
        created_by: str,
        created_at: datetime,
        conditional: bool = True,
    ) -> int:
        """Store the sessions not stored yet (imports); returns how many were new.

        The stored ones are found by one batch read; only the others are written, each with its
        "if absent" condition (a session made meanwhile by someone else is kept, not counted).
        ``conditional=False`` (seeding a synthetic organisation, whose sessions no one else
        writes): the others go by BatchWriteItem, 25 a request, instead of one conditional
        PutItem each (on the local stack a seed's 1,000 sessions took a third of its time).
        """
        pending = list(sessions)
        stored = self.get_many([s.session_id for s in pending])
        items = [
            self._item(s, created_by=created_by, created_at=iso(created_at))
            for s in pending
            if s.session_id not in stored
        ]
        if not conditional:
            return self.records.batch_put(items)
        return sum(bulk.concurrently(lambda item: self.records.put(item, if_absent=True), items))

    def get_many(self, session_ids: Iterable[str]) -> dict[str, Session]:
        """The stored sessions among ``session_ids`` (BatchGetItem, consistent), by id."""
        r = self.records
        keys = [(r.key("SESSION", check_id(i, "session_id")), "META") for i in session_ids]
        return {i["session_id"]: session_from_item(i) for i in r.batch_get(keys, consistent=True).values()}

    def get(self, session_id: str) -> Session | None:
        item = self.records.get(self.records.key("SESSION", check_id(session_id, "session_id")), "META")
        return session_from_item(item) if item else None

    def require(self, session_id: str) -> Session:
        session = self.get(session_id)
        if session is None:
            raise NotFound(f"no session {session_id}", code="SESSION_NOT_FOUND")
        return session

    def for_class(
        self, class_id: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[Session]:
        lo = iso(since) if since else "0"
        hi = (iso(until) if until else "9999") + "~"
        items = self.records.query(
            self.records.key("CLASS", check_id(class_id, "class_id"), "SESSIONS"),
            index="gsi1",
            sk_between=(lo, hi),
        )
        return [session_from_item(i) for i in items]

    def between(self, since: datetime, until: datetime) -> list[Session]:
        lo, hi = iso(since), iso(until) + "~"
        out: list[Session] = []
        for m in months_between(since, until):
            items = self.records.query(self.records.key("SESSIONS", m), index="gsi2", sk_between=(lo, hi))
            out.extend(session_from_item(i) for i in items)
        return out

    def page_of_class(
        self, class_id: str, since: datetime | None, until: datetime | None, *, limit: int, after: str | None
    ) -> tuple[list[Session], bool]:
        """A class's sessions by start (its gsi1 partition), in [since, until], after the sort key
        ``after`` (``<starts_at>#<session>``, the previous page's last); whether more follow."""
        items, more = self.records.query_page(
            self.records.key("CLASS", check_id(class_id, "class_id"), "SESSIONS"),
            index="gsi1",
            sk_name="gsi1sk",
            sk_between=(iso(since) if since else "0", (iso(until) if until else "9999") + "~"),
            limit=limit,
            after=after,
        )
        return [session_from_item(i) for i in items], more

    def page_between(
        self, since: datetime, until: datetime, *, limit: int, after: str | None
    ) -> tuple[list[Session], bool]:
        """The organisation's sessions by start in [since, until] (the gsi2 month shards, from the
        month of ``after``'s start), after the sort key ``after``; whether more follow."""
        lo, hi = iso(since), iso(until) + "~"
        first = parse_time(after.partition("#")[0]) if after else since
        out: list[Session] = []
        for m in months_between(max(utc(first), utc(since)), until):
            items, more = self.records.query_page(
                self.records.key("SESSIONS", m),
                index="gsi2",
                sk_name="gsi2sk",
                sk_between=(lo, hi),
                limit=limit - len(out),
                after=after,
            )
            out += [session_from_item(i) for i in items]
            if len(out) == limit:
                return out, more or self._any_after(m, until, hi)
        return out, False

    def _any_after(self, month_: str, until: datetime, hi: str) -> bool:
        """Whether a month shard after ``month_`` up to ``until``'s holds a session before ``hi``."""
        for m in months_between(parse_time(f"{month_}-01T00:00:00Z"), until)[1:]:
            if next(self.records.query(self.records.key("SESSIONS", m), index="gsi2",
                                       sk_between=("0", hi), limit=1, attributes=("pk",)), None):  # fmt: skip
                return True
        return False

    def delete(self, session_id: str) -> dict[str, int] | None:
        """Delete a session's partition: the session, its attendance records and its marking
        events; the counts by kind, or None when there was no such session. The session item goes
        last, so a deletion cut short is finished by calling it again; the partition is swept once
        more after it, so a marking that read the session before it went leaves nothing behind."""
        pk = self.records.key("SESSION", check_id(session_id, "session_id"))
        items = list(self.records.query(pk, attributes=("pk", "sk", "kind"), consistent=True))
        if not any(i["sk"] == "META" for i in items):
            return None
        others = [i for i in items if i["sk"] != "META"]
        self.records.batch_delete((i["pk"], i["sk"]) for i in others)
        self.records.delete(pk, "META")
        late = list(self.records.query(pk, attributes=("pk", "sk", "kind"), consistent=True))
        self.records.batch_delete((i["pk"], i["sk"]) for i in late)
        others += late
        counts = {"session": 1, "attendance_records": 0, "marking_events": 0}
        for i in others:
            kind = {"attendance": "attendance_records", "marking": "marking_events"}.get(i.get("kind", ""))
            counts[kind or "other"] = counts.get(kind or "other", 0) + 1
        return counts


def session_from_item(item: dict[str, Any]) -> Session:
    return Session(
        session_id=item["session_id"],
        class_id=item["class_id"],
        starts_at=parse_time(item["starts_at"]),
        ends_at=parse_time(item["ends_at"]),
        location=item.get("location"),
    )


# --- attendance ----------------------------------------------------------------------------------

OPTIONAL_FIELDS = ("location", "distance", "photo_hash", "marked_by", "note")
# What analysis reads of a record (AttendanceRepo.window): not the keys, ranks, distances or notes.
WINDOW_FIELDS = (
    "student_id",
    "session_id",
    "class_id",
    "starts_at",
    "ends_at",
    "status",
    "source",
    "arrived_at",
    "location",
    "marked_at",
    "marked_by",
    "scheduled_at",  # covariates: training reads the window
    "reminder_sent",
    "attrs",
)


def record_to_item(
    records: OrgRecords, rec: AttendanceRecord, *, changed_at: datetime | None = None
) -> dict[str, Any]:
    """The item of a record; ``changed_at`` (default: now) files it in the change index."""
    start = iso(rec.starts_at)
    changed = iso(changed_at or datetime.now(UTC))
    item: dict[str, Any] = {
        "pk": records.key("SESSION", rec.session_id),
        "sk": f"ATT#{rec.student_id}",
        "kind": "attendance",
        "student_id": rec.student_id,
        "session_id": rec.session_id,
        "class_id": rec.class_id,
        "starts_at": start,
        "ends_at": iso(rec.ends_at),
        "status": rec.status.value,
        "source": rec.source.value,
        "rank": RANK[rec.status],
        "gsi1pk": records.key("STUDENT", rec.student_id, "ATT"),
        "gsi1sk": f"{start}#{rec.session_id}",
        "gsi2pk": records.key("ATT", month(rec.starts_at)),
        "gsi2sk": f"{start}#{rec.session_id}#{rec.student_id}",
        "changed_at": changed,
        "gsi3pk": records.key("ATTCHG", changed[:10]),
        "gsi3sk": f"{changed}#{rec.session_id}#{rec.student_id}",
    }
    if rec.arrived_at is not None:
        item["arrived_at"] = iso(rec.arrived_at)
    if rec.marked_at is not None:
        item["marked_at"] = iso(rec.marked_at)
    if rec.scheduled_at is not None:
        item["scheduled_at"] = iso(rec.scheduled_at)
    if rec.reminder_sent is not None:
        item["reminder_sent"] = rec.reminder_sent
    if rec.attributes:
        item["attrs"] = dict(rec.attributes)
    for name in OPTIONAL_FIELDS:
        value = getattr(rec, name)
        if value is not None:
            item[name] = value
    return item


def record_from_item(item: dict[str, Any]) -> AttendanceRecord:
    return AttendanceRecord(
        student_id=item["student_id"],
        session_id=item["session_id"],
        class_id=item["class_id"],
        starts_at=parse_time(item["starts_at"]),
        ends_at=parse_time(item["ends_at"]),
        status=Status(item["status"]),
        arrived_at=parse_time(item["arrived_at"]) if item.get("arrived_at") else None,
        location=item.get("location"),
        source=Source(item.get("source", Source.IMPORT)),
        distance=item.get("distance"),
        photo_hash=item.get("photo_hash"),
        marked_by=item.get("marked_by"),
        marked_at=parse_time(item["marked_at"]) if item.get("marked_at") else None,
        note=item.get("note"),
        scheduled_at=parse_time(item["scheduled_at"]) if item.get("scheduled_at") else None,
        reminder_sent=item.get("reminder_sent"),
        attributes=tuple(sorted((k, _attr(v)) for k, v in (item.get("attrs") or {}).items())),
    )


def _attr(value: Any) -> float | str:
    return value if isinstance(value, str) else float(value)


def _may_write(stored: tuple[int, str] | None, record: AttendanceRecord, mode: WriteMode) -> bool:
    """Whether a conditional write of ``record`` can succeed over ``stored`` (rank, source)."""
    if stored is None or mode == "replace":
        return True
    if mode == "if_absent":
        return False
    rank, source = stored
    return rank < RANK[record.status] and source != Source.CORRECTION.value


class AttendanceRepo:
    def __init__(self, records: OrgRecords) -> None:
        self.records = records

    def write(self, record: AttendanceRecord, *, mode: WriteMode) -> bool:
        """Write one record under ``mode`` (see the module doc); False when the store kept the old one."""
        check_id(record.student_id, "student_id")
        check_id(record.session_id, "session_id")
        item = record_to_item(self.records, record)
        if mode == "replace":
            return self.records.put(item)
        if mode == "if_absent":
            return self.records.put(item, if_absent=True)
        changes = {k: v for k, v in item.items() if k not in ("pk", "sk")}
        remove = [name for name in ("arrived_at", *OPTIONAL_FIELDS) if name not in item]
        try:
            self.records.update(
                item["pk"],
                item["sk"],
                changes,
                remove=remove,
                condition="attribute_not_exists(pk) OR (#rank < :rank AND #source <> :correction)",
                names={"#rank": "rank", "#source": "source"},
                values={":rank": item["rank"], ":correction": Source.CORRECTION.value},
            )
        except ConcurrentUpdate:
            return False
        return True

    def write_many(
        self,
        records: Iterable[AttendanceRecord],
        *,
        mode: WriteMode,
        on_chunk: Callable[[int], None] | None = None,
    ) -> int:
        """Write each record under ``mode``; returns how many were written.

        ``replace`` goes out by BatchWriteItem (25 a request, ``on_chunk(n)`` after each). The
        conditional modes first read what their sessions hold (one consistent query per session,
        projected to rank and source) and send a conditional write only where the condition can
        hold: a roster's "absent" where there is no record, a photo's status where it would raise
        one not corrected by a teacher. Those writes keep their condition (BatchWriteItem takes
        none), so a write made between the read and them still wins as the rule says; they go out on
        up to ``CONCURRENT_WRITES`` threads.
        """
        pending = list(records)
        if mode == "replace":
            return self.records.batch_put(
                (record_to_item(self.records, r) for r in pending), on_chunk=on_chunk
            )
        return self._write_conditional([(r, mode) for r in pending])

    def write_marking(self, seen: Iterable[AttendanceRecord], absent: Iterable[AttendanceRecord]) -> int:
        """A photo's records: ``seen`` merged, ``absent`` where there is none; one read of the
        session for both (see :meth:`write_many`). Returns how many were written."""
        return self._write_conditional([(r, "merge") for r in seen] + [(r, "if_absent") for r in absent])

    def _write_conditional(self, writes: list[tuple[AttendanceRecord, WriteMode]]) -> int:
        stored = self._stored({r.session_id for r, _ in writes})
        needed = [(r, m) for r, m in writes if _may_write(stored.get((r.session_id, r.student_id)), r, m)]
        return sum(
            bulk.concurrently(lambda w: self.write(w[0], mode=w[1]), needed, workers=CONCURRENT_WRITES)
        )

    def _stored(self, session_ids: Iterable[str]) -> dict[tuple[str, str], tuple[int, str]]:
        """(rank, source) of every record of the sessions, by (session, student); consistent."""
        out: dict[tuple[str, str], tuple[int, str]] = {}
        for session_id in sorted(session_ids):
            for item in self.records.query(
                self.records.key("SESSION", check_id(session_id, "session_id")),
                sk_prefix="ATT#",
                consistent=True,
                attributes=("student_id", "rank", "source"),
            ):
                out[(session_id, item["student_id"])] = (int(item.get("rank", 0)), item.get("source", ""))
        return out

    def get(self, session_id: str, student_id: str) -> AttendanceRecord | None:
        item = self.records.get(self.records.key("SESSION", session_id), f"ATT#{student_id}", consistent=True)
        return record_from_item(item) if item else None

    def for_session(self, session_id: str) -> list[AttendanceRecord]:
        items = self.records.query(
            self.records.key("SESSION", check_id(session_id, "session_id")), sk_prefix="ATT#", consistent=True
        )
        return [record_from_item(i) for i in items]

    def for_student(
        self, student_id: str, *, since: datetime | None = None, before: datetime | None = None
    ) -> list[AttendanceRecord]:
        """A student's records in time order; ``before`` is exclusive (history before a session)."""
        lo = iso(since) if since else "0"
        hi = iso(before) if before else "9999"
        items = self.records.query(
            self.records.key("STUDENT", check_id(student_id, "student_id"), "ATT"),
            index="gsi1",
            sk_between=(lo, hi),
        )
        return [r for r in map(record_from_item, items) if before is None or r.starts_at < before]

    def between(self, since: datetime, until: datetime) -> Iterator[AttendanceRecord]:
        """Every record of the organisation whose session starts in [since, until], in time order."""
        lo, hi = iso(since), iso(until) + "~"
        for m in months_between(since, until):
            for item in self.records.query(self.records.key("ATT", m), index="gsi2", sk_between=(lo, hi)):
                yield record_from_item(item)

    def latest_start(self, before: datetime, *, months: int = LATEST_SEARCH_MONTHS) -> datetime | None:
        """The start of the latest session with a record at or before ``before``: the month shards
        are read newest first, one item each, until one has a record (None after ``months``)."""
        hi = iso(before) + "~"
        year, mon = utc(before).year, utc(before).month
        for _ in range(months):
            pk = self.records.key("ATT", f"{year:04d}-{mon:02d}")
            for item in self.records.query(
                pk, index="gsi2", sk_between=("0", hi), newest_first=True, limit=1, attributes=("starts_at",)
            ):
                return parse_time(item["starts_at"])
            year, mon = (year - 1, 12) if mon == 1 else (year, mon - 1)
        return None

    def window(
        self,
        since: datetime,
        until: datetime,
        *,
        workers: int = 4,
        on_query: Callable[[int], None] | None = None,
    ) -> list[AttendanceRecord]:
        """Every record whose session starts in [since, until], in time order (see :meth:`window_items`)."""
        items = self.window_items(since, until, workers=workers, on_query=on_query)
        return [record_from_item(i) for i in items]

    def window_items(
        self,
        since: datetime,
        until: datetime,
        *,
        workers: int = 4,
        on_query: Callable[[int], None] | None = None,
    ) -> list[dict[str, Any]]:
        """The items of every record whose session starts in [since, until], in time order, read for
        analysis: only the fields a record holds (:data:`WINDOW_FIELDS`, about half of each item's
        bytes), one query per week slice of a month partition, ``workers`` slices at a time
        (``on_query(items)`` as each slice is read)."""
        parts = [(self.records.key("ATT", m), (lo, hi)) for m, lo, hi in week_slices(since, until)]
        pages = self.records.query_many(
            parts, index="gsi2", attributes=WINDOW_FIELDS, workers=workers, on_query=on_query
        )
        return [i for page in pages for i in page]

    def changed_items(self, since: datetime, until: datetime) -> list[dict[str, Any]]:
        """The items of the records last written in [since, until] (the writers' clocks), from the
        change index: one query per day. An item written again later is not among them (its
        entry moved to the later day); a deleted one is gone."""
        lo = iso(since)
        out: list[dict[str, Any]] = []
        day = utc(since).date()
        while day <= utc(until).date():
            out += self.records.query(
                self.records.key("ATTCHG", day.isoformat()),
                index="gsi3",
                sk_between=(lo, iso(until) + "~"),
                attributes=WINDOW_FIELDS,
            )
            day += timedelta(days=1)
        return out

    def delete_student(self, student_id: str) -> int:
        """Erase every attendance record of a student; returns how many."""
        keys = [
            (i["pk"], i["sk"])
            for i in self.records.query(
                self.records.key("STUDENT", check_id(student_id, "student_id"), "ATT"),
                index="gsi1",
                attributes=("pk", "sk"),
            )
        ]
        return self.records.batch_delete(keys)
