"""Fixtures of the integration tests: the built template provisioned on a fresh moto server.

The emulator runs in this process (moto's ThreadedMotoServer) on a free port, and lives for one
module: moto's state is global to the process, so nothing may outlive the module that made it.
Tables, buckets and queues come from .aws-sam/build/template.yaml (`make test` builds first).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rollcall_local.config import LocalConfig
from rollcall_local.emulator import EMULATOR_CREDENTIALS, Aws, Emulator
from rollcall_local.provision import provision
from rollcall_local.session import load_template
from rollcall_local.template import Physical, Template
from tests.integration.runtime.helpers import free_port, use


@pytest.fixture(scope="module")
def aws() -> Iterator[Aws]:
    emulator = Emulator(free_port())
    emulator.start()
    try:
        yield Aws(emulator.endpoint, "us-east-1", True, dict(EMULATOR_CREDENTIALS))
    finally:
        emulator.stop()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    config = LocalConfig.from_env({"ROLLCALL_LOCAL_DIR": str(tmp_path_factory.mktemp("local"))})
    if not config.built_template.is_file():
        pytest.fail(f"{config.built_template} is missing: run `make build` (make test does)")
    return load_template(config)


@pytest.fixture(scope="module")
def physical(template: Template, aws: Aws) -> Physical:
    return provision(template, aws)


@pytest.fixture
def project(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> LocalConfig:
    """The real project (its built template), with a temporary .local and free ports."""
    config = LocalConfig.from_env({"ROLLCALL_LOCAL_DIR": str(tmp_path / "local")})
    config = LocalConfig(
        config.project_dir,
        config.build_dir,
        config.local_dir,
        api_port=free_port(),
        emulator_port=free_port(),
    )
    use(monkeypatch, config)
    return config
