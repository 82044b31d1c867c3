"""The circuit breaker's states: closed → open → half-open → closed or open again, on a clock the
tests move (no sleeping), and what an open breaker answers."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from rollcall.platform import breaker
from rollcall.platform.breaker import Breaker, CircuitOpen, State
from rollcall.platform.errors import ArtifactIntegrityError, NotFound, StoreUnavailable


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def moves() -> list[tuple[str, State, State]]:
    return []


@pytest.fixture
def store(clock: Clock, moves: list[tuple[str, State, State]]) -> Breaker:
    return Breaker(
        "dynamodb",
        failures=3,
        open_seconds=10,
        clock=clock,
        on_transition=lambda *move: moves.append(move),
    )


def fail(b: Breaker) -> None:
    def down() -> None:
        raise StoreUnavailable("down")

    with pytest.raises(StoreUnavailable):
        b.call(down)


def test_n_consecutive_failures_open_it_and_a_success_in_between_resets_the_count(
    store: Breaker, moves: list[tuple[str, State, State]]
) -> None:
    # Given two failures, then a success, then two failures
    fail(store)
    fail(store)
    assert store.call(lambda: "ok") == "ok"
    fail(store)
    fail(store)

    # Then it is still closed (never three in a row)
    assert store.state is State.CLOSED and moves == []

    # When a third consecutive failure comes
    fail(store)

    # Then it is open, and said so once
    assert store.state is State.OPEN
    assert moves == [("dynamodb", State.CLOSED, State.OPEN)]


def test_while_open_calls_are_refused_at_once_with_the_time_left(store: Breaker, clock: Clock) -> None:
    for _ in range(3):
        fail(store)
    calls: list[int] = []

    # When a call comes 4 s into the 10 s open period
    clock.advance(4)
    with pytest.raises(CircuitOpen) as refused:
        store.call(lambda: calls.append(1))

    # Then it was never made, and the error says when to retry
    assert calls == []
    error = refused.value
    assert error.status == 503 and error.code == "SERVICE_UNAVAILABLE"
    assert error.retry_after_ms == 6000
    assert error.headers == {"Retry-After": "6", "Retry-After-Ms": "6000"}
    assert error.body("r-1")["detail"] == {
        "message": "dynamodb is unavailable (circuit breaker open); retry later",
        "dependency": "dynamodb",
        "retry_after_ms": 6000,
    }


def test_after_the_open_period_one_probe_goes_and_its_success_closes_it(
    store: Breaker, clock: Clock, moves: list[tuple[str, State, State]]
) -> None:
    for _ in range(3):
        fail(store)
    clock.advance(10)

    # When the probe goes and, while it runs, another call comes
    store.before()
    assert store.state is State.HALF_OPEN
    with pytest.raises(CircuitOpen):
        store.before()

    # And the probe succeeds
    store.success()

    # Then it is closed and calls go through again
    assert store.state is State.CLOSED
    assert store.call(lambda: 42) == 42
    assert [to for _, _, to in moves] == [State.OPEN, State.HALF_OPEN, State.CLOSED]


def test_a_failed_probe_opens_it_again_for_a_whole_period(
    store: Breaker, clock: Clock, moves: list[tuple[str, State, State]]
) -> None:
    for _ in range(3):
        fail(store)
    clock.advance(12)

    # When the probe fails
    fail(store)

    # Then it is open again, counted from the probe's failure
    assert store.state is State.OPEN
    clock.advance(9.5)
    with pytest.raises(CircuitOpen) as refused:
        store.before()
    assert refused.value.retry_after_ms == 500
    clock.advance(0.5)
    store.before()  # the next probe
    assert [to for _, _, to in moves] == [State.OPEN, State.HALF_OPEN, State.OPEN, State.HALF_OPEN]


def test_a_probe_that_never_reports_is_replaced_after_a_period(store: Breaker, clock: Clock) -> None:
    for _ in range(3):
        fail(store)
    clock.advance(10)
    store.before()  # a probe whose outcome is never reported

    clock.advance(9)
    with pytest.raises(CircuitOpen):
        store.before()
    clock.advance(1)
    store.before()  # another probe goes
    store.success()
    assert store.state is State.CLOSED


def test_answers_that_are_not_outages_count_as_successes(store: Breaker) -> None:
    # Given two failures
    fail(store)
    fail(store)

    # When the dependency answers "not found" and "fails its check" (it is up)
    for error in (NotFound("no item"), ArtifactIntegrityError("bad sha")):

        def answer(error: Exception = error) -> None:
            raise error

        with pytest.raises(type(error)):
            store.call(answer)

    # Then the count started again: two more failures do not open it
    fail(store)
    fail(store)
    assert store.state is State.CLOSED


def test_timeouts_and_refused_connections_are_failures(store: Breaker) -> None:
    for error in (TimeoutError("read"), ConnectionRefusedError("refused"), TimeoutError("connect")):

        def broken(error: Exception = error) -> None:
            raise error

        with pytest.raises(type(error)):
            store.call(broken)
    assert store.state is State.OPEN


def test_outcomes_of_calls_let_through_before_it_opened_change_nothing(store: Breaker) -> None:
    for _ in range(3):
        fail(store)
    store.success()  # a slow call that started while it was closed
    assert store.state is State.OPEN
    store.failure()
    assert store.state is State.OPEN


def test_concurrent_failures_open_it_once(clock: Clock, moves: list[tuple[str, State, State]]) -> None:
    b = Breaker("s3", failures=50, open_seconds=5, clock=clock, on_transition=lambda *m: moves.append(m))
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        for _ in range(25):
            b.failure()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert b.state is State.OPEN
    assert moves == [("s3", State.CLOSED, State.OPEN)]


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="failures >= 1"):
        Breaker("x", failures=0)
    with pytest.raises(ValueError, match="failures >= 1"):
        Breaker("x", open_seconds=0)


@pytest.fixture
def container_breakers(clock: Clock) -> Iterator[None]:
    breaker.reset()
    breaker.configure(failures=2, open_seconds=7, clock=clock)
    yield
    breaker.reset()


@pytest.mark.usefixtures("container_breakers")
def test_each_transition_writes_an_emf_metric_with_the_dependency(
    clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the container's breaker of the model loader (the settings applied to it)
    model = breaker.get("model")
    assert breaker.get("model") is model
    assert (model.failures, model.open_seconds) == (2, 7)

    # When it opens, half-opens and closes
    model.failure()
    model.failure()
    clock.advance(7)
    model.before()
    model.success()

    # Then each transition is one EMF document, in the Rollcall namespace, by dependency
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    emitted: list[tuple[str, Any]] = []
    for doc in docs:
        (directive,) = doc["_aws"]["CloudWatchMetrics"]
        (metric,) = directive["Metrics"]
        assert directive["Namespace"] == "Rollcall"
        assert ["dependency"] in [d[-1:] for d in directive["Dimensions"]]
        emitted.append((metric["Name"], doc["dependency"]))
    assert emitted == [("CircuitOpened", "model"), ("CircuitHalfOpened", "model"), ("CircuitClosed", "model")]


@pytest.mark.usefixtures("container_breakers")
def test_configure_applies_to_breakers_already_made() -> None:
    b = breaker.get("dynamodb")
    breaker.configure(failures=9, open_seconds=1.5)
    assert (b.failures, b.open_seconds) == (9, 1.5)


class DeadArtifacts:
    """A model bucket that cannot be read (a store outage), counting the reads tried."""

    def __init__(self) -> None:
        self.reads = 0

    def get(self, key: str) -> bytes:
        self.reads += 1
        raise StoreUnavailable("the model bucket failed")


@pytest.mark.usefixtures("container_breakers")
def test_the_model_loader_stops_reading_a_dead_bucket_until_its_probe(clock: Clock) -> None:
    from rollcall.services.registry import load_version

    artifacts = DeadArtifacts()

    def load() -> Any:
        return load_version(artifacts, "org-a", "attendance", "v1", "0" * 64)  # type: ignore[arg-type]

    # When loading fails twice (the configured threshold)
    for _ in range(2):
        with pytest.raises(StoreUnavailable):
            load()

    # Then the loader's breaker is open: the next load is refused without a read
    with pytest.raises(CircuitOpen) as refused:
        load()
    assert refused.value.dependency == "model" and artifacts.reads == 2

    # And after the open period one probe reads again (and, failing, opens it again)
    clock.advance(7)
    with pytest.raises(StoreUnavailable):
        load()
    assert artifacts.reads == 3 and breaker.get("model").state is State.OPEN
