"""Opaque page cursors bound to the organisation and the query that answered them.

A listing answers ``next_cursor``; the client passes it back as ``?cursor=`` for the next page. The
cursor carries the last sort key of the page, the organisation and a fingerprint of the query's
filters (not the page size: a client may change ``limit`` between pages). Anything else given as a
cursor (garbage, a cursor of another organisation, or of the same listing with other filters, or of
another listing) is refused with 400 INVALID_CURSOR rather than silently read as page one.

The cursor is not secret and not signed: every key is scoped by organisation in the store anyway
(``rollcall.store.table.OrgRecords``), so a forged cursor can at most skip within the caller's own
organisation's listing. The binding is there so that a client's mistake is an error, not a wrong page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Mapping

from rollcall.platform.errors import InvalidCursor

VERSION = 1
MAX_CURSOR_CHARS = 512


def fingerprint(listing: str, filters: Mapping[str, str | None]) -> str:
    """A short stable digest of a listing's name and filters (None and absent are the same)."""
    canonical = json.dumps(
        [listing, sorted((k, v) for k, v in filters.items() if v is not None)], separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode(org: str, query: str, key: str) -> str:
    """The cursor of a page ending at sort key ``key`` of ``query`` (a :func:`fingerprint`)."""
    raw = json.dumps({"v": VERSION, "o": org, "q": query, "k": key}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _refuse(why: str) -> InvalidCursor:
    return InvalidCursor({"message": f"cursor is not the next_cursor of a page of this listing: {why}",
                          "parameter": "cursor"})  # fmt: skip


def decode(org: str, query: str, cursor: str, *, valid_key: Callable[[str], bool]) -> str:
    """The sort key a cursor made by :func:`encode` for ``org`` and ``query`` carries.

    400 INVALID_CURSOR when it is not such a cursor or its key fails ``valid_key``."""
    if len(cursor) > MAX_CURSOR_CHARS:
        raise _refuse("too long")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        body = json.loads(raw.decode())
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise _refuse("not a cursor") from None
    if not isinstance(body, dict) or body.get("v") != VERSION or not isinstance(body.get("k"), str):
        raise _refuse("not a cursor")
    if body.get("o") != org:
        raise _refuse("made for another organisation")
    if body.get("q") != query:
        raise _refuse("made for another query (the filters differ)")
    if not valid_key(body["k"]):
        raise _refuse("not a position in this listing")
    return str(body["k"])
