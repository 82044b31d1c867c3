"""rollcall.store.bulk against a client that answers as DynamoDB does under throttling.

The stub keeps what it was sent and leaves items unprocessed when told to: the retries, the
backoff between them and the error after the last attempt are observable without a network.
"""

from __future__ import annotations

from typing import Any

import pytest

from rollcall.store import bulk
from rollcall.store.bulk import BatchIncomplete


def put(n: int) -> dict[str, Any]:
    return {"PutRequest": {"Item": {"pk": {"S": f"p{n}"}, "sk": {"S": "s"}}}}


class ThrottlingClient:
    """Stores puts; the first ``refuse`` calls leave their last ``per_call`` requests unprocessed."""

    def __init__(self, *, refuse: int = 0, per_call: int = 3) -> None:
        self.refuse, self.per_call = refuse, per_call
        self.stored: dict[str, dict[str, Any]] = {}
        self.calls: list[int] = []

    def batch_write_item(self, RequestItems: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        ((table, requests),) = RequestItems.items()
        assert len(requests) <= 25
        self.calls.append(len(requests))
        left: list[dict[str, Any]] = []
        if self.refuse > 0:
            self.refuse -= 1
            requests, left = requests[: -self.per_call], requests[-self.per_call :]
        for r in requests:
            item = r["PutRequest"]["Item"]
            self.stored[item["pk"]["S"]] = item
        return {"UnprocessedItems": {table: left} if left else {}}

    def batch_get_item(self, RequestItems: dict[str, dict[str, Any]]) -> dict[str, Any]:
        ((table, spec),) = RequestItems.items()
        keys = spec["Keys"]
        assert len(keys) <= 100
        self.calls.append(len(keys))
        left: list[dict[str, Any]] = []
        if self.refuse > 0:
            self.refuse -= 1
            keys, left = keys[: -self.per_call], keys[-self.per_call :]
        found = [self.stored[k["pk"]["S"]] for k in keys if k["pk"]["S"] in self.stored]
        unprocessed = {table: {**spec, "Keys": left}} if left else {}
        return {"Responses": {table: found}, "UnprocessedKeys": unprocessed}


def test_batch_write_sends_chunks_of_25_and_retries_unprocessed_items_with_backoff() -> None:
    # Given a store that leaves 3 items unprocessed on its first answer
    client = ThrottlingClient(refuse=1)
    waits: list[float] = []
    # When 60 items are written, one thread
    sent = bulk.batch_write(client, "t", [put(i) for i in range(60)], workers=1, sleep=waits.append)
    # Then every item is stored, in chunks of at most 25, the 3 left sent again after one wait
    assert sent == 60
    assert sorted(client.stored) == sorted(f"p{i}" for i in range(60))
    assert client.calls == [25, 3, 25, 10]
    assert len(waits) == 1 and 0 < waits[0] <= 0.05


def test_batch_write_gives_up_after_its_attempts_and_says_how_many_were_left() -> None:
    # Given a store that never processes the last 2 items of a request
    client = ThrottlingClient(refuse=100, per_call=2)
    waits: list[float] = []
    # When 5 items are written with 4 attempts
    with pytest.raises(BatchIncomplete) as raised:
        bulk.batch_write(client, "t", [put(i) for i in range(5)], attempts=4, sleep=waits.append)
    # Then the error is a 429 naming the 2 items left, after 4 calls and 3 growing waits
    assert raised.value.status == 429 and raised.value.left == 2
    assert "2 item(s) unprocessed after 4 attempts" in str(raised.value)
    assert len(client.calls) == 4 and len(waits) == 3
    assert [w <= bulk.backoff_cap_for(i) for i, w in enumerate(waits)] == [True] * 3
    # And nothing that was processed is lost: the first 3 items are stored
    assert sorted(client.stored) == ["p0", "p1", "p2"]


def test_backoff_grows_exponentially_to_its_cap() -> None:
    for attempt in range(10):
        wait = bulk.backoff(attempt)
        assert bulk.backoff_cap_for(attempt) / 2 <= wait <= bulk.backoff_cap_for(attempt)
    assert (
        bulk.backoff_cap_for(0) == 0.05 and bulk.backoff_cap_for(3) == 0.4 and bulk.backoff_cap_for(9) == 1.0
    )


def test_batch_get_reads_100_keys_a_call_and_retries_unprocessed_keys() -> None:
    # Given 150 stored items and a store that leaves 5 keys unprocessed once
    client = ThrottlingClient()
    bulk.batch_write(client, "t", [put(i) for i in range(150)], sleep=lambda _: None)
    client.calls.clear()
    client.refuse, client.per_call = 1, 5
    keys = [{"pk": {"S": f"p{i}"}, "sk": {"S": "s"}} for i in range(160)]  # 10 never stored
    # When they are read back
    found = bulk.batch_get(client, "t", keys, workers=1, sleep=lambda _: None)
    # Then every stored one is found, once, in calls of at most 100 keys
    assert sorted(i["pk"]["S"] for i in found) == sorted(f"p{i}" for i in range(150))
    assert client.calls == [100, 5, 60]


def test_batch_get_gives_up_after_its_attempts() -> None:
    client = ThrottlingClient(refuse=100, per_call=1)
    with pytest.raises(BatchIncomplete) as raised:
        bulk.batch_get(
            client, "t", [{"pk": {"S": "a"}, "sk": {"S": "s"}}] * 3, attempts=3, sleep=lambda _: None
        )
    assert raised.value.left == 1


class PagingClient:
    """Answers each query with its partition's items, two a page."""

    def __init__(self, partitions: dict[str, list[int]]) -> None:
        self.partitions = partitions

    def query(self, **request: Any) -> dict[str, Any]:
        values = self.partitions[request["ExpressionAttributeValues"][":pk"]["S"]]
        start = int(request.get("ExclusiveStartKey", {}).get("n", 0))
        page = values[start : start + 2]
        answer: dict[str, Any] = {"Items": [{"v": {"N": str(v)}} for v in page]}
        if start + 2 < len(values):
            answer["LastEvaluatedKey"] = {"n": start + 2}
        return answer


def test_parallel_queries_read_every_page_of_every_query_in_order() -> None:
    partitions = {f"p{i}": list(range(i * 10, i * 10 + i)) for i in range(8)}
    client = PagingClient(partitions)
    requests = [{"ExpressionAttributeValues": {":pk": {"S": p}}} for p in partitions]
    counted: list[int] = []
    pages = bulk.parallel_queries(client, requests, workers=3, on_query=counted.append)
    assert [[int(i["v"]["N"]) for i in items] for items in pages] == list(partitions.values())
    assert sorted(counted) == list(range(8))
