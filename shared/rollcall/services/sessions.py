"""Sessions as a client lists and removes them: the paged listing and deletion.

Listing (:func:`list_sessions`) reads an index partition, never the table: a class's sessions
from gsi1 (``ORG#o#CLASS#<class>#SESSIONS``), the organisation's from the gsi2 month shards
(``ORG#o#SESSIONS#<yyyy-mm>``) of the window asked for, in order of start. Pages are cut by an
opaque cursor bound to the organisation and the filters (``rollcall.platform.cursors``).

Deleting a session (:func:`delete_session`) deletes everything that hangs off it: its attendance
records, its marking events and its kept classroom photos. A session is deleted because it should
not have existed (created twice, the wrong class or day), so records of it would only be noise in
predictions, histories and anomaly scans; keeping them orphaned would leave records no session
route can reach. The audit log keeps that the deletion happened (who, when, the session's class
and times, the counts), not the records. Predictions already made for it and anomalies that name it
are kept: they are what was said at the time.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

from rollcall.domain import Session, iso, parse_time, utc
from rollcall.platform import cursors
from rollcall.platform.auth import Principal
from rollcall.platform.errors import InvalidInput, NotFound
from rollcall.platform.observability import count
from rollcall.store.attendance import SessionRepo
from rollcall.store.audit import SESSION_DELETED, AuditLog
from rollcall.store.photos import PhotoStore
from rollcall.store.table import OrgRecords, check_id

LISTING = "sessions"
DEFAULT_WINDOW = timedelta(days=30)  # without class_id: from defaults to 30 days before now, ...
MAX_WINDOW = timedelta(days=366)  # ... and the window spans at most a year (one query per month)
DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SORT_KEY = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z#[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


def parse_bound(value: str | None, parameter: str, *, end_of_day: bool) -> datetime | None:
    """A ``from``/``to`` query value: a date (``2026-03-02``: the day's start, or its end for
    ``to``) or an ISO-8601 time (``Z``, an offset, or none: UTC). 400 INVALID_DATE otherwise."""
    if value is None:
        return None
    try:
        if DATE_ONLY.match(value):
            day = datetime.fromisoformat(value).date()
            return utc(datetime.combine(day, time(23, 59, 59) if end_of_day else time(0)))
        return parse_time(value)
    except ValueError:
        raise InvalidInput(
            {
                "message": f"{parameter} is not a date (YYYY-MM-DD) or an ISO-8601 time",
                "parameter": parameter,
            },
            code="INVALID_DATE",
        ) from None


def window(
    class_id: str | None, since: datetime | None, until: datetime | None, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """The window a listing reads: open-ended for a class; for the organisation at most
    :data:`MAX_WINDOW`, by default the 30 days either side of now (60 days from ``from``, or up to
    ``to``). 400 INVALID_DATE_RANGE when ``from`` is after ``to`` or the window is too wide."""
    if class_id is None:
        if since is None and until is None:
            since, until = now - DEFAULT_WINDOW, now + DEFAULT_WINDOW
        elif until is None:
            assert since is not None
            until = since + 2 * DEFAULT_WINDOW
        elif since is None:
            since = until - 2 * DEFAULT_WINDOW
        assert since is not None and until is not None
        if until - since > MAX_WINDOW:
            raise InvalidInput(
                {"message": "without class_id, from and to may be at most 366 days apart",
                 "from": iso(since), "to": iso(until)},
                code="INVALID_DATE_RANGE",
            )  # fmt: skip
    if since is not None and until is not None and since > until:
        raise InvalidInput(
            {"message": "from is after to", "from": iso(since), "to": iso(until)}, code="INVALID_DATE_RANGE"
        )
    return since, until


def list_sessions(
    records: OrgRecords,
    *,
    class_id: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    cursor: str | None,
    now: datetime,
) -> tuple[list[Session], str | None]:
    """A page of sessions in order of start, and the next page's cursor (None on the last).

    400 INVALID_CURSOR for a cursor that is not this listing's (another organisation's, other
    filters'), INVALID_DATE_RANGE for a window that cannot be read (see :func:`window`)."""
    if class_id is not None:
        check_id(class_id, "class_id")
    query = cursors.fingerprint(
        LISTING,
        {
            "class_id": class_id,
            "from": iso(since) if since else None,
            "to": iso(until) if until else None,
        },
    )
    after = (
        None
        if cursor is None
        else cursors.decode(records.org, query, cursor, valid_key=lambda k: bool(SORT_KEY.match(k)))
    )
    lo, hi = window(class_id, since, until, now)
    repo = SessionRepo(records)
    if class_id is not None:
        page, more = repo.page_of_class(class_id, lo, hi, limit=limit, after=after)
    else:
        assert lo is not None and hi is not None
        page, more = repo.page_between(lo, hi, limit=limit, after=after)
    last = f"{iso(page[-1].starts_at)}#{page[-1].session_id}" if page else None
    return page, cursors.encode(records.org, query, last) if more and last else None


def delete_session(
    records: OrgRecords,
    who: Principal,
    session_id: str,
    photos: PhotoStore,
    *,
    now: datetime,
) -> dict[str, int]:
    """Delete a session, its attendance records, marking events and kept photos (404
    SESSION_NOT_FOUND); the counts by kind. Audit-logged: the anomaly scan's cached window drops
    the session's rows when it reads the entry (``rollcall.services.scanning``)."""
    repo = SessionRepo(records)
    session = repo.require(session_id)
    kept_photos = photos.delete_session(session_id)  # before the events that say they were marked
    counts = repo.delete(session_id)
    if counts is None:  # deleted meanwhile by another call
        raise NotFound(f"no session {session_id}", code="SESSION_NOT_FOUND")
    counts["photos"] = kept_photos
    AuditLog(records).append(
        actor=who.sub,
        action=SESSION_DELETED,
        subject=f"session:{session_id}",
        at=now,
        details={
            "class_id": session.class_id,
            "starts_at": iso(session.starts_at),
            "ends_at": iso(session.ends_at),
            **counts,
        },
    )
    count("SessionDeleted")
    return counts
