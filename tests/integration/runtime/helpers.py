"""Helpers for the tests of the local runtime (also used by tests/e2e)."""

from __future__ import annotations

import time
from collections.abc import Callable

from testkit.net import free_port

__all__ = ["free_port", "wait_for"]


def wait_for[T](
    condition: Callable[[], T | None], *, timeout: float, interval: float = 0.2, what: str = "condition"
) -> T:
    """``condition()``'s first truthy value, polling until ``timeout`` seconds; AssertionError after."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        time.sleep(interval)
