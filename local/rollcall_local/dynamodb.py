"""The local stack's DynamoDB: dynalite (npm, DynamoDB's API on LevelDB) in a Node.js child process.

Installed by the Makefile (``npm ci`` in ``local/emulator/``). It listens on a Unix socket in a
private temporary folder (0700), so only the emulator's front (:mod:`rollcall_local.front`)
reaches it. With a data folder its items live in LevelDB there: a write it acknowledged survives a
SIGKILL of the whole stack. Without one (tests, benchmarks) they live in memory.

The child ends with its parent: it stops when its standard input (a pipe from this process)
closes, which the kernel does when this process dies, however it dies.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from rollcall_local.config import REPO_ROOT, private_dir
from rollcall_local.errors import LocalError

PACKAGE_DIR = REPO_ROOT / "local" / "emulator"
SCRIPT = PACKAGE_DIR / "dynamodb.js"
START_TIMEOUT_SECONDS = 15
STOP_TIMEOUT_SECONDS = 10


class Dynalite:
    def __init__(self, data_dir: Path | None = None) -> None:
        self.data_dir = data_dir
        self._folder = tempfile.mkdtemp(prefix="rollcall-dynamodb-")  # 0700
        self.socket = os.path.join(self._folder, "socket")
        self._process: subprocess.Popen[bytes] | None = None
        self._errors = Path(self._folder) / "stderr"

    def start(self) -> None:
        node = shutil.which("node")
        if node is None:
            raise LocalError("Node.js (node) is not on PATH: the local DynamoDB needs it")
        if not (PACKAGE_DIR / "node_modules" / "dynalite").is_dir():
            raise LocalError(f"dynalite is not installed: run `npm ci` in {PACKAGE_DIR} (make does)")
        command = [node, str(SCRIPT), "--socket", self.socket]
        if self.data_dir is not None:
            private_dir(self.data_dir)
            command += ["--path", str(self.data_dir)]
        with self._errors.open("wb") as errors:
            self._process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors
            )
        assert self._process.stdout is not None
        ready, _, _ = select.select([self._process.stdout], [], [], START_TIMEOUT_SECONDS)
        line = self._process.stdout.readline() if ready else b""
        if line.strip() != b"ready":
            reason = self._stderr()
            self.stop()
            raise LocalError(f"the local DynamoDB (dynalite) did not start: {reason}")

    def _stderr(self) -> str:
        try:
            return self._errors.read_text(errors="replace").strip()[-2000:] or "no answer"
        except OSError:
            return "no answer"

    def stop(self) -> None:
        """Close its input (it closes LevelDB and ends), then make sure it is gone."""
        process, self._process = self._process, None
        if process is not None:
            with contextlib.suppress(OSError):
                assert process.stdin is not None
                process.stdin.close()
            try:
                process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        shutil.rmtree(self._folder, ignore_errors=True)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None


def wait_gone(pid: int, timeout: float = 5) -> bool:
    """True once no process ``pid`` exists (tests: nothing outlives the stack)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False
