"""Token buckets in the records table: one conditional UpdateItem per request per bucket.

A bucket of ``capacity`` tokens refilled at ``per_second`` is kept as GCRA (the generic cell rate
algorithm, equivalent to a token bucket) in one attribute: ``tat``, the "theoretical arrival
time", the instant (epoch microseconds) at which the bucket will be full again. With ``T`` the
time one token takes to come back and ``tau = capacity x T``, a request costing ``n`` tokens at
``now`` is allowed when ``max(tat, now) + n T - now <= tau``, and then ``tat`` becomes
``max(tat, now) + n T``. The tokens left are ``(now + tau - tat) / T``.

DynamoDB update expressions add and subtract but cannot take a ``max``, so the one update sent is
one of two, each conditional on being the right one:

- *debt* (the bucket is not full: ``tat >= now``): ``SET tat = tat + nT`` if
  ``tat BETWEEN now AND now + tau - nT``; the upper bound is the limit itself;
- *reset* (the bucket is full: absent, or ``tat < now``): ``SET tat = now + nT`` if
  ``attribute_not_exists(tat) OR tat < now``.

Which one is sent first is guessed from the bucket's last state seen by this container (a busy
bucket: debt; an idle or unknown one: reset), so a request costs one UpdateItem unless another
container changed the bucket's phase since; a wrong guess costs a second update (at most three
calls in all). Nothing is read: a failed debt update returns the old item (DynamoDB and moto do;
a store that does not, as dynalite, costs one consistent GetItem on that path). A refused
request writes nothing.

Keys (all inside the organisation's key space; ``expires_at`` is the table's TTL attribute, set
an hour past the moment the bucket is full again, so idle buckets disappear):

| bucket | pk | sk |
|---|---|---|
| one user's, per route class | ``ORG#<org>#RATE#USER#<sha256(sub)[:32]>`` | ``<class>`` |
| the organisation's, per route class | ``ORG#<org>#RATE#ORG`` | ``<class>`` |

The user's ``sub`` is hashed: it may hold characters a key part cannot, or an e-mail address.

Calls use a client of their own with short timeouts and no retries: a limiter that waits for a
failing store would turn a store outage into a hang; the caller decides what a failure means
(the API lets the request through: ``rollcall.services.rate_limits``).
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from rollcall.store import clients
from rollcall.store.client_errors import CONDITION_FAILED, error_code
from rollcall.store.table import TTL_ATTRIBUTE, check_id

MICROS = 1_000_000
IDLE_TTL_SECONDS = 3600
MAX_CALLS = 3


@dataclass(frozen=True)
class Limit:
    """A token bucket: ``capacity`` tokens (the burst), refilled at ``per_second`` tokens a second."""

    capacity: int
    per_second: float

    def __post_init__(self) -> None:
        if self.capacity < 1 or not self.per_second > 0 or not math.isfinite(self.per_second):
            raise ValueError(f"a limit needs capacity >= 1 and a positive rate, not {self}")

    @property
    def interval_us(self) -> int:
        """T: the microseconds one token takes to come back."""
        return max(1, round(MICROS / self.per_second))

    @property
    def horizon_us(self) -> int:
        """tau: the microseconds an empty bucket takes to fill."""
        return self.capacity * self.interval_us

    @property
    def window_seconds(self) -> int:
        """The draft RateLimit-Policy's ``w``: the seconds in which ``capacity`` tokens come back."""
        return max(1, math.ceil(self.horizon_us / MICROS))


@dataclass(frozen=True)
class Outcome:
    """One bucket's answer to one request."""

    allowed: bool
    remaining: int  # whole tokens left after this request
    reset_seconds: int  # until the bucket is full again
    retry_after_seconds: int  # 0 when allowed; else when the request would be allowed


# --- the maths (pure) ---------------------------------------------------------------------------


def step(tat: int | None, now: int, limit: Limit, cost: int = 1) -> tuple[bool, int]:
    """GCRA: whether a request of ``cost`` tokens at ``now`` is allowed, and the ``tat`` after it
    (unchanged when refused). ``tat`` None is a bucket never used (full)."""
    base = now if tat is None or tat < now else tat
    after = base + cost * limit.interval_us
    if after - now <= limit.horizon_us:
        return True, after
    return False, base if tat is not None else now


def outcome(tat: int, now: int, limit: Limit, *, allowed: bool, cost: int = 1) -> Outcome:
    """What a client is told of a bucket whose state is ``tat`` after the request at ``now``."""
    t = limit.interval_us
    left = max(0, min(limit.capacity, (now + limit.horizon_us - tat) // t))
    reset = max(0, math.ceil((tat - now) / MICROS))
    retry = 0
    if not allowed:
        retry = max(1, math.ceil((max(tat, now) + cost * t - limit.horizon_us - now) / MICROS))
    return Outcome(allowed=allowed, remaining=int(left), reset_seconds=reset, retry_after_seconds=retry)


def now_us() -> int:
    return time.time_ns() // 1000


# --- keys ---------------------------------------------------------------------------------------


def user_key(org: str, sub: str, route_class: str) -> tuple[str, str]:
    digest = hashlib.sha256(sub.encode("utf-8")).hexdigest()[:32]
    return f"ORG#{check_id(org, 'organisation')}#RATE#USER#{digest}", check_id(route_class, "route class")


def org_key(org: str, route_class: str) -> tuple[str, str]:
    return f"ORG#{check_id(org, 'organisation')}#RATE#ORG", check_id(route_class, "route class")


# --- the store ----------------------------------------------------------------------------------


class RateLimitContention(Exception):
    """The bucket changed phase under every one of the calls allowed: the caller decides."""


def fast_client(timeout_seconds: float) -> Any:
    """A DynamoDB client for the limiter: no retries, short timeouts (made once per timeout)."""
    key = ("dynamodb-ratelimit", clients.endpoint_url("dynamodb"), clients.region(), timeout_seconds)
    found = _fast.get(key)
    if found is None:
        with _fast_lock:
            found = _fast.get(key)
            if found is None:
                import boto3
                from botocore.config import Config

                config = Config(
                    retries={"total_max_attempts": 1, "mode": "standard"},
                    connect_timeout=timeout_seconds,
                    read_timeout=timeout_seconds,
                    max_pool_connections=32,
                    parameter_validation=False,  # as the shared clients (rollcall.store.clients)
                )
                session: Any = boto3.session.Session()
                found = session.client("dynamodb", endpoint_url=key[1], region_name=key[2], config=config)
                _fast[key] = found
    return found


_fast: dict[tuple[Any, ...], Any] = {}
_fast_lock = threading.Lock()


class RateLimitTable:
    """Token buckets kept in ``table`` (the records table)."""

    def __init__(self, table: str, *, client: Any = None, timeout_seconds: float = 1.0) -> None:
        self.table = table
        self._client = client
        self.timeout_seconds = timeout_seconds
        self.calls = 0  # UpdateItem/GetItem calls made (tests count them)

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = fast_client(self.timeout_seconds)
        return self._client

    # Per container: the last tat seen of each bucket, to guess which update to send first.
    _seen: ClassVar[dict[tuple[str, str, str], int]] = {}

    def take(self, key: tuple[str, str], limit: Limit, *, now: int | None = None, cost: int = 1) -> Outcome:
        """Take ``cost`` tokens from the bucket ``key`` (pk, sk) if it has them."""
        if not 1 <= cost <= limit.capacity:
            raise ValueError(f"a request must cost 1 to {limit.capacity} tokens, not {cost}")
        now = now_us() if now is None else now
        seen_key = (self.table, *key)
        seen = self._seen.get(seen_key)
        debt_first = seen is not None and seen >= now
        for _ in range(MAX_CALLS):
            allowed, state = (self._debt if debt_first else self._reset)(key, limit, now, cost)
            if allowed is not None:
                self._seen[seen_key] = state
                return outcome(state, now, limit, allowed=allowed, cost=cost)
            debt_first = not debt_first  # the other phase: try its update
        raise RateLimitContention(f"bucket {key[1]} changed phase {MAX_CALLS} times")

    def _expires(self, now: int, limit: Limit) -> int:
        return (now + limit.horizon_us) // MICROS + IDLE_TTL_SECONDS

    def _debt(self, key: tuple[str, str], limit: Limit, now: int, cost: int) -> tuple[bool | None, int]:
        """``tat += nT`` while the bucket is in debt and has the tokens; (None, _): it is full."""
        inc = cost * limit.interval_us
        found = self._update(
            key,
            "SET #tat = #tat + :inc, #exp = :exp",
            "#tat BETWEEN :now AND :max",
            {
                ":inc": inc,
                ":now": now,
                ":max": now + limit.horizon_us - inc,
                ":exp": self._expires(now, limit),
            },
        )
        if found[0]:
            return True, found[1]
        old = found[1]
        if old is None or old < now:
            return None, 0  # full (or never used): the reset update applies
        return False, old  # in debt beyond what this request may take: refused, nothing written

    def _reset(self, key: tuple[str, str], limit: Limit, now: int, cost: int) -> tuple[bool | None, int]:
        """``tat = now + nT`` on a full bucket; (None, _): it is in debt."""
        found = self._update(
            key,
            "SET #tat = :new, #exp = :exp",
            "attribute_not_exists(#tat) OR #tat < :now",
            {":new": now + cost * limit.interval_us, ":now": now, ":exp": self._expires(now, limit)},
            need_old=False,  # a failed reset means "in debt": the debt update follows either way
        )
        if found[0]:
            return True, found[1]
        return None, 0

    def _update(
        self,
        key: tuple[str, str],
        expression: str,
        condition: str,
        values: dict[str, int],
        *,
        need_old: bool = True,
    ) -> tuple[bool, Any]:
        """(True, tat after) or (False, tat before: None if absent or not needed)."""
        pk, sk = key
        self.calls += 1
        try:
            response = self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": pk}, "sk": {"S": sk}},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#tat": "tat", "#exp": TTL_ATTRIBUTE},
                ExpressionAttributeValues={k: {"N": str(v)} for k, v in values.items()},
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except Exception as e:
            if error_code(e) not in CONDITION_FAILED:
                raise
            item = getattr(e, "response", {}).get("Item")
            if item is None and need_old:  # a store that does not return the old item: read it
                item = self._get(key)
            tat = (item or {}).get("tat", {}).get("N")
            return False, int(tat) if tat is not None else None
        return True, int(response["Attributes"]["tat"]["N"])

    def _get(self, key: tuple[str, str]) -> dict[str, Any] | None:
        self.calls += 1
        response = self.client.get_item(
            TableName=self.table,
            Key={"pk": {"S": key[0]}, "sk": {"S": key[1]}},
            ConsistentRead=True,
        )
        item: dict[str, Any] | None = response.get("Item")
        return item
