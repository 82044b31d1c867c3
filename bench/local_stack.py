"""The face functions as deployed, for the benchmarks: the `sam build` output run by the local runtime.

- :func:`running_stack`: `make run` in this process (embedded emulator, provisioned template, HTTP
  API, warm workers) on free ports with a temporary ``.local``; :class:`LocalApi` calls it.
- :func:`cold_invocation`: one invocation on a fresh worker, the process the local runtime starts
  for a cold Lambda container (``python -I -S``, the function's code, its layers and the
  runtime-provided boto3 on the path, the template's environment). The numbers are the ones
  its REPORT line gives, as on Lambda: ``Init Duration`` (importing the handler module) and
  ``Duration`` (the first invocation).
- :func:`unzipped_size`: a built function with its layers, as Lambda counts against 250 MB.
"""

from __future__ import annotations

import atexit
import io
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.faces_data import ROOT
from rollcall_local.apigw import Request, Router, http_event
from rollcall_local.config import LocalConfig
from rollcall_local.console import Console
from rollcall_local.emulator import Emulator
from rollcall_local.invoke import Result
from rollcall_local.session import Session
from rollcall_local.stack import Stack
from rollcall_local.template import Function
from testkit.net import free_port

REPORT = re.compile(r"REPORT RequestId: \S+\tDuration: ([\d.]+) ms.*\tInit Duration: ([\d.]+) ms")


@dataclass
class LocalApi:
    stack: Stack
    url: str

    @property
    def session(self) -> Session:
        return self.stack.session

    def client(self, role: str = "teacher", org: str = "bench", sub: str = "bench") -> httpx.Client:
        token = self.session.token(role=role, org=org, sub=sub)
        return httpx.Client(base_url=self.url, headers={"authorization": f"Bearer {token}"}, timeout=60)

    def event(self, method: str, path: str, body: bytes, *, org: str = "bench") -> dict[str, Any]:
        """The API Gateway event the local API would give the function for this request."""
        template = self.session.template
        found = Router(template.routes()).match(method, path)
        assert found is not None, f"no route for {method} {path}"
        token = self.session.token(role="teacher", org=org, sub="bench")
        headers = [("content-type", "application/json"), ("authorization", f"Bearer {token}")]
        request = Request(method, path, "", headers, body)
        return http_event(*found, request, account_id=template.account_id)


@contextmanager
def running_stack() -> Iterator[LocalApi]:
    with tempfile.TemporaryDirectory(prefix="rollcall-bench-") as local:
        config = LocalConfig(
            project_dir=ROOT,
            build_dir=ROOT / ".aws-sam" / "build",
            local_dir=Path(local),
            api_port=free_port(),
            emulator_port=free_port(),
        )
        session = Session.open(config, must_own=True)
        try:
            stack = Stack(session, Console(io.StringIO()))  # the per-request lines are not wanted here
            stack.start()
        except BaseException:
            session.close()
            raise
        try:
            yield LocalApi(stack, config.api_url)
        finally:
            stack.stop()


def cold_invocation(session: Session, logical_id: str, event: dict[str, Any]) -> tuple[float, float, Result]:
    """(init seconds, first invocation seconds, result) of one invocation on a fresh worker."""
    with tempfile.NamedTemporaryFile(suffix=".log") as log:
        worker = session.spawn(session.function(logical_id), Path(log.name))
        try:
            result = worker.invoke(event)
        finally:
            worker.close()
        found = REPORT.search(Path(log.name).read_text())
    if found is None or not result.ok:
        raise RuntimeError(f"cold invocation of {logical_id} failed: {result.error_summary()}")
    return float(found[2]) / 1000, float(found[1]) / 1000, result


def unzipped_size(function: Function) -> int:
    """Bytes of the function's built code and its layers (symlinks not followed, as in a zip)."""
    return sum(_tree_size(path) for path in (function.code_dir, *function.layers))


def _tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def disk_emulator(port: int) -> Emulator:
    """The emulator as ``make run`` starts it: DynamoDB (dynalite) keeps its items in LevelDB in a
    folder (a temporary one, removed at exit), not in memory as the tests' emulators do."""
    folder = tempfile.mkdtemp(prefix="rollcall-bench-ddb-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return Emulator(port, data_dir=Path(folder) / "dynamodb")
