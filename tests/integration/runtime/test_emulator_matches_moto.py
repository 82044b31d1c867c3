"""The embedded emulator's DynamoDB (dynalite behind the front) answers page for page as stock moto does.

The local stack does not run moto's DynamoDB (see "The embedded emulator" in docs/ARCHITECTURE.md):
this differential test keeps the two honest against each other. The same randomised tables, items
and queries (key conditions of every operator, filters, projections, page limits, both directions,
base table and index) go to the embedded emulator and to a stock moto server in a separate
process, and every page must be identical: items, order, count and where the next page starts.
"""

from __future__ import annotations

import random
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest

from rollcall_local.emulator import Aws
from tests.integration.runtime.helpers import free_port, wait_for

SEED = 20261204
TABLES = 3
ITEMS_PER_TABLE = 400
QUERIES_PER_TABLE = 120
PAGE_CAP = 50  # pages followed per query at the most

PARTITIONS = [f"ORG#o#P{i}" for i in range(6)]
INDEX_PARTITIONS = [f"ORG#o#G{i}" for i in range(4)]
OPERATORS = ["=", "<", "<=", ">", ">=", "between", "begins_with"]


@pytest.fixture(scope="module")
def reference() -> Iterator[Any]:
    """Stock moto's server (no patch of ours is imported in that process)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(endpoint), timeout=30, what="stock moto up")
        yield _client(endpoint)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def embedded(aws: Aws) -> Any:
    return aws.client("dynamodb")


def _answers(endpoint: str) -> bool:
    try:
        return httpx.get(endpoint, timeout=2).status_code < 500
    except httpx.TransportError:
        return False


def _client(endpoint: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _create(client: Any, name: str) -> None:
    keys = ("pk", "sk", "gsi1pk", "gsi1sk")
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in keys],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "gsi1",
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )


def _items(rng: random.Random) -> list[dict[str, Any]]:
    """Items with sort keys that share prefixes, numbers, booleans, lists, maps and sets; some
    are in the index, some not; some are written twice (the second write replaces the first)."""
    items = []
    for _ in range(ITEMS_PER_TABLE):
        sk = f"{rng.choice(['ATT', 'FACE', 'PRED'])}#{rng.randint(0, 60):03d}#{rng.choice('abcxyz')}"
        item: dict[str, Any] = {
            "pk": {"S": rng.choice(PARTITIONS)},
            "sk": {"S": sk},
            "n": {"N": str(rng.randint(-5, 50))},
            "status": {"S": rng.choice(["present", "late", "absent"])},
            "ok": {"BOOL": rng.random() < 0.5},
            "tags": {"SS": sorted(rng.sample(["a", "b", "c", "d"], k=rng.randint(1, 3)))},
            "m": {"M": {"x": {"N": str(rng.randint(0, 9))}, "y": {"L": [{"S": "q"}, {"N": "1"}]}}},
        }
        if rng.random() < 0.7:
            item |= {
                "gsi1pk": {"S": rng.choice(INDEX_PARTITIONS)},
                "gsi1sk": {"S": f"{rng.randint(0, 99):02d}#{sk}"},
            }
        items.append(item)
    return items


def _query(rng: random.Random, table: str) -> dict[str, Any]:
    index = rng.random() < 0.4
    pk, sk = ("gsi1pk", "gsi1sk") if index else ("pk", "sk")
    values: dict[str, Any] = {":p": {"S": rng.choice(INDEX_PARTITIONS if index else PARTITIONS)}}
    condition = f"{pk} = :p"
    operator = rng.choice([*OPERATORS, None])
    low = (
        f"{rng.randint(0, 99):02d}"
        if index
        else f"{rng.choice(['ATT', 'FACE', 'PRED'])}#{rng.randint(0, 60):03d}"
    )
    if operator == "between":
        # DynamoDB refuses a BETWEEN whose bounds are out of order (as dynalite does; moto does not)
        high = f"{min(99, int(low[:2]) + rng.randint(0, 40)):02d}" if index else low[:4] + "~"
        condition += f" AND {sk} BETWEEN :a AND :b"
        values |= {":a": {"S": low}, ":b": {"S": high}}
    elif operator == "begins_with":
        condition += f" AND begins_with({sk}, :a)"
        values[":a"] = {"S": low[: rng.randint(1, len(low))]}
    elif operator is not None:
        condition += f" AND {sk} {operator} :a"
        values[":a"] = {"S": low}
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": condition,
        "ScanIndexForward": rng.random() < 0.6,
    }
    if index:
        kwargs["IndexName"] = "gsi1"
    if rng.random() < 0.6:
        kwargs["Limit"] = rng.randint(1, 40)
    if rng.random() < 0.35:
        kwargs["FilterExpression"] = rng.choice(
            ["#s = :f", "n > :n", "ok = :t", "contains(tags, :g)", "attribute_exists(gsi1pk)"]
        )
        if index and kwargs["FilterExpression"] == "attribute_exists(gsi1pk)":
            # DynamoDB refuses a filter on the queried index's own key (dynalite does; moto does not)
            kwargs["FilterExpression"] = "attribute_exists(m)"
        values |= {":f": {"S": "present"}, ":n": {"N": "20"}, ":t": {"BOOL": True}, ":g": {"S": "b"}}
        values = {k: v for k, v in values.items() if k in kwargs["FilterExpression"] or k in condition}
        if "#s" in kwargs["FilterExpression"]:
            kwargs["ExpressionAttributeNames"] = {"#s": "status"}
    if rng.random() < 0.3:
        kwargs["ProjectionExpression"] = rng.choice(["pk, sk, n", "pk, sk, m.x, tags", "sk, #st"])
        if "#st" in kwargs["ProjectionExpression"]:
            kwargs["ExpressionAttributeNames"] = kwargs.get("ExpressionAttributeNames", {}) | {
                "#st": "status"
            }
    kwargs["ExpressionAttributeValues"] = values
    return kwargs


def _canonical(value: Any) -> Any:
    """A set's members in one order (DynamoDB's sets have none); everything else as it came."""
    if isinstance(value, dict):
        return {k: sorted(v) if k in ("SS", "NS", "BS") else _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def _pages(client: Any, kwargs: dict[str, Any]) -> list[dict[str, Any]]:
    pages, start = [], None
    for _ in range(PAGE_CAP):
        response = client.query(**kwargs, **({"ExclusiveStartKey": start} if start else {}))
        start = response.get("LastEvaluatedKey")
        pages.append({"items": _canonical(response["Items"]), "count": response["Count"], "next": start})
        if not start:
            break
    # DynamoDB may end a page that used up its Limit with a LastEvaluatedKey although nothing
    # follows ("it does not necessarily mean that there is more data"): a last, empty page.
    # Whether an emulator knows there is nothing more is not a difference in what it answers.
    # Pages of a Limit count the items evaluated, before the filter: DynamoDB (and dynalite) may
    # answer empty pages, each with a LastEvaluatedKey, up to the end; moto stops at the last match.
    if pages[-1]["next"] is None and len(pages) > 1 and not pages[-1]["items"]:
        while len(pages) > 1 and not pages[-1]["items"]:
            pages.pop()
        pages[-1]["next"] = None
    return pages


def test_the_embedded_emulator_answers_every_query_page_as_stock_moto(embedded: Any, reference: Any) -> None:
    rng = random.Random(SEED)
    compared = 0
    for t in range(TABLES):
        # Given the same table and the same writes on both (puts, updates moving items between
        # index partitions, deletes)
        table = f"equivalence-{t}"
        items = _items(rng)
        moved = rng.sample(items, k=len(items) // 10)  # then updated into another index partition
        dropped = rng.sample(items, k=len(items) // 20)  # then deleted
        for client in (embedded, reference):
            _create(client, table)
            for item in items:
                client.put_item(TableName=table, Item=item)
            for i, item in enumerate(moved):
                client.update_item(
                    TableName=table,
                    Key={"pk": item["pk"], "sk": item["sk"]},
                    UpdateExpression="SET gsi1pk = :g, gsi1sk = :s",
                    ExpressionAttributeValues={
                        ":g": {"S": INDEX_PARTITIONS[i % 4]},
                        ":s": {"S": f"{i % 100:02d}#u"},
                    },
                )
            for item in dropped:
                client.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})
        # When the same random queries are paged through on both / Then every page is the same
        for _ in range(QUERIES_PER_TABLE):
            kwargs = _query(rng, table)
            assert _pages(embedded, kwargs) == _pages(reference, kwargs), kwargs
            compared += 1
    assert compared == TABLES * QUERIES_PER_TABLE
