"""Circuit breakers: a dependency that keeps failing is not called again for a while.

One :class:`Breaker` per dependency (``dynamodb``, ``s3``, ``model``), kept per warm container
(module-level, shared by every thread of the container):

- **closed**: calls go through; ``failures`` consecutive failures or timeouts open it (any
  success resets the count).
- **open** for ``open_seconds``: calls are refused at once with :class:`CircuitOpen` (503
  SERVICE_UNAVAILABLE with ``Retry-After`` and ``Retry-After-Ms``) instead of waiting on a
  dependency that is down; predictions answer their fallback instead.
- **half-open** after that: one call (the probe) goes through; its success closes the breaker,
  its failure opens it again for ``open_seconds``. Other calls are refused while the probe runs
  (a probe that never reports is replaced after ``open_seconds``).

Each transition is logged and written as an EMF metric (``CircuitOpened``, ``CircuitHalfOpened``,
``CircuitClosed``, dimension ``dependency``). The store's clients report to their breaker from
botocore's events (``rollcall.store.circuit``); the model loader through :meth:`Breaker.call`.
Settings: ``CIRCUIT_FAILURES`` and ``CIRCUIT_OPEN_SECONDS`` (:class:`FunctionSettings`), applied
by :func:`configure` when a function loads its settings.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from rollcall.platform.errors import Unavailable

DEFAULT_FAILURES = 5
DEFAULT_OPEN_SECONDS = 30.0


class State(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


METRIC_OF = {State.OPEN: "CircuitOpened", State.HALF_OPEN: "CircuitHalfOpened", State.CLOSED: "CircuitClosed"}


class CircuitOpen(Unavailable):
    """A dependency's breaker is open: the call was not made. 503 SERVICE_UNAVAILABLE."""

    code = "SERVICE_UNAVAILABLE"

    def __init__(self, dependency: str, retry_after: float) -> None:
        self.dependency = dependency
        self.retry_after_ms = max(1, math.ceil(retry_after * 1000))
        super().__init__(
            {
                "message": f"{dependency} is unavailable (circuit breaker open); retry later",
                "dependency": dependency,
                "retry_after_ms": self.retry_after_ms,
            }
        )

    @property
    def headers(self) -> dict[str, str]:
        """``Retry-After`` in whole seconds (HTTP's), ``Retry-After-Ms`` in milliseconds."""
        return {
            "Retry-After": str(math.ceil(self.retry_after_ms / 1000)),
            "Retry-After-Ms": str(self.retry_after_ms),
        }


def is_outage(error: BaseException) -> bool:
    """Whether an error says the dependency is down (counted), not that the request was wrong."""
    from rollcall.platform.errors import ArtifactIntegrityError

    if isinstance(error, ArtifactIntegrityError):  # a verdict on an artifact, not an outage
        return False
    return isinstance(error, Unavailable | TimeoutError | ConnectionError)


Transition = Callable[[str, State, State], None]


class Breaker:
    """The breaker of one dependency. Thread-safe; ``clock`` is injectable (tests)."""

    def __init__(
        self,
        name: str,
        *,
        failures: int = DEFAULT_FAILURES,
        open_seconds: float = DEFAULT_OPEN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        on_transition: Transition | None = None,
    ) -> None:
        if failures < 1 or open_seconds <= 0:
            raise ValueError("a breaker needs failures >= 1 and open_seconds > 0")
        self.name = name
        self.failures = failures
        self.open_seconds = open_seconds
        self.clock = clock
        self.on_transition = on_transition
        self._lock = threading.Lock()
        self._state = State.CLOSED
        self._count = 0  # consecutive failures while closed
        self._since = 0.0  # when it opened (open), when the probe went (half-open)
        self._probing = False

    @property
    def state(self) -> State:
        with self._lock:
            return self._state

    def before(self) -> None:
        """Before a call: nothing when it may go, else :class:`CircuitOpen`."""
        moved: tuple[State, State] | None = None
        with self._lock:
            if self._state is State.CLOSED:
                return
            now = self.clock()
            waited = now - self._since
            if self._state is State.OPEN:
                if waited < self.open_seconds:
                    raise CircuitOpen(self.name, self.open_seconds - waited)
                moved = self._move(State.HALF_OPEN)
            elif self._probing and waited < self.open_seconds:
                raise CircuitOpen(self.name, self.open_seconds - waited)
            self._since, self._probing = now, True  # this call is the probe
        self._announce(moved)

    def success(self) -> None:
        """A call answered (whatever its answer: the dependency is up)."""
        moved = None
        with self._lock:
            self._count = 0
            if self._state is State.HALF_OPEN:
                self._probing = False
                moved = self._move(State.CLOSED)
        self._announce(moved)

    def failure(self) -> None:
        """A call failed or timed out."""
        moved = None
        with self._lock:
            if self._state is State.HALF_OPEN:
                moved = self._open()
            elif self._state is State.CLOSED:
                self._count += 1
                if self._count >= self.failures:
                    moved = self._open()
            # open: a call let through before it opened; it changes nothing
        self._announce(moved)

    def call[T](self, fn: Callable[[], T], *, is_failure: Callable[[BaseException], bool] = is_outage) -> T:
        """``fn()`` through the breaker: refused while open, its outcome recorded."""
        self.before()
        try:
            result = fn()
        except Exception as e:
            if is_failure(e):
                self.failure()
            else:
                self.success()
            raise
        self.success()
        return result

    def _open(self) -> tuple[State, State]:
        self._since, self._count, self._probing = self.clock(), 0, False
        return self._move(State.OPEN)

    def _move(self, to: State) -> tuple[State, State]:
        was, self._state = self._state, to
        return was, to

    def _announce(self, moved: tuple[State, State] | None) -> None:
        if moved is not None and self.on_transition is not None:
            self.on_transition(self.name, *moved)


def emit_transition(name: str, was: State, to: State) -> None:
    """Log a transition and write its EMF metric at once (it may happen on any thread)."""
    from rollcall.platform.observability import count_by, logger

    logger.warning("circuit breaker %s: %s -> %s", name, was.value, to.value, extra={"dependency": name})
    count_by(METRIC_OF[to], "dependency", name)


# --- the container's breakers --------------------------------------------------------------------

_lock = threading.Lock()
_breakers: dict[str, Breaker] = {}
_config: dict[str, Any] = {
    "failures": DEFAULT_FAILURES,
    "open_seconds": DEFAULT_OPEN_SECONDS,
    "clock": time.monotonic,
}


def get(name: str) -> Breaker:
    """This container's breaker of ``name`` (made on first use)."""
    found = _breakers.get(name)
    if found is None:
        with _lock:
            found = _breakers.get(name)
            if found is None:
                found = _breakers[name] = Breaker(name, on_transition=emit_transition, **_config)
    return found


def configure(
    *,
    failures: int | None = None,
    open_seconds: float | None = None,
    clock: Callable[[], float] | None = None,
) -> None:
    """Set the container's breakers' thresholds (and clock: tests), for those made and to come."""
    with _lock:
        given = {"failures": failures, "open_seconds": open_seconds, "clock": clock}
        _config.update({k: v for k, v in given.items() if v is not None})
        for breaker in _breakers.values():
            with breaker._lock:
                breaker.failures = _config["failures"]
                breaker.open_seconds = _config["open_seconds"]
                breaker.clock = _config["clock"]


def reset() -> None:
    """Forget every breaker and go back to the defaults (tests)."""
    with _lock:
        _breakers.clear()
        _config.update(failures=DEFAULT_FAILURES, open_seconds=DEFAULT_OPEN_SECONDS, clock=time.monotonic)
