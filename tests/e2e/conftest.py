"""The local stack started as `make run` starts it (``python -m rollcall_local run``), in the
background, on free ports, with a temporary .local, against the real build; stopped with SIGINT.

``stack`` is one running stack per test module; ``stack.client(role, org, sub)`` is an HTTP client
with a dev token for that identity.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.integration.runtime.helpers import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
START_SECONDS = 90
STOP_SECONDS = 45


class LocalStack:
    """`python -m rollcall_local run` in the background; its output in ``log``."""

    def __init__(self, local_dir: Path) -> None:
        self.api_port, self.emulator_port = free_port(), free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.endpoint = f"http://127.0.0.1:{self.emulator_port}"
        self.log = local_dir / "stack.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"},
            "PYTHONPATH": f"{ROOT / 'shared'}:{ROOT / 'local'}:{ROOT}",
            "ROLLCALL_API_PORT": str(self.api_port),
            "ROLLCALL_EMULATOR_PORT": str(self.emulator_port),
            "ROLLCALL_LOCAL_DIR": str(local_dir),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "rollcall_local", "run"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=log,
            )
        wait_for(self._healthy, timeout=START_SECONDS, interval=0.5, what=f"the stack up (see {self.log})")

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"the stack exited with {self.process.returncode}:\n{self.log.read_text()}")
        try:
            return httpx.get(f"{self.api_url}/health", timeout=30).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> int:
        """SIGINT, as Ctrl-C; the exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=STOP_SECONDS)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(timeout=10)

    def client(
        self, role: str = "teacher", org: str = "demo", sub: str = "alice", timeout: float = 120
    ) -> httpx.Client:
        """An HTTP client of the API with a dev token of that identity (minted like `make token`)."""
        from rollcall_local.devauth import dev_token, jwt_secret

        secret = jwt_secret(Path(self.env["ROLLCALL_LOCAL_DIR"]) / "jwt-secret")
        token = dev_token({}, secret, role=role, org=org, sub=sub)
        return httpx.Client(
            base_url=self.api_url, headers={"authorization": f"Bearer {token}"}, timeout=timeout
        )

    def token(self, role: str) -> str:
        """A token from the CLI, exactly as `make token` prints it."""
        command = [
            sys.executable,
            "-m",
            "rollcall_local",
            "token",
            "--role",
            role,
            "--org",
            "demo",
            "--sub",
            "alice",
        ]
        return subprocess.run(
            command, cwd=ROOT, env=self.env, capture_output=True, text=True, check=True, timeout=60
        ).stdout.strip()


@contextmanager
def started(stack: LocalStack) -> Iterator[LocalStack]:
    """The stack started, and stopped at the end (a module may set ``stack.env`` first)."""
    stack.start()
    try:
        yield stack
    finally:
        if stack.process is not None and stack.process.poll() is None:
            stack.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with started(LocalStack(tmp_path_factory.mktemp("local"))) as running:
        yield running
