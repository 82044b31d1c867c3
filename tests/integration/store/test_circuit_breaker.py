"""The circuit breaker against a real outage: the emulator is stopped under a bounded load, then
started again. The predict function's app (its real routes, real tokens) uses the shared clients,
as deployed; the breakers' clock is the test's (no sleeping, nothing timed). "At once" is shown
by what reaches the network: while the breaker is open, no request is sent at all."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from rollcall.api import jobs, predictions, registry
from rollcall.api.app import create_app
from rollcall.domain import Session, Student
from rollcall.platform import breaker
from rollcall.platform.auth import issue_token
from rollcall.platform.breaker import CircuitOpen, State
from rollcall.platform.errors import StoreUnavailable
from rollcall.platform.settings import PredictSettings
from rollcall.store import clients
from rollcall.store.attendance import SessionRepo
from rollcall.store.roster import RosterRepo
from rollcall.store.table import OrgDirectory, OrgRecords
from rollcall_local.emulator import EMULATOR_CREDENTIALS, Aws, Emulator
from rollcall_local.provision import provision
from rollcall_local.template import Physical, Template
from tests.integration.runtime.helpers import free_port

SECRET = "a-local-test-secret-of-at-least-32-characters"
ISS, AUD = "rollcall-test", "rollcall-api"
ORG = "org-cb"
OPEN_SECONDS = 30.0
NOW = datetime.now(UTC).replace(microsecond=0)


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Outage:
    emulator: Emulator
    template: Template
    physical: Physical
    clock: Clock
    sent: list[str]  # every DynamoDB request that left the client

    def restart(self) -> None:
        """Start the emulator again on its port: fresh tables, the organisation stored again (by
        the emulator's own client: the functions' is the one under test)."""
        self.emulator = Emulator(self.emulator.port)
        self.emulator.start()
        self.physical = provision(self.template, aws_of(self.emulator))
        seed(self.physical, aws_of(self.emulator))


def aws_of(emulator: Emulator) -> Aws:
    return Aws(emulator.endpoint, "us-east-1", True, dict(EMULATOR_CREDENTIALS))


def seed(physical: Physical, aws: Aws) -> None:
    records = OrgRecords(ORG, physical.refs["RecordsTable"], client=aws.client("dynamodb"))
    OrgDirectory(records.table, client=records.client).register(ORG)
    RosterRepo(records).put_profile(Student("s-1", "Ada", ("c-1",)), created_by="test", created_at=NOW)
    RosterRepo(records).ensure_members({("c-1", "s-1")})
    session = Session("x-1", "c-1", NOW + timedelta(days=1), NOW + timedelta(days=1, hours=1))
    SessionRepo(records).ensure([session], created_by="test", created_at=NOW)


@pytest.fixture(scope="module")
def outage(template: Template) -> Iterator[Outage]:
    with pytest.MonkeyPatch.context() as env:
        emulator = Emulator(free_port())
        emulator.start()
        env.setenv("AWS_ENDPOINT_URL", emulator.endpoint)
        for name, value in EMULATOR_CREDENTIALS.items():
            env.setenv(name, value)
        clients.reset()
        clock = Clock()
        sent: list[str] = []
        clients.client("dynamodb").meta.events.register(
            "before-send.dynamodb", lambda **kw: sent.append(kw["request"].url)
        )
        physical = provision(template, aws_of(emulator))
        state = Outage(emulator, template, physical, clock, sent)
        try:
            seed(physical, aws_of(emulator))
            yield state
        finally:
            state.emulator.stop()
            breaker.reset()
            clients.reset()


@pytest.fixture(autouse=True)
def breakers(outage: Outage) -> None:
    """The container's breakers (closed by the suite's own fixture): 3 failures, the test's clock."""
    breaker.configure(failures=3, open_seconds=OPEN_SECONDS, clock=outage.clock)


@pytest.fixture(scope="module")
def api(outage: Outage) -> TestClient:
    refs = outage.physical.refs
    settings = PredictSettings(
        stage="test",
        records_table=refs["RecordsTable"],
        registry_table=refs["ModelRegistryTable"],
        model_bucket=refs["ModelBucket"],
        alert_queue_url="http://127.0.0.1:1/queue/alerts",
        history_cache_ttl_seconds=0,
        auth_issuer=ISS,
        auth_audience=AUD,
        auth_hs256_secret=SecretStr(SECRET),
    )
    app = create_app("predict", routers=[predictions.router, registry.router, jobs.router], settings=settings)
    return TestClient(app)


def teacher() -> dict[str, str]:
    token = issue_token(secret=SECRET, sub="t-1", org=ORG, role="teacher", issuer=ISS, audience=AUD)
    return {"authorization": f"Bearer {token}"}


def get_job(api: TestClient) -> Any:
    return api.get("/v1/jobs/j-1", headers=teacher())


def predict(api: TestClient) -> Any:
    return api.post("/v1/predictions", json={"student_id": "s-1", "session_id": "x-1"}, headers=teacher())


def transitions(out: str) -> list[tuple[str, str]]:
    found = []
    for line in out.splitlines():
        if '"_aws"' in line and "Circuit" in line:
            doc = json.loads(line)
            name = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]
            found.append((name, doc["dependency"]))
    return found


def test_a_stopped_store_gives_fast_503s_and_fallbacks_then_recovers(
    outage: Outage, api: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the store up: a job that does not exist is 404, a prediction is made (no model yet)
    assert get_job(api).json()["code"] == "JOB_NOT_FOUND"
    healthy = predict(api)
    assert healthy.status_code == 200, healthy.text
    assert healthy.json()["fallback_reason"] == "no active model"

    # When the emulator stops, under a bounded load (24 requests on 4 threads)
    outage.emulator.stop()
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda i: (get_job if i % 2 else predict)(api), range(24)))

    # Then no request failed with a 500: reads are 503 (the store's error, then the breaker's),
    # predictions answer their fallback
    for i, answer in enumerate(answers):
        if i % 2:
            assert answer.status_code == 503, answer.text
            assert answer.json()["code"] in ("STORE_UNAVAILABLE", "SERVICE_UNAVAILABLE")
        else:
            assert answer.status_code == 200, answer.text
            assert answer.json()["method"] != "model"
    assert breaker.get("dynamodb").state is State.OPEN

    # And while it is open, nothing reaches the network: a read is refused at once, with when to
    # retry (in seconds and in milliseconds) in the error envelope
    before = len(outage.sent)
    outage.clock.now += 10
    refused = get_job(api)
    assert refused.status_code == 503
    body = refused.json()
    assert body["code"] == "SERVICE_UNAVAILABLE" and body["error"] == "service unavailable"
    assert body["detail"] == {
        "message": "dynamodb is unavailable (circuit breaker open); retry later",
        "dependency": "dynamodb",
        "retry_after_ms": 20_000,
    }
    assert body["request_id"] == refused.headers["x-request-id"]
    assert refused.headers["retry-after"] == "20" and refused.headers["retry-after-ms"] == "20000"

    # And a prediction answers its fallback at once, saying the breaker is open
    fallback = predict(api).json()
    assert fallback["method"] in ("similarity", "heuristic")
    assert fallback["fallback_reason"].endswith("circuit breaker open (dynamodb)")
    assert len(outage.sent) == before

    # When the emulator is back but the open period has not ended: still refused, nothing sent
    outage.restart()
    before = len(outage.sent)
    assert get_job(api).json()["code"] == "SERVICE_UNAVAILABLE"
    assert len(outage.sent) == before

    # When the period ends: one probe goes, succeeds and closes the breaker
    outage.clock.now += OPEN_SECONDS
    assert get_job(api).json()["code"] == "JOB_NOT_FOUND"
    assert breaker.get("dynamodb").state is State.CLOSED
    recovered = predict(api)
    assert recovered.status_code == 200 and recovered.json()["fallback_reason"] == "no active model"

    # And each transition was written as an EMF metric for the dependency
    assert [t for t in transitions(capsys.readouterr().out) if t[1] == "dynamodb"] == [
        ("CircuitOpened", "dynamodb"),
        ("CircuitHalfOpened", "dynamodb"),
        ("CircuitClosed", "dynamodb"),
    ]


def test_a_dead_s3_endpoint_fails_as_store_unavailable_then_is_not_called_at_all(
    outage: Outage, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the shared S3 client pointed at a port nothing listens on
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")
    s3 = clients.client("s3")
    sent: list[str] = []
    s3.meta.events.register("before-send.s3", lambda **kw: sent.append(kw["request"].url))

    # When it is called three times (the breaker's threshold here)
    for _ in range(3):
        with pytest.raises(StoreUnavailable) as failed:
            s3.head_bucket(Bucket="any-bucket")
        # Then each failure is the store's 503, naming the dependency (not botocore's error)
        assert failed.value.status == 503 and failed.value.code == "STORE_UNAVAILABLE"
        assert failed.value.detail["dependency"] == "s3"
    assert len(sent) == 3 * 2  # two attempts a call
    assert breaker.get("s3").state is State.OPEN

    # And the next call is refused before anything is sent
    with pytest.raises(CircuitOpen) as refused:
        s3.head_bucket(Bucket="any-bucket")
    assert refused.value.dependency == "s3" and len(sent) == 6

    # And the DynamoDB breaker is another's: unaffected
    assert breaker.get("dynamodb").state is State.CLOSED
