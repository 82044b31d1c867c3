"""Shared test setup.

- Markers follow the folder: tests/unit → unit (sockets disabled: no network at all),
  tests/integration → integration (moto), tests/e2e → e2e (the local stack over HTTP).
- ``faces_dir``: the shared face photos (../shared/data/faces); tests that need them skip with
  the reason when the folder is absent, never silently pass.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FACES_DIR = Path(os.environ.get("ROLLCALL_FACES_DIR", ROOT.parent / "shared" / "data" / "faces"))

# Tests never reach real AWS: fake credentials, a fixed region, no endpoint unless a test sets one.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.pop("AWS_PROFILE", None)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).relative_to(ROOT).parts
        if len(parts) > 1 and parts[0] == "tests" and parts[1] in ("unit", "integration", "e2e"):
            item.add_marker(getattr(pytest.mark, parts[1]))


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("unit"):
        from pytest_socket import disable_socket

        disable_socket(allow_unix_socket=True)


def pytest_runtest_teardown(item: pytest.Item) -> None:
    from pytest_socket import enable_socket

    enable_socket()


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    if not (FACES_DIR / "manifest.csv").is_file():
        pytest.skip(f"face photos not found at {FACES_DIR} (set ROLLCALL_FACES_DIR)")
    return FACES_DIR


@pytest.fixture(scope="session")
def faces_manifest(faces_dir: Path) -> list[dict[str, str]]:
    with (faces_dir / "manifest.csv").open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(autouse=True)
def _closed_circuit_breakers() -> None:
    """Each test starts with the container's circuit breakers closed (they are process state: a
    test's failures must not refuse the next test's calls)."""
    from rollcall.platform import breaker

    breaker.reset()
