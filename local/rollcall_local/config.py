"""Where the local stack finds its inputs and keeps its files, and on which ports it listens.

Everything has a default that suits ``make run`` from the repository root; the environment
overrides it (tests use this to run on free ports with a temporary ``.local``):

| variable                 | default                    | what                                       |
|--------------------------|----------------------------|--------------------------------------------|
| ROLLCALL_PROJECT_DIR     | the repository root        | where samconfig.toml and template.yaml are |
| ROLLCALL_BUILD_DIR       | <project>/.aws-sam/build   | the `sam build` output                     |
| ROLLCALL_LOCAL_DIR       | <project>/.local           | secret, state, logs, runtime folder        |
| ROLLCALL_CONFIG_ENV      | local                      | the samconfig environment                  |
| ROLLCALL_API_PORT        | 3000                       | the HTTP API (127.0.0.1)                   |
| ROLLCALL_EMULATOR_PORT   | 4566                       | the embedded moto server (127.0.0.1)       |
| ROLLCALL_CONCURRENCY     | 4                          | warm workers per function, at most         |
| AWS_ENDPOINT_URL         | (unset: embedded emulator) | use this endpoint instead (LocalStack/AWS) |
"""

from __future__ import annotations

import os
import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"


@dataclass(frozen=True)
class LocalConfig:
    project_dir: Path
    build_dir: Path
    local_dir: Path
    config_env: str = "local"
    api_port: int = 3000
    emulator_port: int = 4566
    concurrency: int = 4
    external_endpoint: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> LocalConfig:
        project = Path(environ.get("ROLLCALL_PROJECT_DIR") or REPO_ROOT).resolve()
        return cls(
            project_dir=project,
            build_dir=Path(environ.get("ROLLCALL_BUILD_DIR") or project / ".aws-sam" / "build").resolve(),
            local_dir=Path(environ.get("ROLLCALL_LOCAL_DIR") or project / ".local").resolve(),
            config_env=environ.get("ROLLCALL_CONFIG_ENV") or "local",
            api_port=int(environ.get("ROLLCALL_API_PORT") or 3000),
            emulator_port=int(environ.get("ROLLCALL_EMULATOR_PORT") or 4566),
            concurrency=max(1, int(environ.get("ROLLCALL_CONCURRENCY") or 4)),
            external_endpoint=environ.get("AWS_ENDPOINT_URL") or None,
        )

    @property
    def built_template(self) -> Path:
        return self.build_dir / "template.yaml"

    @property
    def template_path(self) -> Path:
        """The built template, or the source one when nothing is built (enough for tokens)."""
        built = self.built_template
        return built if built.is_file() else self.project_dir / "template.yaml"

    @property
    def secret_path(self) -> Path:
        return self.local_dir / "jwt-secret"

    @property
    def state_dir(self) -> Path:
        return self.local_dir / "state"

    @property
    def dynamodb_dir(self) -> Path:
        """The local DynamoDB's LevelDB folder (written as the stack runs, not on stop)."""
        return self.state_dir / "dynamodb.leveldb"

    @property
    def logs_dir(self) -> Path:
        return self.local_dir / "logs"

    @property
    def runtime_dir(self) -> Path:
        return self.local_dir / "runtime"

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.api_port}"

    def samconfig(self) -> SamConfig:
        return SamConfig.read(self.project_dir / "samconfig.toml", self.config_env)


@dataclass(frozen=True)
class SamConfig:
    """The parts of samconfig.toml the local stack uses: stack name and parameter overrides."""

    stack_name: str
    parameter_overrides: dict[str, str]

    # The commands whose parameters describe a local run, later ones winning.
    COMMANDS = ("global", "local_start_api", "local_invoke")

    @classmethod
    def read(cls, path: Path, env: str) -> SamConfig:
        doc = tomllib.loads(path.read_text()) if path.is_file() else {}
        sections = doc.get(env, {})
        stack_name = "local"
        overrides: dict[str, str] = {}
        for command in cls.COMMANDS:
            params = sections.get(command, {}).get("parameters", {})
            stack_name = params.get("stack_name", stack_name)
            overrides.update(parse_overrides(params.get("parameter_overrides", "")))
        return cls(stack_name=stack_name, parameter_overrides=overrides)


def parse_overrides(value: str | list[str]) -> dict[str, str]:
    """SAM's ``parameter_overrides``: ``"A=1 B='two words'"``, a list of those, or the
    ``ParameterKey=A,ParameterValue=1`` form."""
    items = value if isinstance(value, list) else shlex.split(value)
    result: dict[str, str] = {}
    for item in items:
        if item.startswith("ParameterKey="):
            key_part, _, value_part = item.partition(",ParameterValue=")
            result[key_part.removeprefix("ParameterKey=")] = value_part
        else:
            key, sep, val = item.partition("=")
            if not sep:
                raise ValueError(f"parameter override {item!r} is not KEY=VALUE")
            result[key] = val
    return result


def private_dir(path: Path) -> Path:
    """``path`` as a folder only its owner can enter (0700), and so every folder made for it."""
    made = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    for folder in (path, *made):
        os.chmod(folder, 0o700)
    return path
