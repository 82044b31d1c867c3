"""Every route answers its largest documented input within the API's limit, on the README's seed.

The organisation is what ``make seed ORG=demo STUDENTS=300 WEEKS=16 SEED=7`` stores (a synthetic
history ending this week, about 151,000 items), stored at the stack's emulator. Each route then
gets the largest input the README documents for it (10,000 predictions, a CSV of 5,000 rows,
a page of 200 anomalies, 100 jobs, the 90-day comparison, a whole class's session, real photos),
through a client whose timeout is 25 s: an answer must come within it, and must not be a 5xx.
Long work answers 202 with a job; the jobs themselves are tests/e2e/test_jobs.py. Nothing else
is timed here.
"""

from __future__ import annotations

import base64
import signal
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config

from rollcall.store.table import OrgRecords
from testkit.seeding import store_history
from testkit.synthetic import SyntheticHistory, generate
from tests.e2e.conftest import LocalStack

pytestmark = pytest.mark.timeout(2400)  # seeding 151,000 items at the emulator is most of it

ORG, TABLE = "demo", "rollcall-local-records"
STOP_SECONDS = 900  # a clean stop saves the seed's items
LIMIT_SECONDS = 25  # the API's limit is 30 s; an answer must come before this
MAX_BATCH, MAX_SYNC_BATCH, MAX_SYNC_CSV_ROWS, MAX_CSV_ROWS = 10_000, 1_000, 5_000, 50_000


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The stack of this module, given the time its clean stop takes to save the seed."""
    running = LocalStack(tmp_path_factory.mktemp("local"))
    running.start()
    try:
        yield running
    finally:
        assert running.process is not None
        running.process.send_signal(signal.SIGINT)
        try:
            running.process.wait(timeout=STOP_SECONDS)
        finally:
            if running.process.poll() is None:
                running.process.kill()
                running.process.wait(timeout=10)


@pytest.fixture(scope="module")
def seeded(stack: LocalStack) -> SyntheticHistory:
    """``make seed``'s organisation: 300 students x 16 weeks ending this week, seed 7."""
    today = datetime.now(UTC).date()
    monday = datetime.combine(today - timedelta(days=today.weekday(), weeks=16), datetime.min.time(), UTC)
    history = generate(ORG, 300, 16, 7, start=monday)
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=stack.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(read_timeout=120),
    )
    store_history(OrgRecords(ORG, TABLE, client=dynamodb), history)
    return history


def client(stack: LocalStack, role: str = "admin", sub: str = "root") -> httpx.Client:
    return stack.client(role, org=ORG, sub=sub, timeout=LIMIT_SECONDS)


def answered(response: httpx.Response, *expected: int) -> dict[str, Any]:
    """The answer's JSON; it must be one of ``expected`` (never a 5xx)."""
    assert response.status_code < 500, (response.request.url, response.status_code, response.text[:500])
    assert response.status_code in expected, (response.request.url, response.status_code, response.text[:500])
    body = response.json() if response.content else {}
    return body if isinstance(body, dict) else {"items": body}


def _photo(faces_dir: Path, relative: str) -> str:
    return base64.b64encode((faces_dir / relative).read_bytes()).decode()


def _csv(history: SyntheticHistory, rows: int) -> bytes:
    """A CSV of ``rows`` records (under the 5 MiB limit): the seed's latest records again, as an
    import (whole or nothing; the same records again change nothing)."""
    lines = ["student_id,class_id,session_id,starts_at,ends_at,status"]
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    kept = [r for r in history.records if r.status.value in ("present", "absent", "late")][-rows:]
    for r in kept:
        lines.append(
            f"{r.student_id},{r.class_id},{r.session_id},{r.starts_at.strftime(stamp)},"
            f"{r.ends_at.strftime(stamp)},{r.status.value}"
        )
    assert len(kept) == rows
    return ("\n".join(lines) + "\n").encode()


def test_every_route_answers_its_largest_input_within_the_limit(
    stack: LocalStack, seeded: SyntheticHistory, faces_dir: Path
) -> None:
    admin, teacher = client(stack), client(stack, "teacher", "alice")
    students = [s.student_id for s in seeded.students]
    session = seeded.sessions[-1]
    members = [s.student_id for s in seeded.students if session.class_id in s.class_ids]
    calls: list[tuple[str, Callable[[], dict[str, Any]]]] = []

    def call(name: str, run: Callable[[], dict[str, Any]]) -> None:
        calls.append((name, run))

    call("GET /health", lambda: answered(httpx.get(f"{stack.api_url}/health", timeout=LIMIT_SECONDS), 200))
    call("GET /v1/me", lambda: answered(teacher.get("/v1/me"), 200))
    call("GET /v1/orgs/{org}", lambda: answered(teacher.get(f"/v1/orgs/{ORG}"), 200))
    new = {"student_id": "limits-new", "name": "New Student", "class_ids": [session.class_id]}
    call("POST /v1/students", lambda: answered(teacher.post("/v1/students", json=new), 201))
    call("GET /v1/students/{id}", lambda: answered(teacher.get(f"/v1/students/{students[0]}"), 200))
    portrait = {"image_base64": _photo(faces_dir, "people/barack_obama/obama.jpg")}
    call(
        "POST /v1/students/{id}/faces",
        lambda: answered(teacher.post("/v1/students/limits-new/faces", json=portrait), 201, 200),
    )
    call("GET /v1/students/{id}/faces", lambda: answered(teacher.get("/v1/students/limits-new/faces"), 200))
    group = {"image_base64": _photo(faces_dir, "groups/bald_guys.jpg"), "annotate": True}
    call("POST /v1/faces/search", lambda: answered(teacher.post("/v1/faces/search", json=group), 200, 422))
    new_session = {
        "session_id": "limits-session",
        "class_id": session.class_id,
        "starts_at": (datetime.now(UTC) - timedelta(minutes=30)).isoformat(),
        "ends_at": (datetime.now(UTC) + timedelta(minutes=30)).isoformat(),
    }
    call("POST /v1/sessions", lambda: answered(teacher.post("/v1/sessions", json=new_session), 201))
    call("GET /v1/sessions/{id}", lambda: answered(teacher.get(f"/v1/sessions/{session.session_id}"), 200))
    call(
        "POST /v1/sessions/{id}/attendance",
        lambda: answered(teacher.post("/v1/sessions/limits-session/attendance", json=group), 200, 422),
    )
    call(
        "GET /v1/sessions/{id}/attendance",
        lambda: answered(teacher.get(f"/v1/sessions/{session.session_id}/attendance"), 200),
    )
    call(
        "PATCH /v1/sessions/{id}/attendance/{student_id}",
        lambda: answered(
            teacher.patch(
                f"/v1/sessions/{session.session_id}/attendance/{members[0]}",
                json={"status": "present", "note": "limits"},
            ),
            200,
        ),
    )
    one = {"student_id": members[0], "session_id": session.session_id}
    call("POST /v1/predictions", lambda: answered(teacher.post("/v1/predictions", json=one), 200))
    items = [
        {"student_id": students[i % len(students)], "session_id": seeded.sessions[-1 - i % 50].session_id}
        for i in range(MAX_BATCH)
    ]
    call(
        "POST /v1/predictions/batch (1,000: at once)",
        lambda: answered(teacher.post("/v1/predictions/batch", json={"items": items[:MAX_SYNC_BATCH]}), 200),
    )
    call(
        "POST /v1/predictions/batch (10,000: a job)",
        lambda: answered(teacher.post("/v1/predictions/batch", json={"items": items}), 202),
    )
    call(
        "POST /v1/predictions/batch (a session)",
        lambda: answered(teacher.post("/v1/predictions/batch", json={"session_id": session.session_id}), 200),
    )
    csv, too_large = _csv(seeded, MAX_SYNC_CSV_ROWS), _csv(seeded, MAX_CSV_ROWS)
    call(
        "POST /v1/attendance/import (5,000 rows)",
        lambda: answered(
            teacher.post("/v1/attendance/import", content=csv, headers={"content-type": "text/csv"}), 201, 200
        ),
    )
    call(
        "POST /v1/attendance/import (50,000 rows: refused, to be uploaded)",
        lambda: answered(
            teacher.post("/v1/attendance/import", content=too_large, headers={"content-type": "text/csv"}),
            413,
        ),
    )
    call("POST /v1/attendance/imports", lambda: answered(teacher.post("/v1/attendance/imports"), 202))
    call("POST /v1/models/{type}/train", lambda: answered(admin.post("/v1/models/attendance/train"), 202))
    call("GET /v1/jobs", lambda: answered(teacher.get("/v1/jobs", params={"limit": "100"}), 200))
    call("GET /v1/models", lambda: answered(teacher.get("/v1/models"), 200))
    call(
        "GET /v1/models/{type}/versions", lambda: answered(teacher.get("/v1/models/attendance/versions"), 200)
    )
    call(
        "GET /v1/models/{type}/versions/{version}",
        lambda: answered(teacher.get("/v1/models/attendance/versions/v0001"), 200, 404),
    )
    call(
        "POST /v1/models/{type}/versions/{version}/activate",
        lambda: answered(admin.post("/v1/models/attendance/versions/v0001/activate"), 200, 404, 409),
    )
    call(
        "PUT /v1/models/{type}/traffic",
        lambda: answered(
            admin.put("/v1/models/attendance/traffic", json={"challenger": None, "share": 0}), 200, 404, 409
        ),
    )
    call("GET /v1/models/{type}/history", lambda: answered(teacher.get("/v1/models/attendance/history"), 200))
    call(
        "GET /v1/models/{type}/comparison (90 days)",
        lambda: answered(teacher.get("/v1/models/attendance/comparison", params={"days": "90"}), 200),
    )
    call("POST /v1/anomalies/scan", lambda: answered(teacher.post("/v1/anomalies/scan"), 202))
    call(
        "GET /v1/anomalies (200)",
        lambda: answered(teacher.get("/v1/anomalies", params={"limit": "200"}), 200),
    )
    call("GET /v1/anomalies/summary", lambda: answered(teacher.get("/v1/anomalies/summary"), 200))

    problems: dict[str, str] = {}
    answers: dict[str, dict[str, Any]] = {}

    def run_all(routes: list[tuple[str, Callable[[], dict[str, Any]]]]) -> None:
        for name, run in routes:
            try:
                answers[name] = run()
            except httpx.TimeoutException:
                problems[name] = f"no answer within {LIMIT_SECONDS} s"
            except AssertionError as e:
                problems[name] = str(e)[:300]

    run_all(calls)
    job_id = answers.get("POST /v1/anomalies/scan", {}).get("job_id", "job-none")
    run_all(
        [
            ("GET /v1/jobs/{id}", lambda: answered(teacher.get(f"/v1/jobs/{job_id}"), 200, 404)),
            (
                "GET /v1/anomalies/{id}",
                lambda: answered(teacher.get("/v1/anomalies/anomaly-that-is-not-there"), 404),
            ),
            (
                "PATCH /v1/anomalies/{id}",
                lambda: answered(
                    teacher.patch("/v1/anomalies/anomaly-that-is-not-there", json={"status": "resolved"}), 404
                ),
            ),
            (
                "DELETE /v1/students/{id}/faces/{face_id}",
                lambda: answered(teacher.delete("/v1/students/limits-new/faces/face-not-there"), 404),
            ),
            (
                "DELETE /v1/students/{id} (16 weeks of records)",
                lambda: answered(admin.delete(f"/v1/students/{students[1]}"), 200),
            ),
        ]
    )
    assert problems == {}
    assert answers["POST /v1/predictions/batch (1,000: at once)"]["count"] == MAX_SYNC_BATCH
