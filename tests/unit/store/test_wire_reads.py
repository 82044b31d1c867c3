"""Reads that take the items from DynamoDB's JSON (rollcall.store.wire.raw_items), on moto (mock_aws):
the values come back as botocore's parse gives them, every attribute type included; only the
calls inside ``raw_items`` on that thread are read so; errors are untouched."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from rollcall.platform.errors import RollcallError
from rollcall.store import bulk
from rollcall.store.table import OrgRecords, from_item, to_item
from rollcall.store.wire import raw_items
from testkit.tables import create_key_table

TABLE = "records"
VALUES: dict[str, Any] = {
    "name": "Zoë ✓",
    "rank": 3,
    "distance": 0.41,
    "embedding": b"\x00\x01\xfe\xff" * 32,
    "faces": [{"box": [1, 2, 3, 4], "ok": True, "none": None, "crop": b"\xff\xd8"}],
    "tags": {"a", "b"},
}
WIRE_ONLY = {"ns": {"NS": ["1", "2.5"]}, "bs": {"BS": [b"\x00", b"\xff\xfe"]}}


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        made = boto3.client("dynamodb", region_name="us-east-1")
        create_key_table(made, TABLE)
        for n in range(3):
            item = {"pk": "ORG#o#STUDENT#s", "sk": f"FACE#{n}", **VALUES}
            made.put_item(TableName=TABLE, Item={**to_item(item), **WIRE_ONLY})
        yield made


def _parsed(client: Any) -> list[dict[str, Any]]:
    """The items as botocore's own parse gives them, converted by from_item."""
    answer = client.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "ORG#o#STUDENT#s"}},
    )
    return [from_item(i) for i in answer["Items"]]


def test_a_query_read_raw_gives_what_botocores_parse_gives(client: Any) -> None:
    # Given items with every attribute type, binaries nested in maps and lists included
    expected = _parsed(client)
    assert expected[0]["embedding"] == VALUES["embedding"] and expected[0]["bs"] == {b"\x00", b"\xff\xfe"}
    # When the store queries them (OrgRecords.query and query_many read raw)
    records = OrgRecords("o", TABLE, client=client)
    one_by_one = list(records.query(records.key("STUDENT", "s")))
    (many,) = records.query_many([(records.key("STUDENT", "s"), None)])
    # Then both give exactly what botocore's parse gives, bytes as bytes, numbers as numbers
    assert one_by_one == expected
    assert many == expected
    assert one_by_one[0]["faces"][0]["crop"] == b"\xff\xd8"
    assert one_by_one[0]["ns"] == {1, 2.5}


def test_raw_items_are_the_wire_json_and_other_calls_keep_botocores_parse(client: Any) -> None:
    request = {
        "TableName": TABLE,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": "ORG#o#STUDENT#s"}},
    }
    # When one query runs inside raw_items, and the same client queries again outside it
    with raw_items(client):
        inside = client.query(**request)
    outside = client.query(**request)
    # Then inside, binaries are the wire's base64 text; outside (handler still registered) bytes
    assert inside["Items"][0]["embedding"]["B"] == base64.b64encode(VALUES["embedding"]).decode()
    assert inside["Count"] == 3 and inside["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert outside["Items"][0]["embedding"]["B"] == VALUES["embedding"]


def test_only_the_thread_that_asked_reads_raw(client: Any) -> None:
    request = {
        "TableName": TABLE,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": "ORG#o#STUDENT#s"}},
    }
    seen: dict[str, Any] = {}
    inside, go = threading.Event(), threading.Event()

    def other() -> None:
        inside.wait(5)
        seen["other"] = client.query(**request)["Items"][0]["embedding"]["B"]
        go.set()

    thread = threading.Thread(target=other)
    thread.start()
    # When another thread queries while this one is inside raw_items
    with raw_items(client):
        inside.set()
        go.wait(5)
        seen["mine"] = client.query(**request)["Items"][0]["embedding"]["B"]
    thread.join(5)
    # Then only this thread's answer was read raw
    assert isinstance(seen["other"], bytes)
    assert isinstance(seen["mine"], str)


def test_a_batch_get_read_raw_gives_what_botocores_parse_gives(client: Any) -> None:
    records = OrgRecords("o", TABLE, client=client)
    pk = records.key("STUDENT", "s")
    # When the store reads two of the items by key, and one key that does not exist
    found = records.batch_get([(pk, "FACE#0"), (pk, "FACE#2"), (pk, "FACE#9")])
    # Then the two come back as botocore's parse gives them
    expected = {(pk, i["sk"]): i for i in _parsed(client)}
    assert found == {k: expected[k] for k in [(pk, "FACE#0"), (pk, "FACE#2")]}


def test_an_error_answer_is_left_to_botocore(client: Any) -> None:
    # When a raw read asks a table that does not exist
    records = OrgRecords("o", "missing", client=client)
    # Then the store's usual error comes out, not a parse failure
    with pytest.raises(RollcallError):
        list(records.query(records.key("STUDENT", "s")))
    with pytest.raises(RollcallError):
        bulk.query_all(
            client,
            {
                "TableName": "missing",
                "KeyConditionExpression": "pk = :p",
                "ExpressionAttributeValues": {":p": {"S": "x"}},
            },
        )
