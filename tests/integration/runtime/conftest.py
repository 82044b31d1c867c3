"""Fixtures of the local runtime's tests: the fixture SAM app, built once per session with the
real ``sam build``, and a running local stack of it (per module: moto's state is global to the
process, and other tests' ``mock_aws`` resets it, so a stack must not outlive its module)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rollcall_local.config import LocalConfig
from rollcall_local.console import Console
from rollcall_local.session import Session
from rollcall_local.stack import Stack
from tests.integration.runtime.helpers import free_port

ROOT = Path(__file__).resolve().parents[3]
FIXTURE_APP = ROOT / "tests" / "fixtures" / "runtime_app"
BUILD_TIMEOUT_SECONDS = 300


def sam_environment() -> dict[str, str]:
    """`sam build` needs python3.12 on PATH: the venv's first, as the Makefile does."""
    venv_bin = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}",
        "PYENV_VERSION": os.environ.get("PYENV_VERSION", "3.12.1:3.11.7"),
        "SAM_CLI_TELEMETRY": "0",
    }


@pytest.fixture(scope="session")
def fixture_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the fixture app, built by `sam build` (into <copy>/.aws-sam/build)."""
    project = tmp_path_factory.mktemp("runtime_app")
    shutil.copytree(FIXTURE_APP, project, dirs_exist_ok=True)
    sam = shutil.which("sam", path=str(Path(sys.executable).parent)) or "sam"
    subprocess.run(
        [sam, "build", "--build-dir", ".aws-sam/build", "--cache-dir", ".aws-sam/cache"],
        cwd=project,
        env=sam_environment(),
        check=True,
        capture_output=True,
        timeout=BUILD_TIMEOUT_SECONDS,
    )
    return project


@pytest.fixture(scope="module")
def fixture_config(fixture_app: Path, tmp_path_factory: pytest.TempPathFactory) -> LocalConfig:
    return LocalConfig(
        project_dir=fixture_app,
        build_dir=fixture_app / ".aws-sam" / "build",
        local_dir=tmp_path_factory.mktemp("local"),
        api_port=free_port(),
        emulator_port=free_port(),
        concurrency=2,
    )


@pytest.fixture(scope="module")
def fixture_stack(fixture_config: LocalConfig) -> Iterator[Stack]:
    """The fixture app running as `make run` runs it; its console lines in ``stack.console``."""
    session = Session.open(fixture_config, must_own=True)
    stack = Stack(session, Console(io.StringIO()))
    stack.start()
    try:
        yield stack
    finally:
        stack.stop(drain_seconds=5)
