"""Reads at DynamoDB's pace from the embedded emulator (moto), for seeded organisations.

moto answers every Query by sorting all the items of the table and testing each one (about
20 µs an item), and serialises every attribute of every item it returns by walking botocore's
shape model (about 2 ms an item): on a seeded organisation (150,000 items) one Query of a
student's records takes seconds where DynamoDB takes milliseconds. :func:`install` changes two
things, in this process:

1. Query looks only at the candidates of the queried partition and, when the key condition
   compares the sort key with strings (=, <, <=, >, >=, BETWEEN, begins_with), only at those
   whose sort key satisfies it, as DynamoDB reads only the items of the key range; a page after
   the first (``ExclusiveStartKey``) starts at the previous page's last sort key, so paging through
   a partition costs its size once, not once per page; and moto is given only the candidates that
   more than fill the page (it sorts and walks every candidate it is given, for each page):

- table (and local index) queries: the items of the hash key, which moto keeps in a dict;
- global index queries: the items whose index hash attribute has the queried value, from a map
  kept per table and attribute (built on the first query, then updated by every put and update;
  batch and transaction writes go through those).

moto's own query code still runs on the candidates (key conditions, sort, paging, filters,
projections), so its answers are unchanged. Candidates are looked up in the table at query time:
a map entry left behind by a delete or a changed attribute only adds a candidate that moto's
conditions then drop; no write can make the map miss an item.

2. A projection of top-level attributes (``ProjectionExpression: "a, b"``) copies those
   attributes; moto rebuilds every item through plain JSON for any projection (about 1 ms an
   item), making a projected read slower than reading whole items.
3. An item is built with its size checked once (moto checks the whole item again for each
   attribute it adds: quadratic in the attributes, most of the cost of a write or a projection);
   the limit and the error are moto's own.
4. The answers of Query, Scan, GetItem and BatchGetItem, which moto has already made plain
   JSON-shaped values (binary values as bytes), are written with ``json.dumps`` (bytes as base64,
   as the wire format has them) instead of the shape walk. Anything else takes moto's own path.
5. Single-item writes (put, update, delete, with their conditions) are atomic, as on DynamoDB.
"""

from __future__ import annotations

import base64
import inspect
import json
import threading
from collections import defaultdict
from typing import Any

_installed = False
_lock = threading.RLock()
# moto checks a write's condition and then writes, in Python, on whichever server thread serves
# the request: two conditional puts of one key could both pass. DynamoDB applies each write to an
# item atomically; one lock around moto's writes gives the same (conditional writes then decide
# races as they do on AWS).
_writes = threading.RLock()
_local = threading.local()

Key = tuple[Any, Any]  # (hash DynamoType, range DynamoType | None)
PLAIN_ANSWERS = frozenset({"Query", "Scan", "GetItem", "BatchGetItem"})
ITEM_SIZE_LIMIT = 405_000  # moto's (DynamoDB's 400 KB, measured between 409 and 410 KB)


def install() -> None:  # noqa: C901  (one closure per patched moto method, over its original)
    """Patch moto's DynamoDB Table (idempotent; affects this process)."""
    global _installed
    with _lock:
        if _installed:
            return
        from moto.dynamodb.exceptions import ItemSizeTooLarge
        from moto.dynamodb.models import DynamoDBBackend
        from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
        from moto.dynamodb.models.table import Table
        from moto.dynamodb.models.utilities import bytesize
        from moto.dynamodb.responses import DynamoResult

        original_query = Table.query
        original_all_items = Table.all_items
        original_put = Table.put_item
        original_update = DynamoDBBackend.update_item
        original_delete = DynamoDBBackend.delete_item
        original_execute = DynamoResult.execute_result
        original_project = Item.project
        signature = inspect.signature(original_query)

        def all_items(self: Any) -> Any:
            override = getattr(_local, "candidates", None)
            if override is not None and override[0] is self:
                return override[1]
            return original_all_items(self)

        def query(self: Any, *args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(self, *args, **kwargs).arguments
            candidates = _candidates(self, bound)
            if candidates is not None:
                conditions = bound.get("range_key_conditions")
                candidates = _in_range(candidates, conditions)
                forward = bound.get("scan_index_forward", True) is not False
                candidates = _after_start(candidates, conditions, bound.get("exclusive_start_key"), forward)
                if not bound.get("filter_expression"):
                    candidates = _one_page(candidates, conditions, forward, bound.get("limit"))
            if candidates is None:
                return original_query(self, *args, **kwargs)
            _local.candidates = (self, candidates)
            try:
                return original_query(self, *args, **kwargs)
            finally:
                _local.candidates = None

        def put_item(self: Any, *args: Any, **kwargs: Any) -> Any:
            with _writes:
                item = original_put(self, *args, **kwargs)
            _note(self, item)
            return item

        def update_item(self: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
            with _writes:
                item = original_update(self, table_name, *args, **kwargs)
            _note(self.get_table(table_name), item)
            return item

        def delete_item(self: Any, *args: Any, **kwargs: Any) -> Any:
            with _writes:
                return original_delete(self, *args, **kwargs)

        def execute_result(self: Any, context: Any) -> Any:
            if context.operation_model.name in PLAIN_ANSWERS and not isinstance(self.result, Exception):
                try:
                    body = json.dumps(self.result, default=_wire_bytes, separators=(",", ":"))
                except TypeError:
                    return original_execute(self, context)
                return 200, {"Content-Type": "application/x-amz-json-1.0"}, body
            return original_execute(self, context)

        def project(self: Any, projection_expressions: list[list[str]]) -> Any:
            if not all(len(path) == 1 for path in projection_expressions):
                return original_project(self, projection_expressions)
            names = [path[0] for path in projection_expressions]
            attrs = {name: self.attrs[name] for name in names if name in self.attrs}
            return Item(hash_key=self.hash_key, range_key=self.range_key, attrs=attrs)

        def item_init(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
            self.hash_key = hash_key
            self.range_key = range_key
            built = {key: DynamoType(value) for key, value in attrs.items()}
            size = sum(bytesize(key) + value.size() for key, value in built.items())
            if size > ITEM_SIZE_LIMIT:
                raise ItemSizeTooLarge
            self.attrs = LimitedSizeDict()
            dict.update(self.attrs, built)  # no per-attribute check: the whole item was checked

        Table.all_items = all_items  # type: ignore[method-assign]
        Table.query = query  # type: ignore[method-assign]
        Table.put_item = put_item  # type: ignore[method-assign]
        DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]
        DynamoDBBackend.delete_item = delete_item  # type: ignore[method-assign]
        DynamoResult.execute_result = execute_result  # type: ignore[method-assign]
        Item.project = project  # type: ignore[method-assign]
        Item.__init__ = item_init  # type: ignore[method-assign]
        _installed = True


def _wire_bytes(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    raise TypeError(f"not JSON: {type(value).__name__}")


def _value_key(value: Any) -> tuple[str, Any] | None:
    raw = getattr(value, "value", None)
    if isinstance(raw, str | bytes | int | float):
        return (value.type, raw)
    return None


def _maps(table: Any) -> dict[str, dict[tuple[str, Any], set[Key]]]:
    maps = table.__dict__.get("_rollcall_index")
    if maps is None:
        maps = table.__dict__.setdefault("_rollcall_index", {})
    return maps


def _items(table: Any) -> Any:
    for hash_set in list(table.items.values()):
        if table.range_key_attr:
            yield from list(hash_set.values())
        else:
            yield hash_set


def _map_of(table: Any, attribute: str) -> dict[tuple[str, Any], set[Key]]:
    """The map of ``attribute`` (value → item keys), built from the table on first use."""
    maps = _maps(table)
    found = maps.get(attribute)
    if found is None:
        found = defaultdict(set)
        for item in _items(table):
            value = _value_key(item.attrs.get(attribute))
            if value is not None:
                found[value].add((item.hash_key, item.range_key))
        maps[attribute] = found
    return found


def _note(table: Any, item: Any) -> None:
    """Add a written item to every map already built (the maps built later will see it)."""
    if item is None:
        return
    with _lock:
        for attribute, mapping in _maps(table).items():
            value = _value_key(item.attrs.get(attribute))
            if value is not None:
                mapping[value].add((item.hash_key, item.range_key))


def _lookup(table: Any, keys: set[Key]) -> list[Any]:
    out = []
    for hash_key, range_key in list(keys):
        hash_set = table.items.get(hash_key)
        if hash_set is None:
            continue
        item = hash_set.get(range_key) if table.range_key_attr else hash_set
        if item is not None:
            out.append(item)
    return out


def _candidates(table: Any, bound: dict[str, Any]) -> list[Any] | None:
    """The items a Query can return, or None to let moto look at every item."""
    index_name = bound.get("index_name")
    hash_key = bound.get("hash_key")
    if not index_name:
        if hash_key is None:
            return None
        hash_set = table.items.get(hash_key)
        if hash_set is None:
            return []
        return list(hash_set.values()) if table.range_key_attr else [hash_set]
    conditions = bound.get("hash_key_conditions") or []
    if len(conditions) != 1:
        return None
    attribute, value = conditions[0]
    value_key = _value_key(value)
    if value_key is None:
        return None
    with _lock:
        keys = set(_map_of(table, attribute).get(value_key, ()))
    return _lookup(table, keys)


RANGE_TESTS: dict[str, Any] = {
    "=": lambda value, other: value == other,
    "<": lambda value, other: value < other,
    "<=": lambda value, other: value <= other,
    ">": lambda value, other: value > other,
    ">=": lambda value, other: value >= other,
    "BETWEEN": lambda value, low, high: low <= value <= high,
    "BEGINS_WITH": lambda value, prefix: value.startswith(prefix),
}


def _strings(values: Any) -> list[str] | None:
    """The string operands of a key condition (as dicts or moto's DynamoType), or None."""
    out = []
    for value in values or []:
        if isinstance(value, dict) and set(value) == {"S"}:
            out.append(value["S"])
        elif getattr(value, "type", None) == "S" and isinstance(getattr(value, "value", None), str):
            out.append(value.value)
        else:
            return None
    return out


def _in_range(candidates: list[Any], conditions: Any) -> list[Any]:
    """The candidates whose sort key satisfies the key condition's string comparisons.

    Python compares str by code point, which is the order of their UTF-8 bytes, DynamoDB's order
    for strings. A condition of another kind (numbers, binary) is left to moto's own code.
    """
    for name, comparison, values in conditions or []:
        test, operands = RANGE_TESTS.get(str(comparison).upper()), _strings(values)
        if test is None or operands is None:
            continue
        kept = []
        for item in candidates:
            attribute = item.attrs.get(name)
            if getattr(attribute, "type", None) == "S" and test(attribute.value, *operands):
                kept.append(item)
        candidates = kept
    return candidates


def _after_start(candidates: list[Any], conditions: Any, start: Any, forward: Any) -> list[Any]:
    """The candidates from the sort key of ``ExclusiveStartKey`` on, in the query's direction.

    Items with that very sort key are kept (an index's sort key need not be unique): moto's own
    code then skips up to the exact start item.
    """
    if not start or not conditions or not isinstance(start, dict):
        return candidates
    name = conditions[-1][0]
    at = _strings([start.get(name)]) if start.get(name) is not None else None
    if not at:
        return candidates
    (key,) = at
    kept = []
    for item in candidates:
        attribute = item.attrs.get(name)
        if getattr(attribute, "type", None) != "S":
            return candidates  # not a string sort key: left to moto
        if (attribute.value >= key) if forward else (attribute.value <= key):
            kept.append(item)
    return kept


def _one_page(candidates: list[Any], conditions: Any, forward: bool, limit: Any) -> list[Any]:
    """The first candidates in the query's order that more than fill one page (by size, or by
    ``Limit``), with every item tied on the sort key with the last: moto's page ends inside them,
    and moto orders ties itself. All candidates when they do not fill a page, or when the sort key
    is not a string on every candidate."""
    if not conditions:
        return candidates
    from moto.dynamodb.models.table import RESULT_SIZE_LIMIT

    name = conditions[-1][0]
    values = [getattr(item.attrs.get(name), "value", None) for item in candidates]
    if not all(isinstance(v, str) for v in values):
        return candidates
    ordered = sorted(range(len(candidates)), key=lambda i: str(values[i]), reverse=not forward)
    out: list[int] = []
    size = 0
    for i in ordered:
        full = size > RESULT_SIZE_LIMIT or (isinstance(limit, int) and len(out) > limit)
        if full and values[i] != values[out[-1]]:
            return [candidates[j] for j in out]
        out.append(i)
        size += candidates[i].size()
    return candidates
