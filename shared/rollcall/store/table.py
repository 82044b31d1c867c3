"""The records table, as one organisation sees it.

One DynamoDB table holds every organisation's students, faces, sessions, attendance,
predictions, jobs, anomalies and audit entries (single-table design). Every partition key, and
every index partition key, starts with ``ORG#<org>#``; :class:`OrgRecords` builds those keys and
refuses any item or query whose key is not its organisation's, so organisation isolation does not
depend on each caller remembering it.

Keys (``pk``/``sk``; indexes ``gsi1`` and ``gsi2`` on ``gsi1pk/gsi1sk`` and ``gsi2pk/gsi2sk``;
``expires_at`` is the TTL attribute, epoch seconds) are documented next to the repository that
writes each kind of item; the org directory (``ORGS``) is the one partition outside any org.

Values: str, int, float, bool, None, bytes, lists, dicts and sets of str. Numbers come back as
int when integral in the store, float otherwise (no ``Decimal`` leaks out of this module).
"""

from __future__ import annotations

import math
import time
from base64 import b64decode
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from rollcall.platform.auth.principal import ID_PATTERN
from rollcall.platform.errors import InvalidInput, WrongOrganisation
from rollcall.store import bulk, clients
from rollcall.store.client_errors import CONDITION_FAILED, error_code, translate, translated
from rollcall.store.wire import raw_items

KEY_ATTRIBUTES = ("pk", "gsi1pk", "gsi2pk")
INDEXES = {"gsi1": ("gsi1pk", "gsi1sk"), "gsi2": ("gsi2pk", "gsi2sk"), "gsi3": ("gsi3pk", "gsi3sk")}
TTL_ATTRIBUTE = "expires_at"
DIRECTORY_PK = "ORGS"

QueryPart = tuple[str, tuple[str, str] | None]  # (pk, sort-key range or the whole partition)


# --- attribute values ----------------------------------------------------------------------------


def to_attr(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput("numbers must be finite")
        return {"N": repr(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"B": bytes(value)}
    if isinstance(value, Mapping):
        return {"M": {str(k): to_attr(v) for k, v in value.items()}}
    if isinstance(value, set | frozenset):
        if not value:
            raise InvalidInput("empty sets cannot be stored")
        return {"SS": sorted(str(v) for v in value)}
    if isinstance(value, list | tuple):
        return {"L": [to_attr(v) for v in value]}
    raise TypeError(f"cannot store a {type(value).__name__}")


def _number(text: str) -> int | float:
    if "." in text or "e" in text or "E" in text:
        number = float(text)
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    return int(text)


def from_attr(attr: Mapping[str, Any]) -> Any:
    ((kind, value),) = attr.items()
    if kind == "S":
        return value
    if kind == "N":
        return _number(value)
    if kind == "BOOL":
        return value
    if kind == "NULL":
        return None
    if kind == "B":  # bytes from botocore's parse, base64 text read raw (rollcall.store.wire)
        return b64decode(value) if isinstance(value, str) else bytes(value)
    if kind == "M":
        return {k: from_attr(v) for k, v in value.items()}
    if kind == "L":
        return [from_attr(v) for v in value]
    if kind == "SS":
        return set(value)
    if kind == "NS":
        return {_number(v) for v in value}
    if kind == "BS":
        return {b64decode(v) if isinstance(v, str) else bytes(v) for v in value}
    raise TypeError(f"unknown attribute type {kind}")


def to_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: to_attr(v) for k, v in item.items()}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: from_attr(v) for k, v in item.items()}


# --- keys ----------------------------------------------------------------------------------------


def check_id(value: str, what: str = "id") -> str:
    """Ids go inside keys: letters, digits, ``_ . -``; 1 to 64 characters."""
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise InvalidInput(
            f"{what} must be 1-64 characters of letters, digits, '_', '.', '-'", code="INVALID_ID"
        )
    return value


def ttl_after(seconds: float, now: float | None = None) -> int:
    """The ``expires_at`` value ``seconds`` from now (epoch seconds, as DynamoDB TTL wants)."""
    return int((now if now is not None else time.time()) + seconds)


class OrgRecords:
    """The records table restricted to one organisation.

    Build keys with :meth:`key` (``key("STUDENT", sid)`` → ``ORG#<org>#STUDENT#<sid>``); every
    write checks that ``pk``, ``gsi1pk`` and ``gsi2pk`` belong to this organisation, every query
    that its partition does.
    """

    def __init__(self, org: str, table: str, *, client: Any = None) -> None:
        self.org = check_id(org, "organisation")
        self.table = table
        self.prefix = f"ORG#{org}#"
        self.client = client

    client = clients.Client("dynamodb")

    # keys

    def key(self, *parts: str) -> str:
        for part in parts:
            if not part or "#" in part:
                raise InvalidInput(f"key part {part!r} is empty or contains '#'", code="INVALID_ID")
        return self.prefix + "#".join(parts)

    def owns(self, key: str) -> bool:
        return key.startswith(self.prefix)

    def _check_item(self, item: Mapping[str, Any]) -> None:
        if "pk" not in item or "sk" not in item:
            raise ValueError("an item needs pk and sk")
        for name in KEY_ATTRIBUTES:
            value = item.get(name)
            if value is not None and not self.owns(value):
                raise WrongOrganisation(f"{name} is outside organisation {self.org}")

    def _check_key(self, pk: str) -> None:
        if not self.owns(pk):
            raise WrongOrganisation(f"key outside organisation {self.org}")

    def _call(self, operation: str, what: str, **kwargs: Any) -> dict[str, Any]:
        with translated(what):
            return getattr(self.client, operation)(TableName=self.table, **kwargs)

    # writes

    def put(self, item: Mapping[str, Any], *, if_absent: bool = False) -> bool:
        """Write an item; with ``if_absent``, only if no item has its key (False if one has)."""
        self._check_item(item)
        kwargs: dict[str, Any] = {"Item": to_item(item)}
        if if_absent:
            kwargs["ConditionExpression"] = "attribute_not_exists(pk)"
        try:
            self.client.put_item(TableName=self.table, **kwargs)
        except Exception as e:
            if if_absent and error_code(e) in CONDITION_FAILED:
                return False
            if error_code(e) is None:
                raise
            raise translate(e, what="write record") from e
        return True

    def update(
        self,
        pk: str,
        sk: str,
        changes: Mapping[str, Any],
        *,
        remove: Iterable[str] = (),
        condition: str | None = None,
        values: Mapping[str, Any] | None = None,
        names: Mapping[str, str] | None = None,
        set_expression: str | None = None,
    ) -> dict[str, Any]:
        """Set ``changes`` (and remove ``remove``) on one item; returns the item after the update.

        ``condition`` is a DynamoDB condition expression over ``values`` (``:name`` placeholders)
        and ``names`` (``#name``); a failed condition raises ConcurrentUpdate. ``set_expression``
        adds a raw SET clause (counters: ``n = if_not_exists(n, :zero) + :one``).
        """
        self._check_key(pk)
        for name in KEY_ATTRIBUTES:
            if name in changes and changes[name] is not None and not self.owns(changes[name]):
                raise WrongOrganisation(f"{name} is outside organisation {self.org}")
        attr_names = dict(names or {})
        attr_values = {k: to_attr(v) for k, v in (values or {}).items()}
        sets = []
        for i, (field, value) in enumerate(changes.items()):
            attr_names[f"#u{i}"] = field
            attr_values[f":u{i}"] = to_attr(value)
            sets.append(f"#u{i} = :u{i}")
        if set_expression:
            sets.append(set_expression)
        removes = []
        for i, field in enumerate(remove):
            attr_names[f"#r{i}"] = field
            removes.append(f"#r{i}")
        expression = " ".join(
            part
            for part in (
                "SET " + ", ".join(sets) if sets else "",
                "REMOVE " + ", ".join(removes) if removes else "",
            )
            if part
        )
        kwargs: dict[str, Any] = {
            "Key": to_item({"pk": pk, "sk": sk}),
            "UpdateExpression": expression,
            "ReturnValues": "ALL_NEW",
        }
        if attr_names:
            kwargs["ExpressionAttributeNames"] = attr_names
        if attr_values:
            kwargs["ExpressionAttributeValues"] = attr_values
        if condition:
            kwargs["ConditionExpression"] = condition
        response = self._call("update_item", "update record", **kwargs)
        return from_item(response.get("Attributes", {}))

    def delete(self, pk: str, sk: str) -> dict[str, Any] | None:
        """Delete one item; returns it as it was, or None if there was none."""
        self._check_key(pk)
        response = self._call(
            "delete_item", "delete record", Key=to_item({"pk": pk, "sk": sk}), ReturnValues="ALL_OLD"
        )
        old = response.get("Attributes")
        return from_item(old) if old else None

    def batch_put(
        self, items: Iterable[Mapping[str, Any]], *, on_chunk: Callable[[int], None] | None = None
    ) -> int:
        """Write many items (``rollcall.store.bulk``: 25 a request, unprocessed ones retried with
        backoff, BatchIncomplete if some stay unprocessed); returns the count."""
        requests = []
        for item in items:
            self._check_item(item)
            requests.append({"PutRequest": {"Item": to_item(item)}})
        return bulk.batch_write(self.client, self.table, requests, on_chunk=on_chunk)

    def batch_delete(self, keys: Iterable[tuple[str, str]]) -> int:
        requests = []
        for pk, sk in keys:
            self._check_key(pk)
            requests.append({"DeleteRequest": {"Key": to_item({"pk": pk, "sk": sk})}})
        return bulk.batch_write(self.client, self.table, requests)

    # reads

    def get(self, pk: str, sk: str, *, consistent: bool = False) -> dict[str, Any] | None:
        self._check_key(pk)
        response = self._call(
            "get_item", "read record", Key=to_item({"pk": pk, "sk": sk}), ConsistentRead=consistent
        )
        item = response.get("Item")
        return from_item(item) if item else None

    def batch_get(
        self,
        keys: Iterable[tuple[str, str]],
        *,
        attributes: Iterable[str] | None = None,
        consistent: bool = False,
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """The items of ``keys`` that exist (BatchGetItem, 100 a request), by (pk, sk)."""
        wire = []
        for pk, sk in dict.fromkeys(keys):
            self._check_key(pk)
            wire.append(to_item({"pk": pk, "sk": sk}))
        found = bulk.batch_get(
            self.client,
            self.table,
            wire,
            attributes=list(attributes) if attributes is not None else None,
            consistent=consistent,
        )
        return {(i["pk"]["S"], i["sk"]["S"]): from_item(i) for i in found}

    def query_many(
        self,
        parts: Iterable[QueryPart],
        *,
        index: str | None = None,
        attributes: Iterable[str] | None = None,
        workers: int = bulk.WORKERS,
        on_query: Callable[[int], None] | None = None,
    ) -> list[list[dict[str, Any]]]:
        """Several queries at once (``workers`` threads), each read to its end; their items in order.

        A part is ``(pk, (low, high))``: the partition and its sort-key range (BETWEEN), or
        ``(pk, None)`` for the whole partition. ``attributes`` projects every query.
        """
        requests = [
            self._query_request(pk, sk_between=between, index=index, attributes=attributes)
            for pk, between in parts
        ]
        pages = bulk.parallel_queries(self.client, requests, workers=workers, on_query=on_query)
        return [[from_item(i) for i in items] for items in pages]

    def _query_request(
        self,
        pk: str,
        *,
        sk_prefix: str | None = None,
        sk_between: tuple[str, str] | None = None,
        index: str | None = None,
        newest_first: bool = False,
        consistent: bool = False,
        attributes: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        self._check_key(pk)
        pk_name, sk_name = INDEXES[index] if index else ("pk", "sk")
        condition = "#pk = :pk"
        names = {"#pk": pk_name}
        values: dict[str, Any] = {":pk": {"S": pk}}
        if sk_prefix is not None:
            condition += " AND begins_with(#sk, :sk)"
            names["#sk"] = sk_name
            values[":sk"] = {"S": sk_prefix}
        elif sk_between is not None:
            condition += " AND #sk BETWEEN :lo AND :hi"
            names["#sk"] = sk_name
            values[":lo"], values[":hi"] = {"S": sk_between[0]}, {"S": sk_between[1]}
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": not newest_first,
        }
        if index:
            kwargs["IndexName"] = index
        elif consistent:
            kwargs["ConsistentRead"] = True
        if attributes is not None:
            projected = list(attributes)
            for i, name in enumerate(projected):
                names[f"#a{i}"] = name
            kwargs["ProjectionExpression"] = ", ".join(f"#a{i}" for i in range(len(projected)))
        return kwargs

    def query(
        self,
        pk: str,
        *,
        sk_prefix: str | None = None,
        sk_between: tuple[str, str] | None = None,
        index: str | None = None,
        newest_first: bool = False,
        limit: int | None = None,
        consistent: bool = False,
        attributes: Iterable[str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Items of one partition (of the table or of ``index``), sort-key ascending by default."""
        kwargs = self._query_request(
            pk,
            sk_prefix=sk_prefix,
            sk_between=sk_between,
            index=index,
            newest_first=newest_first,
            consistent=consistent,
            attributes=attributes,
        )
        del kwargs["TableName"]
        returned = 0
        while True:
            if limit is not None:
                kwargs["Limit"] = max(1, min(1000, limit - returned))
            with raw_items(self.client):
                response = self._call("query", "query records", **kwargs)
            for item in response.get("Items", []):
                yield from_item(item)
                returned += 1
                if limit is not None and returned >= limit:
                    return
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last

    def query_page(
        self,
        pk: str,
        *,
        sk_name: str,
        sk_between: tuple[str, str],
        limit: int,
        after: str | None = None,
        index: str | None = None,
    ) -> tuple[list[dict[str, Any]], bool]:
        """One page of a partition in sort-key order: up to ``limit`` items whose sort key is in
        ``sk_between`` and after ``after`` (the previous page's last key, exclusive), and whether
        more follow. One query of ``limit`` + 2 items at most (the one at ``after`` is skipped)."""
        lo, hi = sk_between
        if after is not None:
            lo = max(lo, after)
        if lo > hi:
            return [], False
        items = [
            i
            for i in self.query(pk, index=index, sk_between=(lo, hi), limit=limit + 2)
            if after is None or i[sk_name] != after
        ]
        return items[:limit], len(items) > limit


class OrgDirectory:
    """The list of organisations that have data (for jobs that visit every organisation)."""

    def __init__(self, table: str, *, client: Any = None) -> None:
        self.table = table
        self.client = client

    client = clients.Client("dynamodb")

    def register(self, org: str) -> None:
        check_id(org, "organisation")
        try:
            self.client.put_item(
                TableName=self.table,
                Item=to_item(
                    {"pk": DIRECTORY_PK, "sk": f"ORG#{org}", "org": org, "registered_at": int(time.time())}
                ),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except Exception as e:
            if error_code(e) in CONDITION_FAILED:
                return
            if error_code(e) is None:
                raise
            raise translate(e, what="register organisation") from e

    def knows(self, org: str) -> bool:
        """Whether ``org`` has ever had data (is in the directory)."""
        with translated("read organisation"):
            response = self.client.get_item(
                TableName=self.table,
                Key=to_item({"pk": DIRECTORY_PK, "sk": f"ORG#{org}"}),
                ConsistentRead=True,
            )
        return "Item" in response

    def organisations(self) -> list[str]:
        orgs: list[str] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": DIRECTORY_PK}},
        }
        while True:
            with translated("list organisations"):
                response = self.client.query(**kwargs)
            orgs.extend(item["org"]["S"] for item in response.get("Items", []))
            if not response.get("LastEvaluatedKey"):
                return orgs
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
