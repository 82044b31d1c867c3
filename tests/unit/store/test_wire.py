"""BatchWriteItem bodies made by json.dumps are the ones botocore's serializer makes."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config

from rollcall.domain import iso
from rollcall.store import wire
from rollcall.store.table import to_item


def _client(validate: bool = False) -> Any:
    return boto3.session.Session().client(
        "dynamodb",
        endpoint_url="http://127.0.0.1:9",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(parameter_validation=validate),
    )


def _request(client: Any, **params: Any) -> dict[str, Any]:
    model = client.meta.service_model.operation_model("BatchWriteItem")
    return dict(client._serializer.serialize_to_request(params, model))


ITEM = to_item(
    {
        "pk": "ORG#o#SESSION#s1",
        "sk": "ATT#st1",
        "rank": 3,
        "distance": 0.41,
        "embedding": b"\x00\x01\xfe\xff" * 32,
        "faces": [{"box": [1, 2, 3, 4], "ok": True, "none": None}],
        "tags": {"a", "b"},
        "note": 'é ✓ "quoted" \\ \n',
    }
)
MORE = {
    "ns": {"NS": ["1", "2.5"]},
    "bs": {"BS": [b"\x00", b"\xff\xfe"]},
    "text_blob": {"B": "text given for a blob"},
    "nested": {"M": {"b": {"B": b"\x01"}, "l": {"L": [{"B": b"\x02"}, {"S": "x"}]}}},
}


def test_batch_write_bodies_are_botocores() -> None:
    params = {
        "RequestItems": {
            "records": [
                {"PutRequest": {"Item": {**ITEM, **MORE}}},
                {"DeleteRequest": {"Key": {"pk": {"S": "p"}, "sk": {"S": "s"}}}},
            ],
            "other": [{"PutRequest": {"Item": {"pk": {"S": "q"}, "sk": {"S": "t"}}}}],
        },
        "ReturnConsumedCapacity": "TOTAL",
    }
    plain = _request(_client(), **params)
    fast = _request(wire.install(_client()), **params)
    assert json.loads(fast.pop("body")) == json.loads(plain.pop("body"))
    assert fast == plain  # method, URL, headers


def test_other_operations_and_odd_requests_stay_botocores() -> None:
    client = wire.install(_client())
    model = client.meta.service_model.operation_model("PutItem")
    request = client._serializer.serialize_to_request({"TableName": "t", "Item": ITEM}, model)
    embedding = base64.b64encode(b"\x00\x01\xfe\xff" * 32).decode()
    assert json.loads(request["body"])["Item"]["embedding"] == {"B": embedding}
    # not an attribute value: botocore's serializer decides (here: it refuses the unknown member)
    odd = {"RequestItems": {"t": [{"PutRequest": {"Item": {"pk": {"S": "p", "X": "y"}}}}]}}
    for each in (client, _client()):
        with pytest.raises(KeyError, match="X"):
            _request(each, **odd)
    odd2: dict[str, Any] = {
        "RequestItems": {"t": [{"PutRequest": {"Item": {"b": {"B": b"1"}}, "Extra": {}}}]}
    }
    for each in (client, _client()):
        with pytest.raises(KeyError, match="Extra"):
            _request(each, **odd2)


def test_a_validating_client_is_left_as_it_is() -> None:
    client = _client(validate=True)
    serializer = client._serializer
    assert wire.install(client)._serializer is serializer
    with pytest.raises(Exception, match="RequestItems"):
        _request(client)


def test_iso_is_cached_and_the_same_text() -> None:
    from datetime import timedelta, timezone

    moment = datetime(2026, 10, 5, 9, 3, 7, 500000, tzinfo=UTC)
    assert iso(moment) == "2026-10-05T09:03:07Z"
    assert iso(moment.astimezone(timezone(timedelta(hours=-3)))) == "2026-10-05T09:03:07Z"
    assert iso(datetime(2026, 10, 5, 9, 3, 7)) == "2026-10-05T09:03:07Z"  # naive: taken as UTC
