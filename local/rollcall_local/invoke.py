"""Running functions: one process per function instance, as Lambda runs one container per instance.

- :class:`Worker`: one process running :mod:`rollcall_local.bootstrap` for one function: init
  once, then one invocation at a time over a pipe. The parent enforces the function's timeout
  (the worker is killed, and the invocation reported as Lambda reports a timeout) and its
  MemorySize (resident memory, looked at every 50 ms; past it the worker is killed and the
  invocation reported as Runtime.OutOfMemory).
- :class:`Pool`: the warm workers of one function; up to ``size`` invocations run at once, each
  on its own worker; a worker that timed out, crashed or failed its init is replaced.
- :class:`Invoker`: the pools of every function, what the API, pollers and schedules call.
- :func:`invoke_once`: a fresh worker for a single invocation (``make invoke``).

An invocation gives a :class:`Result`: ``ok`` with the function's response, or ``error`` /
``timeout`` with Lambda's error document (``errorMessage``, ``errorType``, ``stackTrace``).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rollcall_local.template import Function

BOOTSTRAP = Path(__file__).with_name("bootstrap.py")
STDERR = 2  # the file descriptor, whatever sys.stderr has become
INIT_SECONDS = 10  # Lambda's init phase limit; a longer function timeout extends it, as on Lambda
WATCH_SECONDS = 0.05  # how often a busy worker's memory is looked at
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def rss_mb(pid: int) -> float:
    """The resident memory of a process in MB (0 when it cannot be read: ended, or not Linux)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * PAGE_BYTES / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


Status = Literal["ok", "error", "timeout"]


@dataclass(frozen=True)
class Result:
    status: Status
    payload: Any  # the function's response, or Lambda's error document
    duration_ms: float
    request_id: str

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def error_summary(self) -> str:
        """One line for the console: ``timeout: Sandbox.Timedout: ...``; empty when ok."""
        if self.ok:
            return ""
        return f"{self.status}: {self.payload.get('errorType')}: {self.payload.get('errorMessage')}"


class Worker:
    """One process of one function (a warm container), serving one invocation at a time."""

    def __init__(
        self, function: Function, environment: Mapping[str, str], path: list[str], log: Path | None
    ) -> None:
        """``log``: the file the function's output is appended to; None: this process's stderr."""
        self.function = function
        self.log = log
        reply_read, reply_write = os.pipe()
        with contextlib.ExitStack() as stack:
            stack.callback(os.close, reply_write)
            output = stack.enter_context(log.open("ab")) if log else STDERR
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-S", "-B", str(BOOTSTRAP), str(reply_write), json.dumps(path)],
                stdin=subprocess.PIPE,
                stdout=output,
                stderr=output,
                env=dict(environment),
                cwd=function.code_dir,
                pass_fds=(reply_write,),
                start_new_session=True,  # Ctrl-C in the terminal goes to the stack, not the workers
            )
        self._reply = reply_read
        self._buffer = b""
        self._ready = False
        self.out_of_memory = False
        self.peak_mb = 0.0

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def invoke(self, event: Any) -> Result:
        """Run one invocation (the init first, on a new worker). The worker is killed on failure."""
        request_id = str(uuid.uuid4())
        started = time.monotonic()
        if not self._ready:
            failure = self._init(request_id)
            if failure is not None:
                self.kill()
                return Result(failure[0], failure[1], (time.monotonic() - started) * 1000, request_id)
        deadline = time.monotonic() + self.function.timeout
        request = {
            "request_id": request_id,
            "deadline_ms": (time.time() + self.function.timeout) * 1000,
            "invoked_arn": self.function.arn,
            "event": event,
        }
        status, payload = self._call(request, deadline, request_id)
        if status == "timeout" or not self.alive:
            self.kill()
        return Result(status, payload, (time.monotonic() - started) * 1000, request_id)

    def _init(self, request_id: str) -> tuple[Status, Any] | None:
        seconds = max(INIT_SECONDS, self.function.timeout)
        try:
            message = self._read(time.monotonic() + seconds)
        except EOFError:
            return "error", self._exit_error(request_id)
        if message is None:
            return "timeout", self._timed_out(request_id, seconds)
        if message["type"] == "init_error":
            return "error", message["error"]
        self._ready = True
        return None

    def _call(self, request: dict[str, Any], deadline: float, request_id: str) -> tuple[Status, Any]:
        try:
            assert self.process.stdin is not None
            self.process.stdin.write(json.dumps(request).encode() + b"\n")
            self.process.stdin.flush()
            message = self._read(deadline)
        except (BrokenPipeError, EOFError):
            return "error", self._exit_error(request_id)
        if message is None:
            return "timeout", self._timed_out(request_id, self.function.timeout)
        if message["type"] == "result":
            return "ok", message["payload"]
        return "error", message["error"]

    def _read(self, deadline: float) -> dict[str, Any] | None:
        """The next message, None at the deadline; EOFError if the process ended."""
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                readable, _, _ = select.select([self._reply], [], [], min(remaining, WATCH_SECONDS))
                chunk = os.read(self._reply, 1 << 20) if readable else None
            except (OSError, ValueError):  # the pipe was closed: the worker is being ended
                raise EOFError from None
            if chunk == b"":
                raise EOFError
            self._watch_memory()
            self._buffer += chunk or b""
        line, _, self._buffer = self._buffer.partition(b"\n")
        message: dict[str, Any] = json.loads(line)
        return message

    def _watch_memory(self) -> None:
        """Lambda stops a function that uses more than its MemorySize: so does this, the worker
        killed (EOFError), the invocation reported as Lambda reports it (Runtime.OutOfMemory)."""
        used = rss_mb(self.process.pid)
        self.peak_mb = max(self.peak_mb, used)
        if used > self.function.memory and self.alive:
            self.out_of_memory = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, 9)
            raise EOFError

    def _exit_error(self, request_id: str) -> dict[str, Any]:
        if self.out_of_memory:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
            return {
                "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: signal: killed "
                f"(Max Memory Used: {self.peak_mb:.0f} MB of {self.function.memory} MB)",
                "errorType": "Runtime.OutOfMemory",
            }
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.process.returncode
        reason = f"signal: {-code}" if code is not None and code < 0 else f"exit status {code}"
        return {
            "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: {reason}",
            "errorType": "Runtime.ExitError",
        }

    def _timed_out(self, request_id: str, seconds: float) -> dict[str, Any]:
        """Lambda's answer for an invocation stopped at its timeout, also written to the log."""
        error = timeout_error(request_id, seconds)
        line = f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {error['errorMessage']}\n"
        if self.log:
            with self.log.open("a") as log:
                log.write(line)
        else:
            sys.stderr.write(line)
        return error

    def kill(self) -> None:
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, 9)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        if self.process.stdin:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        if self._reply >= 0:
            os.close(self._reply)
            self._reply = -1

    def close(self) -> None:
        """End the worker: its stdin closes and it exits; killed if it does not within a second."""
        if self.process.stdin:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=1)
        self.kill()


def timeout_error(request_id: str, seconds: float) -> dict[str, Any]:
    return {
        "errorMessage": f"RequestId: {request_id} Error: Task timed out after {seconds:.2f} seconds",
        "errorType": "Sandbox.Timedout",
    }


WorkerFactory = Callable[[Function], Worker]


class Pool:
    """The warm workers of one function: up to ``size`` invocations at once, each on its own worker."""

    def __init__(self, function: Function, spawn: WorkerFactory, size: int) -> None:
        self.function = function
        self._spawn = spawn
        self._idle: list[Worker] = []
        self._all: set[Worker] = set()
        self._lock = threading.Lock()
        # At most `size` threads take a worker at a time, so there are at most `size` workers.
        self._executor = ThreadPoolExecutor(size, thread_name_prefix=function.logical_id)

    def submit(self, event: Any) -> Future[Result]:
        return self._executor.submit(self._run, event)

    def _run(self, event: Any) -> Result:
        with self._lock:
            worker = self._idle.pop() if self._idle else None
            while worker is not None and not worker.alive:  # ended while idle (killed, out of memory)
                self._all.discard(worker)
                worker = self._idle.pop() if self._idle else None
        if worker is None:
            worker = self._spawn(self.function)
            with self._lock:
                self._all.add(worker)
        result = worker.invoke(event)
        with self._lock:
            if worker.alive:
                self._idle.append(worker)
            else:
                self._all.discard(worker)
        return result

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            workers, self._all, self._idle = list(self._all), set(), []
        for worker in workers:
            worker.close()


class Invoker:
    """The warm pools of every function, started on first use."""

    def __init__(self, functions: Mapping[str, Function], spawn: WorkerFactory, size: int) -> None:
        self.functions = functions
        self._spawn = spawn
        self._size = size
        self._pools: dict[str, Pool] = {}
        self._in_flight: set[Future[Result]] = set()
        self._lock = threading.Lock()

    def submit(self, logical_id: str, event: Any) -> Future[Result]:
        with self._lock:
            pool = self._pools.get(logical_id)
            if pool is None:
                pool = self._pools[logical_id] = Pool(self.functions[logical_id], self._spawn, self._size)
            future = pool.submit(event)
            self._in_flight.add(future)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: Future[Result]) -> None:
        with self._lock:
            self._in_flight.discard(future)

    def invoke(self, logical_id: str, event: Any) -> Result:
        return self.submit(logical_id, event).result()

    def drain(self, timeout: float) -> bool:
        """Wait for the invocations in flight; False if some were still running at the timeout."""
        with self._lock:
            pending = set(self._in_flight)
        _, not_done = wait(pending, timeout=timeout)
        return not not_done

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()


def invoke_once(spawn: WorkerFactory, function: Function, event: Any) -> Result:
    """One invocation on a fresh worker, which is then ended."""
    worker = spawn(function)
    try:
        return worker.invoke(event)
    finally:
        worker.close()
