"""Bulk reads and writes of the records table: batches of the API's sizes, retried, never dropped.

- :func:`batch_write`: BatchWriteItem, 25 requests a call. What the store answers as
  ``UnprocessedItems`` (throttling, a partition too hot) is sent again after an exponential
  backoff (50 ms doubling, at most 1 s, with jitter); after ``attempts`` calls for one chunk still
  leaving items, :class:`BatchIncomplete` (429 THROTTLED) names how many were left: nothing is
  dropped without the caller knowing. Chunks go out on ``workers`` threads (boto3 clients are
  thread-safe); every item is a put or a delete, so sending one again is harmless.
- :func:`batch_get`: BatchGetItem, 100 keys a call, ``UnprocessedKeys`` retried the same way;
  the items found, keyed by (pk, sk). Keys not found are simply absent from the answer.
- :func:`concurrently`: one-item writes that need a condition (BatchWriteItem takes none), on
  ``CONDITIONAL_WORKERS`` threads.
- :func:`parallel_queries`: many Query calls (each paged to its end) on a few threads, each with
  an optional projection; the items of each query in its own order, queries in the given order.

These take and return the wire format (``{"S": ...}`` attribute values; the items read come as
DynamoDB's JSON sent them, :mod:`rollcall.store.wire`): :class:`OrgRecords` checks keys and
converts (``batch_put``, ``batch_delete``, ``batch_get``, ``query_many``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rollcall.platform.errors import TooManyRequests
from rollcall.store.client_errors import translated
from rollcall.store.wire import raw_items

WRITE_CHUNK = 25  # BatchWriteItem's limit
GET_CHUNK = 100  # BatchGetItem's limit
ATTEMPTS = 8  # calls per chunk: about 2.5 s of backoff in all before giving up
WORKERS = 4  # threads per bulk operation, within the shared client's 32 pooled connections
CONDITIONAL_WORKERS = 16  # threads for one-item conditional writes (BatchWriteItem takes no condition)

Sleep = Callable[[float], None]


class BatchIncomplete(TooManyRequests):
    """Items (or keys) the store left unprocessed after every attempt; none was dropped silently."""

    def __init__(self, what: str, left: int, attempts: int) -> None:
        super().__init__(
            f"{what}: the store left {left} item(s) unprocessed after {attempts} attempts; "
            "the rest was done, retry the operation shortly (it is idempotent)"
        )
        self.left = left


def backoff_cap_for(attempt: int) -> float:
    """The longest wait after attempt ``attempt`` (0-based): 50 ms doubling, at most 1 s."""
    return min(1.0, 0.05 * 2**attempt)


def backoff(attempt: int) -> float:
    """Seconds to wait after attempt ``attempt`` (0-based): half to all of its cap (jitter)."""
    return backoff_cap_for(attempt) * (0.5 + random.random() / 2)


def chunks(seq: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


def batch_write(
    client: Any,
    table: str,
    requests: Sequence[dict[str, Any]],
    *,
    workers: int = WORKERS,
    attempts: int = ATTEMPTS,
    sleep: Sleep = time.sleep,
    on_chunk: Callable[[int], None] | None = None,
) -> int:
    """Send ``PutRequest``/``DeleteRequest`` entries in chunks of 25; returns how many were sent.

    ``on_chunk(n)`` is called as each chunk is done (progress). Raises :class:`BatchIncomplete`
    when a chunk still has unprocessed items after ``attempts`` calls.
    """

    def send(chunk: Sequence[dict[str, Any]]) -> int:
        pending: dict[str, Any] = {table: list(chunk)}
        for attempt in range(attempts):
            with translated("batch write"):
                response = client.batch_write_item(RequestItems=pending)
            pending = {t: r for t, r in (response.get("UnprocessedItems") or {}).items() if r}
            if not pending:
                if on_chunk is not None:
                    on_chunk(len(chunk))
                return len(chunk)
            if attempt + 1 < attempts:
                sleep(backoff(attempt))
        raise BatchIncomplete("batch write", sum(len(r) for r in pending.values()), attempts)

    return _run(send, list(chunks(requests, WRITE_CHUNK)), workers)


def batch_get(
    client: Any,
    table: str,
    keys: Sequence[dict[str, Any]],
    *,
    attributes: Sequence[str] | None = None,
    consistent: bool = False,
    workers: int = WORKERS,
    attempts: int = ATTEMPTS,
    sleep: Sleep = time.sleep,
) -> list[dict[str, Any]]:
    """The items of ``keys`` (wire-format ``{"pk", "sk"}``) that exist, 100 keys a call, any order.

    ``attributes`` projects (the key attributes are always added, to say which item is which).
    Raises :class:`BatchIncomplete` when keys stay unprocessed after ``attempts`` calls.
    """
    spec: dict[str, Any] = {"ConsistentRead": consistent}
    if attributes is not None:
        names = list(dict.fromkeys(["pk", "sk", *attributes]))
        spec["ExpressionAttributeNames"] = {f"#a{i}": n for i, n in enumerate(names)}
        spec["ProjectionExpression"] = ", ".join(f"#a{i}" for i in range(len(names)))

    def fetch(chunk: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        pending: dict[str, Any] = {table: {**spec, "Keys": list(chunk)}}
        for attempt in range(attempts):
            with translated("batch read"), raw_items(client):
                response = client.batch_get_item(RequestItems=pending)
            found.extend(response.get("Responses", {}).get(table, []))
            pending = {t: r for t, r in (response.get("UnprocessedKeys") or {}).items() if r.get("Keys")}
            if not pending:
                return found
            if attempt + 1 < attempts:
                sleep(backoff(attempt))
        raise BatchIncomplete("batch read", sum(len(r["Keys"]) for r in pending.values()), attempts)

    parts = list(chunks(keys, GET_CHUNK))
    if len(parts) <= 1 or workers <= 1:
        return [i for part in parts for i in fetch(part)]
    with ThreadPoolExecutor(min(workers, len(parts))) as pool:
        return [i for found in pool.map(fetch, parts) for i in found]


def query_all(client: Any, request: dict[str, Any]) -> list[dict[str, Any]]:
    """Every item of one Query (``request`` without ``TableName``'s paging), page after page."""
    kwargs = dict(request)
    items: list[dict[str, Any]] = []
    while True:
        with translated("query records"), raw_items(client):
            response = client.query(**kwargs)
        items.extend(response.get("Items", []))
        last = response.get("LastEvaluatedKey")
        if not last:
            return items
        kwargs["ExclusiveStartKey"] = last


def parallel_queries(
    client: Any,
    requests: Sequence[dict[str, Any]],
    *,
    workers: int = WORKERS,
    on_query: Callable[[int], None] | None = None,
) -> list[list[dict[str, Any]]]:
    """Run each Query of ``requests`` to its last page on ``workers`` threads; their items, in order.

    ``on_query(n)`` is called with the item count of each query as it finishes (progress).
    """

    def run(request: dict[str, Any]) -> list[dict[str, Any]]:
        items = query_all(client, request)
        if on_query is not None:
            on_query(len(items))
        return items

    if len(requests) <= 1 or workers <= 1:
        return [run(r) for r in requests]
    with ThreadPoolExecutor(min(workers, len(requests))) as pool:
        return list(pool.map(run, requests))


def concurrently[T, R](
    fn: Callable[[T], R], items: Iterable[T], *, workers: int = CONDITIONAL_WORKERS
) -> list[R]:
    """``fn`` of each item on up to ``workers`` threads (one-item writes that need a condition);
    the results in the items' order. The first error is raised once every call has ended."""
    pending = list(items)
    if len(pending) <= 1 or workers <= 1:
        return [fn(i) for i in pending]
    with ThreadPoolExecutor(min(workers, len(pending))) as pool:
        return list(pool.map(fn, pending))


def _run(
    send: Callable[[Sequence[dict[str, Any]]], int], parts: list[Sequence[dict[str, Any]]], workers: int
) -> int:
    if len(parts) <= 1 or workers <= 1:
        return sum(send(p) for p in parts)
    with ThreadPoolExecutor(min(workers, len(parts))) as pool:
        return sum(pool.map(send, parts))
