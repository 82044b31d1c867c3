"""DynamoDB's JSON both ways without botocore's model walk: the bulk paths' largest client costs.

**Writing.** BatchWriteItem bodies are written by ``json.dumps``.

DynamoDB's protocol is JSON and its attribute values (``{"S": ...}``, ``{"N": "1"}``, ...) are
already the wire format, so a BatchWriteItem body is the request's parameters as JSON with blobs
in base64. botocore's serializer gets there by walking every attribute value against the service
model, about 240 µs of CPU per 20-attribute item on this machine: as much as everything else the
import does for a row (parsing the CSV, building the item) together (BENCHMARKS.md, bulk paths).

:func:`install` wraps a DynamoDB client's serializer so that BatchWriteItem (what
``rollcall.store.bulk.batch_write`` sends, 25 items a request) has its body made here; every other
operation, and the request's method, URL and headers, stay botocore's. The body is the same JSON
botocore makes (a test compares them, every attribute type included). botocore's parameter
validation is off for DynamoDB (``rollcall.store.clients``): the store validates every request
itself and answers ``ValidationException`` for what is malformed.

**Reading.** botocore parses every answer by walking the operation's output model, attribute value
by attribute value; for pages of items that walk is most of a read's client time (a 16-week window
read from the local DynamoDB: 59 µs of client CPU per item with it, 15 µs without). The items'
wire form is already what :func:`rollcall.store.table.from_item` converts, so the store's own reads
take the ``Items`` (``Query``) and ``Responses`` (``BatchGetItem``) of a successful answer
straight from its JSON (``json.loads``, in C) and let botocore parse only the rest (paging keys,
unprocessed keys, metadata). The one difference from botocore's parse: binary values (``B``,
``BS``) stay base64 text, which ``from_attr`` decodes. Only the calls made inside
:func:`raw_items`, on the thread that made them, are read this way: the handler is registered on
the client (once), and any other use of the same client gets botocore's parse as usual. Errors
(any status but 200) are never touched.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

FAST_OPERATIONS = frozenset({"BatchWriteItem"})


def _blob(value: Any) -> str:
    if isinstance(value, str):  # botocore encodes text given for a blob as UTF-8
        value = value.encode("utf-8")
    return base64.b64encode(bytes(value)).decode("ascii")


def attr(value: Mapping[str, Any]) -> Any:
    """One attribute value in the wire's JSON form (blobs in base64, nested values walked)."""
    if len(value) != 1:  # not an attribute value: botocore decides what to send
        raise _Unusual
    ((kind, inner),) = value.items()
    if kind in ("S", "N", "BOOL", "NULL", "SS", "NS"):
        return value
    if kind == "B":
        return {"B": _blob(inner)}
    if kind == "M":
        return {"M": {name: attr(v) for name, v in inner.items()}}
    if kind == "L":
        return {"L": [attr(v) for v in inner]}
    if kind == "BS":
        return {"BS": [_blob(v) for v in inner]}
    raise _Unusual


class _Unusual(Exception):
    """A request this module does not make itself: botocore's serializer makes it."""


def batch_write_body(parameters: Mapping[str, Any]) -> bytes:
    """The JSON body of a BatchWriteItem call with ``parameters`` (``RequestItems``, ...)."""
    body: dict[str, Any] = {}
    for name, value in parameters.items():
        if value is None:
            continue
        if name != "RequestItems":
            body[name] = value
            continue
        tables: dict[str, Any] = {}
        for table, requests in value.items():
            out = []
            for request in requests:
                entry: dict[str, Any] = {}
                for kind, spec in request.items():
                    field = "Item" if kind == "PutRequest" else "Key"
                    if kind not in ("PutRequest", "DeleteRequest") or set(spec) != {field}:
                        raise _Unusual
                    entry[kind] = {field: {k: attr(v) for k, v in spec[field].items()}}
                out.append(entry)
            tables[table] = out
        body[name] = tables
    return json.dumps(body).encode("utf-8")


class _Serializer:
    """botocore's serializer, but BatchWriteItem's body is :func:`batch_write_body`."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def serialize_to_request(self, parameters: Any, operation_model: Any) -> Any:
        if operation_model.name not in FAST_OPERATIONS:
            return self.inner.serialize_to_request(parameters, operation_model)
        try:
            body = batch_write_body(parameters)
        except (_Unusual, AttributeError, TypeError, ValueError):
            return self.inner.serialize_to_request(parameters, operation_model)
        request = self.inner.serialize_to_request({}, operation_model)  # method, URL, headers
        request["body"] = body
        return request


def install(client: Any) -> Any:
    """Make ``client`` (a DynamoDB client) write BatchWriteItem bodies by :func:`batch_write_body`."""
    from botocore.validate import ParamValidationDecorator

    serializer = client._serializer
    # with botocore's validation on, it checks each request's parameters first: leave it so
    if not isinstance(serializer, _Serializer | ParamValidationDecorator):
        client._serializer = _Serializer(serializer)
    return client


# --- reading ---------------------------------------------------------------------------------------

# what each read operation's answer holds its items under
ITEM_KEYS = {"Query": "Items", "BatchGetItem": "Responses"}  # the reads the store makes
_HANDLER_ID = "rollcall.store.wire.raw-items"
_asked = threading.local()


@contextmanager
def raw_items(client: Any) -> Iterator[None]:
    """Within this block, on this thread, ``client``'s reads leave their items in the wire form
    (a client that is not botocore's, such as a test's stub, is left as it is)."""
    events: Any = getattr(getattr(client, "meta", None), "events", None)
    if events is not None:
        for operation in ITEM_KEYS:
            events.register(
                f"before-parse.dynamodb.{operation}", _keep_items, unique_id=f"{_HANDLER_ID}.{operation}"
            )
    outer = getattr(_asked, "on", False)
    _asked.on = True
    try:
        yield
    finally:
        _asked.on = outer


def _keep_items(
    operation_model: Any, response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any
) -> None:
    """botocore's ``before-parse`` hook: move the items out of the body botocore is about to parse."""
    if not getattr(_asked, "on", False) or response_dict.get("status_code") != 200:
        return
    key = ITEM_KEYS.get(operation_model.name)
    body = response_dict.get("body")
    if key is None or not isinstance(body, bytes | str) or not body:
        return
    answer = json.loads(body)
    if not isinstance(answer, dict) or key not in answer:
        return
    customized_response_dict[key] = answer.pop(key)  # botocore adds these to its parse of the rest
    response_dict["body"] = json.dumps(answer).encode()
