"""moto with rollcall_local.moto_index: queries read their partition, and answer as before.

Every write path (put, update, delete, batch, transaction) is followed by queries of the table
and of an index, compared with what the items say; binary values, sets, paging and projections
come back as DynamoDB returns them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from rollcall_local import moto_index

TABLE = "tbl"


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    moto_index.install()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        keys = ("pk", "sk", "gpk", "gsk")
        client.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in keys],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "gsi",
                    "KeySchema": [
                        {"AttributeName": "gpk", "KeyType": "HASH"},
                        {"AttributeName": "gsk", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        )
        yield client


def put(client: Any, pk: str, sk: str, gpk: str | None = None, **extra: Any) -> None:
    item = {"pk": {"S": pk}, "sk": {"S": sk}, **extra}
    if gpk:
        item |= {"gpk": {"S": gpk}, "gsk": {"S": sk}}
    client.put_item(TableName=TABLE, Item=item)


def query(client: Any, value: str, index: bool = False, **kwargs: Any) -> list[str]:
    name = "gpk" if index else "pk"
    response = client.query(
        TableName=TABLE,
        KeyConditionExpression=f"{name} = :v",
        ExpressionAttributeValues={":v": {"S": value}},
        **({"IndexName": "gsi"} if index else {}),
        **kwargs,
    )
    return [f"{i['pk']['S']}/{i['sk']['S']}" for i in response["Items"]]


def test_queries_follow_every_kind_of_write(dynamodb: Any) -> None:
    put(dynamodb, "a", "1", "x")
    put(dynamodb, "a", "2", "y")
    put(dynamodb, "b", "1", "x")
    assert query(dynamodb, "a") == ["a/1", "a/2"]
    assert query(dynamodb, "x", index=True) == ["a/1", "b/1"]  # the index map is built here

    # An update moves an item to another index partition; a put replaces one
    dynamodb.update_item(
        TableName=TABLE,
        Key={"pk": {"S": "a"}, "sk": {"S": "2"}},
        UpdateExpression="SET gpk = :x",
        ExpressionAttributeValues={":x": {"S": "x"}},
    )
    put(dynamodb, "b", "1", "z")
    assert query(dynamodb, "x", index=True) == ["a/1", "a/2"]
    assert query(dynamodb, "z", index=True) == ["b/1"]

    # Deletes, batch writes and transactions
    dynamodb.delete_item(TableName=TABLE, Key={"pk": {"S": "a"}, "sk": {"S": "1"}})
    dynamodb.batch_write_item(
        RequestItems={
            TABLE: [
                {
                    "PutRequest": {
                        "Item": {"pk": {"S": "c"}, "sk": {"S": "1"}, "gpk": {"S": "x"}, "gsk": {"S": "0"}}
                    }
                },
                {"DeleteRequest": {"Key": {"pk": {"S": "a"}, "sk": {"S": "2"}}}},
            ]
        }
    )
    dynamodb.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": TABLE,
                    "Item": {"pk": {"S": "d"}, "sk": {"S": "1"}, "gpk": {"S": "x"}, "gsk": {"S": "9"}},
                }
            },
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": {"pk": {"S": "b"}, "sk": {"S": "1"}},
                    "UpdateExpression": "SET gpk = :x",
                    "ExpressionAttributeValues": {":x": {"S": "x"}},
                }
            },
        ]
    )
    assert query(dynamodb, "a") == []
    assert query(dynamodb, "x", index=True) == ["c/1", "b/1", "d/1"]  # by the index sort key
    assert query(dynamodb, "z", index=True) == []


def test_answers_keep_paging_projections_binary_and_sets(dynamodb: Any) -> None:
    for i in range(5):
        put(dynamodb, "p", f"{i}", "g", photo={"B": bytes([i, 255])}, tags={"SS": ["u", "v"]}, n={"N": "1.5"})

    page = dynamodb.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "p"}},
        Limit=2,
        ScanIndexForward=False,
    )
    assert [i["sk"]["S"] for i in page["Items"]] == ["4", "3"]
    rest = dynamodb.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "p"}},
        ExclusiveStartKey=page["LastEvaluatedKey"],
        ScanIndexForward=False,
    )
    assert [i["sk"]["S"] for i in rest["Items"]] == ["2", "1", "0"]

    projected = dynamodb.query(
        TableName=TABLE,
        IndexName="gsi",
        KeyConditionExpression="gpk = :g AND gsk BETWEEN :lo AND :hi",
        ExpressionAttributeValues={":g": {"S": "g"}, ":lo": {"S": "1"}, ":hi": {"S": "2"}},
        ProjectionExpression="sk, photo, tags, absent_attribute",
    )["Items"]
    assert projected == [
        {"sk": {"S": "1"}, "photo": {"B": bytes([1, 255])}, "tags": {"SS": ["u", "v"]}},
        {"sk": {"S": "2"}, "photo": {"B": bytes([2, 255])}, "tags": {"SS": ["u", "v"]}},
    ]
    got = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "p"}, "sk": {"S": "3"}})["Item"]
    assert (got["photo"], got["n"]) == ({"B": bytes([3, 255])}, {"N": "1.5"})


def index_pages(
    client: Any, partition: str, between: tuple[str, str], forward: bool, **kwargs: Any
) -> list[list[tuple[str, str]]]:
    """Every page of a key-range query of the index, as (pk, gsk) pairs (at most 10 pages)."""
    request = {
        "TableName": TABLE,
        "IndexName": "gsi",
        "KeyConditionExpression": "gpk = :g AND gsk BETWEEN :lo AND :hi",
        "ExpressionAttributeValues": {
            ":g": {"S": partition},
            ":lo": {"S": between[0]},
            ":hi": {"S": between[1]},
        },
        "ScanIndexForward": forward,
        **kwargs,
    }
    pages, start = [], None
    for _ in range(10):
        page = client.query(**request, **({"ExclusiveStartKey": start} if start else {}))
        pages.append([(i["pk"]["S"], i["gsk"]["S"]) for i in page["Items"]])
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    return pages


@pytest.mark.parametrize("forward", [True, False])
def test_pages_of_a_key_range_follow_one_another_through_equal_index_sort_keys(
    dynamodb: Any, forward: bool
) -> None:
    # Items of partition g whose index sort keys repeat (three items share "k1", two "k2")
    keys = {("a", "1"): "k0", ("b", "1"): "k1", ("c", "1"): "k1", ("d", "1"): "k1", ("e", "1"): "k2"}
    keys |= {("f", "1"): "k2", ("g", "1"): "k3", ("h", "1"): "k9"}
    for (pk, sk), gsk in keys.items():
        dynamodb.put_item(
            TableName=TABLE, Item={"pk": {"S": pk}, "sk": {"S": sk}, "gpk": {"S": "g"}, "gsk": {"S": gsk}}
        )
    pages = index_pages(dynamodb, "g", ("k1", "k3"), forward, Limit=2)
    seen = [pk for page in pages for pk, _ in page]
    expected = sorted((k for k, g in keys.items() if "k1" <= g <= "k3"), key=lambda k: (keys[k], k))
    assert sorted(seen) == sorted(pk for pk, _ in expected) and len(seen) == len(set(seen))
    assert [keys[(pk, "1")] for pk in seen] == sorted((keys[(pk, "1")] for pk in seen), reverse=not forward)


@pytest.mark.parametrize("forward", [True, False])
def test_pages_cut_by_size_hold_every_item_of_the_range_once_in_order(dynamodb: Any, forward: bool) -> None:
    # 300 items of about 8 KB in one index partition (2.4 MB: three pages of 1 MB), sort keys repeating
    blob = {"S": "x" * 8000}
    for i in range(300):
        put(dynamodb, f"big{i:03d}", "1", blob=blob)
        dynamodb.update_item(
            TableName=TABLE,
            Key={"pk": {"S": f"big{i:03d}"}, "sk": {"S": "1"}},
            UpdateExpression="SET gpk = :g, gsk = :s",
            ExpressionAttributeValues={":g": {"S": "big"}, ":s": {"S": f"k{i // 3:03d}"}},
        )
    pages = index_pages(dynamodb, "big", ("k010", "k089"), forward, ProjectionExpression="pk, gsk")
    seen = [(gsk, pk) for page in pages for pk, gsk in page]
    assert len(pages) >= 2
    expected = sorted(((f"k{i // 3:03d}", f"big{i:03d}") for i in range(30, 270)), reverse=not forward)
    assert sorted(seen) == sorted(expected) and len(seen) == len(set(seen))
    assert [g for g, _ in seen] == [g for g, _ in expected]


KEY_CONDITIONS = [
    ("sk = :a", {":a": "b2"}),
    ("sk < :a", {":a": "b2"}),
    ("sk <= :a", {":a": "b2"}),
    ("sk > :a", {":a": "b2"}),
    ("sk >= :a", {":a": "b2"}),
    ("sk BETWEEN :a AND :b", {":a": "a9", ":b": "c"}),
    ("begins_with(sk, :a)", {":a": "b"}),
    ("begins_with(sk, :a)", {":a": "é"}),
]


@pytest.mark.parametrize(("condition", "values"), KEY_CONDITIONS)
def test_sort_key_conditions_read_only_the_key_range_and_answer_it_all(
    condition: str, values: dict[str, str]
) -> None:
    # Given items of one partition, in the table and in an index sharing its sort key
    sort_keys = ["a1", "a9", "b", "b1", "b2", "b3", "c", "c0", "é1", "éa", "z"]

    def answers() -> dict[str, list[str]]:
        moto_index.install()
        with mock_aws():
            client = boto3.client("dynamodb", region_name="us-east-1")
            client.create_table(
                TableName=TABLE,
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[
                    {"AttributeName": k, "AttributeType": "S"} for k in ("pk", "sk", "gpk")
                ],
                KeySchema=[
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                GlobalSecondaryIndexes=[
                    {
                        "IndexName": "gsi",
                        "KeySchema": [
                            {"AttributeName": "gpk", "KeyType": "HASH"},
                            {"AttributeName": "sk", "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "ALL"},
                    }
                ],
            )
            for sk in sort_keys:
                client.put_item(TableName=TABLE, Item={"pk": {"S": "p"}, "sk": {"S": sk}, "gpk": {"S": "g"}})
            attribute_values = {k: {"S": v} for k, v in values.items()}
            out = {}
            for index, key in ((None, "pk = :p"), ("gsi", "gpk = :p")):
                response = client.query(
                    TableName=TABLE,
                    KeyConditionExpression=f"{key} AND {condition}",
                    ExpressionAttributeValues={":p": {"S": "g" if index else "p"}, **attribute_values},
                    **({"IndexName": index} if index else {}),
                )
                out[index or "table"] = [i["sk"]["S"] for i in response["Items"]]
            return out

    # When a query compares the sort key, Then every item in the range comes back, in key order
    expected = [k for k in sorted(sort_keys) if _satisfies(k, condition, values)]
    assert answers() == {"table": expected, "gsi": expected}


def _satisfies(key: str, condition: str, values: dict[str, str]) -> bool:
    a, b = values.get(":a", ""), values.get(":b", "")
    if condition.startswith("begins_with"):
        return key.startswith(a)
    if "BETWEEN" in condition:
        return a <= key <= b
    op = condition.split()[1]
    return {"=": key == a, "<": key < a, "<=": key <= a, ">": key > a, ">=": key >= a}[op]
