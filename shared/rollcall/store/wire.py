"""BatchWriteItem bodies written by ``json.dumps``: the bulk paths' largest client cost, removed.

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
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
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
