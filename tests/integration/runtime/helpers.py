"""Helpers for the tests of the local runtime (also used by tests/e2e)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from rollcall_local.config import LocalConfig
from testkit.net import free_port

__all__ = ["free_port", "use", "wait_for"]


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


def use(monkeypatch: pytest.MonkeyPatch, config: LocalConfig) -> None:
    """Point the commands at ``config`` through the environment, as a user would."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name, value in {
        "ROLLCALL_PROJECT_DIR": config.project_dir,
        "ROLLCALL_BUILD_DIR": config.build_dir,
        "ROLLCALL_LOCAL_DIR": config.local_dir,
        "ROLLCALL_API_PORT": config.api_port,
        "ROLLCALL_EMULATOR_PORT": config.emulator_port,
    }.items():
        monkeypatch.setenv(name, str(value))
