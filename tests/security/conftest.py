"""The security suite: attacks on the local stack (`make run`), asserting what is stored afterwards.

One stack for the whole folder (the suite's tests only read it or write in organisations of their
own). ``victim`` is an organisation with one of everything a path can name (a student with an
enrolled face, a session marked from a photo, an uploaded photo, an anomaly, a finished training
job and its model version); the attacks are aimed at its ids. The routes come from the API's own
OpenAPI document, so a route added later is attacked without editing this suite.

Every test here is marked ``security``, and ``e2e`` (the stack over HTTP) or ``integration`` (moto).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from tests.e2e.conftest import LocalStack, started
from tests.integration.runtime.helpers import wait_for

HERE = Path(__file__).resolve().parent
TABLE = "rollcall-local-records"
VICTIM, ATTACKER = "victim", "attacker"
CLASS = "sec"
MONDAY = {"starts_at": "2026-09-07T09:00:00Z", "ends_at": "2026-09-07T10:00:00Z"}
JOB_SECONDS = 180


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            uses_stack = "stack" in getattr(item, "fixturenames", ())
            item.add_marker(pytest.mark.e2e if uses_stack else pytest.mark.integration)
            item.add_marker(pytest.mark.security)


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with started(LocalStack(tmp_path_factory.mktemp("local"))) as running:
        yield running


def aws(stack: LocalStack, service: str) -> Any:
    return boto3.client(  # type: ignore[call-overload]  # the service name is a variable
        service,
        endpoint_url=stack.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- what is stored --------------------------------------------------------------------------------


def table_items(stack: LocalStack, table: str = TABLE) -> list[dict[str, Any]]:
    pages = aws(stack, "dynamodb").get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
    return [item for page in pages for item in page["Items"]]


def snapshot(stack: LocalStack, org: str | None = None) -> dict[str, Any]:
    """Everything stored: every table's items and every bucket's objects (key and ETag), as sorted
    JSON lines; with ``org``, only what belongs to that organisation (keys naming it). Rate-limit
    buckets (``#RATE#`` keys) are left out: every authenticated request moves them, and they hold
    no data of the organisation."""
    dynamodb, s3 = aws(stack, "dynamodb"), aws(stack, "s3")
    stored: dict[str, Any] = {}
    for table in dynamodb.list_tables()["TableNames"]:
        rows = [json.dumps(item, sort_keys=True, default=sha_of) for item in table_items(stack, table)]
        rows = [r for r in rows if "#RATE#" not in r]
        stored[table] = sorted(r for r in rows if org is None or f"#{org}#" in r or f'"{org}"' in r)
    for bucket in (b["Name"] for b in s3.list_buckets()["Buckets"]):
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        keys = [f"{o['Key']} {o['ETag']}" for page in pages for o in page.get("Contents", [])]
        stored[bucket] = sorted(k for k in keys if org is None or f"/{org}/" in f"/{k}")
    return stored


def changed(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What ``after`` added or removed, per table or bucket (empty: nothing changed)."""
    diff = {}
    for name in sorted(set(before) | set(after)):
        old, new = set(before.get(name, [])), set(after.get(name, []))
        if old != new:
            diff[name] = {"added": sorted(new - old)[:3], "removed": sorted(old - new)[:3]}
    return diff


# --- the routes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    public: bool  # documented without a security requirement (GET /health)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def params(self) -> list[str]:
        return [part[1:-1] for part in self.path.split("/") if part.startswith("{")]


@pytest.fixture(scope="package")
def openapi(stack: LocalStack) -> dict[str, Any]:
    response = httpx.get(f"{stack.api_url}/openapi.json", timeout=120)
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.fixture(scope="package")
def routes(openapi: dict[str, Any]) -> list[Route]:
    """Every documented route of the API (the merged document of every function)."""
    found = []
    for path, operations in openapi["paths"].items():
        for method in operations:
            if method in ("get", "put", "post", "delete", "patch"):
                found.append(Route(method.upper(), path, path == "/health"))
    assert len(found) >= 30, found
    return found


# --- the victim organisation -----------------------------------------------------------------------


@dataclass
class Victim:
    """One of everything of organisation ``victim``: path parameter → its id."""

    ids: dict[str, str] = field(default_factory=dict)
    face_photo: bytes = b""

    def url(self, route: Route) -> str:
        """The route's path with the victim's ids (an unknown parameter gets a plausible id)."""
        path = route.path
        for name in route.params:
            path = path.replace("{" + name + "}", self.ids.get(name, "x-1"))
        return path


def body_for(route: Route, victim: Victim) -> dict[str, Any]:
    """A request body the route would accept, aimed at the victim's data (httpx keyword arguments)."""
    image = {"image_base64": b64(victim.face_photo)}
    bodies: dict[str, dict[str, Any]] = {
        "POST /v1/students": {"json": {"student_id": "intruder", "name": "Intruder", "class_ids": [CLASS]}},
        "POST /v1/students/{student_id}/faces": {"json": image},
        "POST /v1/faces/search": {"json": image},
        "POST /v1/sessions": {"json": {"session_id": "intrusion", "class_id": CLASS, **MONDAY}},
        "POST /v1/sessions/{session_id}/attendance": {"json": image},
        "PATCH /v1/sessions/{session_id}/attendance/{student_id}": {
            "json": {"status": "absent", "note": "changed by someone else"}
        },
        "POST /v1/sessions/{session_id}/photos": {"json": {}},
        "POST /v1/predictions": {
            "json": {"student_id": victim.ids["student_id"], "session_id": victim.ids["session_id"]}
        },
        "POST /v1/predictions/batch": {"json": {"session_id": victim.ids["session_id"]}},
        "PUT /v1/models/{model_type}/traffic": {"json": {"challenger": victim.ids["version"], "share": 0.5}},
        "POST /v1/attendance/import": {
            "content": (
                "student_id,class_id,session_id,starts_at,ends_at,status,arrived_at\n"
                f"{victim.ids['student_id']},{CLASS},{victim.ids['session_id']},"
                "2026-09-07T09:00:00Z,2026-09-07T10:00:00Z,absent,\n"
            ).encode(),
            "headers": {"content-type": "text/csv"},
        },
        "PATCH /v1/anomalies/{anomaly_id}": {"json": {"status": "resolved", "note": "not mine"}},
    }
    if str(route) in bodies:
        return bodies[str(route)]
    return {"json": {}} if route.method in ("POST", "PUT", "PATCH") else {}


def _finished(admin: httpx.Client, job_id: str) -> dict[str, Any]:
    """The job as it ends (polled)."""

    def finished() -> dict[str, Any] | None:
        job = admin.get(f"/v1/jobs/{job_id}").json()
        return job if job["status"] in ("succeeded", "failed") else None

    return dict(wait_for(finished, timeout=JOB_SECONDS, interval=0.5, what=f"job {job_id} done"))


@pytest.fixture(scope="package")
def victim(stack: LocalStack, faces_dir: Path) -> Victim:
    """The victim organisation, seeded through its own API (and a synthetic history in its store)."""
    from rollcall.store.table import OrgRecords
    from testkit.seeding import store_history
    from testkit.synthetic import generate

    admin = stack.client("admin", org=VICTIM, sub="head")
    # A synthetic history ending now (anomalies injected): enough to train on and to scan
    history = generate(VICTIM, students=16, weeks=6, seed=11)
    history = history.shifted(datetime.now(UTC) - timedelta(minutes=1) - history.now)
    store_history(OrgRecords(VICTIM, TABLE, client=aws(stack, "dynamodb")), history)
    # A training job and a scan job, running while the faces are enrolled and marked
    training, scan = admin.post("/v1/models/attendance/train"), admin.post("/v1/anomalies/scan")
    assert training.status_code == scan.status_code == 202, (training.text, scan.text)
    # A student of CLASS with a real face, and a session of CLASS marked from a photo of them
    face = (faces_dir / "people/barack_obama/obama.jpg").read_bytes()
    created = admin.post("/v1/students", json={"student_id": "obama", "name": "Obama", "class_ids": [CLASS]})
    assert created.status_code == 201, created.text
    enrolled = admin.post("/v1/students/obama/faces", json={"image_base64": b64(face)})
    assert enrolled.status_code == 201, enrolled.text
    session = admin.post("/v1/sessions", json={"session_id": "sec-1", "class_id": CLASS, **MONDAY})
    assert session.status_code == 201, session.text
    marked = admin.post(
        "/v1/sessions/sec-1/attendance",
        json={"image_base64": b64((faces_dir / "people/barack_obama/obama2.jpg").read_bytes())},
    )
    assert marked.status_code == 200 and marked.json()["present"] == ["obama"], marked.text
    upload = admin.post("/v1/sessions/sec-1/photos", json={})
    assert upload.status_code in (200, 201, 202), upload.text
    # The training's model version; an anomaly the scan found
    job = _finished(admin, training.json()["job_id"])
    assert job["status"] == "succeeded", job
    version = admin.get("/v1/models/attendance/versions").json()["versions"][0]["version"]
    assert _finished(admin, scan.json()["job_id"])["status"] == "succeeded"
    anomalies = admin.get("/v1/anomalies", params={"limit": "5"}).json()["items"]
    assert anomalies, "the injected anomalies were found"
    return Victim(
        ids={
            "org": VICTIM,
            "student_id": "obama",
            "face_id": enrolled.json()["face_id"],
            "session_id": "sec-1",
            "photo_id": upload.json()["photo_id"],
            "model_type": "attendance",
            "version": version,
            "job_id": job["job_id"],
            "anomaly_id": anomalies[0]["anomaly_id"],
        },
        face_photo=face,
    )


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha_of(value: Any) -> str:
    """Binary attributes (embeddings) in a snapshot: their digest."""
    return sha(bytes(value))
