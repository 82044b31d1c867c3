"""Turning AWS client errors into domain errors (the only place that reads AWS error codes)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rollcall.platform.errors import (
    ConcurrentUpdate,
    NotFound,
    RollcallError,
    StoreUnavailable,
    TooManyRequests,
)

THROTTLING = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "SlowDown",
    "Throttling",
}
CONDITION_FAILED = {"ConditionalCheckFailedException", "TransactionCanceledException"}
MISSING = {"NoSuchKey", "NoSuchVersion", "404"}


def error_code(error: BaseException) -> str | None:
    response: Any = getattr(error, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code")
    return None


def translate(error: BaseException, *, what: str) -> RollcallError:
    """The domain error for an AWS error met while doing ``what`` (raise it ``from error``)."""
    code = error_code(error)
    if code in CONDITION_FAILED:
        return ConcurrentUpdate(f"{what}: a concurrent change won; retry with fresh data")
    if code in THROTTLING:
        return TooManyRequests(f"{what}: the store is throttling; retry shortly")
    if code in MISSING:
        return NotFound(f"{what}: not found")
    return StoreUnavailable(f"{what}: the store failed ({code or type(error).__name__})")


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Run AWS calls, re-raising their errors as domain errors (non-AWS errors pass unchanged)."""
    try:
        yield
    except Exception as e:
        if error_code(e) is None:
            raise
        raise translate(e, what=what) from e
