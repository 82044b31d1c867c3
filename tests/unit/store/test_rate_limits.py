"""Token buckets (rollcall.store.rate_limits): the GCRA maths, and the store on moto (mock_aws),
asserting what is stored and how many calls each request costs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from rollcall.store.rate_limits import (
    MICROS,
    Limit,
    RateLimitTable,
    org_key,
    outcome,
    step,
    user_key,
)
from testkit.tables import create_key_table

TABLE = "records"
T0 = 1_800_000_000 * MICROS  # a fixed "now", epoch microseconds


# --- the maths -----------------------------------------------------------------------------------


def test_a_full_bucket_allows_its_capacity_then_refuses() -> None:
    # Given a bucket of 5 tokens refilled at 1 a second, never used
    limit = Limit(capacity=5, per_second=1)
    tat: int | None = None
    answers = []
    # When 6 requests arrive at the same instant
    for _ in range(6):
        allowed, after = step(tat, T0, limit)
        answers.append(allowed)
        tat = after if allowed else tat
    # Then 5 pass and the 6th is refused; the bucket is full again 5 s later
    assert answers == [True] * 5 + [False]
    assert tat == T0 + 5 * MICROS
    refused = outcome(tat, T0, limit, allowed=False)
    assert (refused.remaining, refused.reset_seconds, refused.retry_after_seconds) == (0, 5, 1)


def test_tokens_come_back_at_the_rate_and_never_beyond_capacity() -> None:
    limit = Limit(capacity=4, per_second=2)  # a token every 0.5 s
    tat = T0 + 2 * MICROS  # empty at T0
    # 1.2 s later two tokens are back (not 2.4): two requests pass, the third does not
    now = T0 + 1_200_000
    assert outcome(tat, now, limit, allowed=True).remaining == 2
    ok1, tat = step(tat, now, limit)
    ok2, tat = step(tat, now, limit)
    ok3, _ = step(tat, now, limit)
    assert (ok1, ok2, ok3) == (True, True, False)
    # An hour idle fills the bucket to its capacity only
    later = T0 + 3600 * MICROS
    assert outcome(tat, later, limit, allowed=True).remaining == 4
    assert step(tat, later, limit) == (True, later + limit.interval_us)


def test_a_request_may_cost_several_tokens() -> None:
    limit = Limit(capacity=10, per_second=1)
    allowed, tat = step(None, T0, limit, cost=7)
    assert allowed and outcome(tat, T0, limit, allowed=True).remaining == 3
    refused, _ = step(tat, T0, limit, cost=4)
    assert not refused
    assert outcome(tat, T0, limit, allowed=False, cost=4).retry_after_seconds == 1


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity >= 1"):
        Limit(capacity=0, per_second=1)
    with pytest.raises(ValueError, match="capacity >= 1"):
        Limit(capacity=1, per_second=0)
    assert Limit(capacity=200, per_second=20).window_seconds == 10


def test_keys_stay_inside_the_organisation_and_hide_the_user() -> None:
    pk, sk = user_key("org-a", "ada@example.com", "reads")
    assert pk.startswith("ORG#org-a#RATE#USER#") and "ada" not in pk and sk == "reads"
    assert org_key("org-a", "marking") == ("ORG#org-a#RATE#ORG", "marking")
    assert user_key("org-a", "x", "reads")[0] != user_key("org-b", "x", "reads")[0]


# --- the store (moto) -------------------------------------------------------------------------


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_key_table(client, TABLE)
        yield client


def stored(client: Any, key: tuple[str, str]) -> dict[str, Any] | None:
    item = client.get_item(TableName=TABLE, Key={"pk": {"S": key[0]}, "sk": {"S": key[1]}}).get("Item")
    return {k: int(v["N"]) for k, v in item.items() if "N" in v} if item else None


def test_a_burst_is_cut_at_the_capacity_with_one_update_a_request(dynamodb: Any) -> None:
    # Given a fresh table and a bucket of 3 tokens, 1 a second
    table = RateLimitTable(TABLE, client=dynamodb)
    RateLimitTable._seen.clear()
    limit, key = Limit(capacity=3, per_second=1), user_key("org-a", "ada", "reads")
    # When 5 requests arrive at the same instant
    answers = [table.take(key, limit, now=T0) for _ in range(5)]
    # Then 3 pass, counting down, and 2 are refused with a 1 s wait
    assert [a.allowed for a in answers] == [True, True, True, False, False]
    assert [a.remaining for a in answers] == [2, 1, 0, 0, 0]
    assert answers[-1].retry_after_seconds == 1
    # And the bucket stored is full again 3 s later, with a TTL past that
    item = stored(dynamodb, key)
    assert item is not None and item["tat"] == T0 + 3 * MICROS
    assert item["expires_at"] >= T0 // MICROS + 3
    # And each request cost one conditional update
    assert table.calls == 5


def test_a_refill_is_seen_by_another_container_and_an_idle_bucket_resets(dynamodb: Any) -> None:
    limit, key = Limit(capacity=2, per_second=1), org_key("org-a", "marking")
    first = RateLimitTable(TABLE, client=dynamodb)
    RateLimitTable._seen.clear()
    assert first.take(key, limit, now=T0).allowed
    assert first.take(key, limit, now=T0).allowed
    assert not first.take(key, limit, now=T0).allowed
    # Another container (nothing seen), a second later: one token is back
    RateLimitTable._seen.clear()
    other = RateLimitTable(TABLE, client=dynamodb)
    one = other.take(key, limit, now=T0 + MICROS)
    assert (one.allowed, one.remaining) == (True, 0)
    assert other.calls == 2  # a wrong guess (idle) costs one more update, never a read
    # Long idle: full again, one reset update
    later = other.take(key, limit, now=T0 + 60 * MICROS)
    assert (later.allowed, later.remaining) == (True, 1)
    assert stored(dynamodb, key)["tat"] == T0 + 61 * MICROS  # type: ignore[index]


def test_a_refused_request_writes_nothing(dynamodb: Any) -> None:
    table = RateLimitTable(TABLE, client=dynamodb)
    limit, key = Limit(capacity=1, per_second=0.5), user_key("org-a", "ada", "imports")
    assert table.take(key, limit, now=T0).allowed
    before = stored(dynamodb, key)
    refused = table.take(key, limit, now=T0 + MICROS)
    assert (refused.allowed, refused.retry_after_seconds) == (False, 1)
    assert stored(dynamodb, key) == before


def test_buckets_of_other_organisations_and_users_are_apart(dynamodb: Any) -> None:
    table = RateLimitTable(TABLE, client=dynamodb)
    limit = Limit(capacity=1, per_second=0.01)
    assert table.take(user_key("org-a", "ada", "reads"), limit, now=T0).allowed
    assert not table.take(user_key("org-a", "ada", "reads"), limit, now=T0).allowed
    assert table.take(user_key("org-b", "ada", "reads"), limit, now=T0).allowed
    assert table.take(user_key("org-a", "bob", "reads"), limit, now=T0).allowed
    assert table.take(user_key("org-a", "ada", "writes"), limit, now=T0).allowed
