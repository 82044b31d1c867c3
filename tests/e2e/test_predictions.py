"""Attendance import, training jobs, the model registry and predictions, through the local stack.

A small synthetic organisation (24 students × 6 weeks, about 4,300 records, ending this week)
is stored through the real store on the stack's emulator; training goes API → training queue →
train function; predictions go through the API. The trainings are fixtures (made once, in
order): v0001 (activated: nothing was active), then v0002 and v0003 on the same data (not
activated: the same model does not beat v0001 on the same holdout). v0002 is first loaded by the
predict function after its file was tampered with; v0003 is the challenger of the traffic test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import httpx
import pytest

from rollcall.domain import Session
from rollcall.store.table import OrgRecords
from testkit.seeding import store_history
from testkit.synthetic import SyntheticHistory, generate
from tests.e2e.conftest import ROOT, LocalStack
from tests.integration.runtime.helpers import wait_for

ORG = "school"
STACK = "rollcall-local"
RECORDS, REGISTRY, ALERTS = f"{STACK}-records", f"{STACK}-model-registry", f"{STACK}-alerts"
BUCKET = f"{STACK}-models-123456789012-us-east-1"
JOB_SECONDS = 180


def aws(stack: LocalStack, service: str) -> Any:
    return boto3.client(  # type: ignore[call-overload]  # the service name is a variable
        service,
        endpoint_url=stack.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture(scope="module")
def seeded(stack: LocalStack) -> SyntheticHistory:
    today = datetime.now(UTC).date()
    monday = datetime.combine(today - timedelta(days=today.weekday(), weeks=6), datetime.min.time(), UTC)
    history = generate(ORG, students=24, weeks=6, seed=21, start=monday, anomalies=False)
    store_history(OrgRecords(ORG, RECORDS, client=aws(stack, "dynamodb")), history)
    return history


@pytest.fixture(scope="module")
def session(seeded: SyntheticHistory) -> Session:
    """A session of the last week, and (below) one of its students."""
    return seeded.sessions[-1]


@pytest.fixture(scope="module")
def student(seeded: SyntheticHistory, session: Session) -> str:
    return next(s.student_id for s in seeded.students if session.class_id in s.class_ids)


def train(stack: LocalStack) -> dict[str, Any]:
    """POST train as an admin, then the job as it ends (polled)."""
    admin = stack.client("admin", org=ORG, sub="root")
    queued = admin.post("/v1/models/attendance/train")
    assert queued.status_code == 202, queued.text
    job_id = queued.json()["job_id"]

    def finished() -> dict[str, Any] | None:
        job = admin.get(f"/v1/jobs/{job_id}").json()
        return job if job["status"] in ("succeeded", "failed") else None

    return wait_for(finished, timeout=JOB_SECONDS, interval=1, what=f"job {job_id} done")


@pytest.fixture(scope="module")
def first(stack: LocalStack, seeded: SyntheticHistory) -> dict[str, Any]:
    return train(stack)


@pytest.fixture(scope="module")
def second(stack: LocalStack, first: dict[str, Any]) -> dict[str, Any]:
    return train(stack)


@pytest.fixture(scope="module")
def third(stack: LocalStack, second: dict[str, Any]) -> dict[str, Any]:
    """v0003: the challenger (v0002 is kept unloaded for the tampering test)."""
    return train(stack)


def predict(client: httpx.Client, student: str, session: Session) -> dict[str, Any]:
    response = client.post("/v1/predictions", json={"student_id": student, "session_id": session.session_id})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_without_a_model_the_heuristic_answers(stack: LocalStack) -> None:
    # Given an organisation with no model and no history, and a new student
    teacher = stack.client("teacher", org="new-school")
    assert teacher.post("/v1/students", json={"student_id": "ann", "name": "Ann"}).status_code == 201
    answer = teacher.post(
        "/v1/predictions", json={"student_id": "ann", "class_id": "math", "starts_at": "2026-09-07T09:00:00Z"}
    )

    # Then the heuristic answers, and says why the model did not
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["method"], body["model_version"], body["fallback_reason"]) == (
        "heuristic",
        None,
        "no active model",
    )
    assert body["interval"][0] <= body["probability"] <= body["interval"][1]
    # And a student who does not exist gets no prediction, stored nowhere
    ghost = teacher.post(
        "/v1/predictions",
        json={"student_id": "ghost", "class_id": "math", "starts_at": "2026-09-07T09:00:00Z"},
    )
    assert (ghost.status_code, ghost.json()["code"]) == (404, "STUDENT_NOT_FOUND")


def test_training_is_refused_with_the_counts_when_there_is_too_little_data(stack: LocalStack) -> None:
    refused = stack.client("admin", org="new-school").post("/v1/models/attendance/train")
    assert (refused.status_code, refused.json()["code"]) == (422, "INSUFFICIENT_DATA")
    assert refused.json()["detail"]["required_records"] == 200
    assert (
        stack.client("admin", org=ORG).post("/v1/models/faces/train").json()["code"] == "MODEL_TYPE_NOT_FOUND"
    )
    assert stack.client("teacher", org=ORG).post("/v1/models/attendance/train").status_code == 403


def test_the_first_training_registers_and_activates_v0001(stack: LocalStack, first: dict[str, Any]) -> None:
    # Then the job succeeded, and nothing being active, its version was activated
    assert first["status"] == "succeeded", first
    result = first["result"]
    assert (result["version"], result["activated"], result["decision"]) == (
        "v0001",
        True,
        "no active version",
    )
    assert result["metrics"]["roc_auc"] > 0.6
    assert result["counts"]["usable_records"] >= 200

    # And the registry shows it with its lineage, metrics and artifact
    versions = stack.client("teacher", org=ORG).get("/v1/models/attendance/versions").json()
    assert versions["active_version"] == "v0001"
    (v1,) = versions["versions"]
    assert (v1["status"], v1["job_id"], v1["created_by"]) == ("active", first["job_id"], "root")
    assert v1["artifact"]["uri"] == f"s3://{BUCKET}/models/attendance/{ORG}/v0001/"
    assert set(v1["artifact"]["files"]) == {"model.npz", "metadata.json"}
    assert len(v1["sha256"]) == 64 and v1["features"] and v1["data_hash"]
    history = stack.client("teacher", org=ORG).get("/v1/models/attendance/history").json()
    assert sorted(e["action"] for e in history) == ["model.activated", "model.registered"]  # same second


def test_a_prediction_comes_from_the_active_model_and_is_recorded(
    stack: LocalStack, first: dict[str, Any], session: Session, student: str
) -> None:
    answer = predict(stack.client("teacher", org=ORG), student, session)

    assert (answer["method"], answer["model_version"], answer["variant"]) == ("model", "v0001", "champion")
    assert answer["interval"][0] <= answer["probability"] <= answer["interval"][1]
    assert answer["risk_level"] in ("low", "medium", "high")
    assert answer["class_id"] == session.class_id and answer["fallback_reason"] is None

    # And the prediction is in the student's partition with its version and retention
    items = aws(stack, "dynamodb").query(
        TableName=RECORDS,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :pred)",
        ExpressionAttributeValues={":pk": {"S": f"ORG#{ORG}#STUDENT#{student}"}, ":pred": {"S": "PRED#"}},
    )["Items"]
    mine = [i for i in items if i["prediction_id"]["S"] == answer["prediction_id"]]
    assert len(mine) == 1
    assert (mine[0]["kind"]["S"], mine[0]["model_version"]["S"]) == ("prediction", "v0001")
    made = datetime.fromisoformat(mine[0]["made_at"]["S"].replace("Z", "+00:00")).timestamp()
    assert int(mine[0]["expires_at"]["N"]) == pytest.approx(made + 365 * 86400, abs=2)


def test_a_student_predicts_only_for_itself(
    stack: LocalStack, first: dict[str, Any], seeded: SyntheticHistory, session: Session, student: str
) -> None:
    itself = stack.client("student", org=ORG, sub=student)
    assert predict(itself, student, session)["method"] == "model"
    other = next(s.student_id for s in seeded.students if s.student_id != student)
    refused = itself.post("/v1/predictions", json={"student_id": other, "session_id": session.session_id})
    assert (refused.status_code, refused.json()["code"]) == (403, "FORBIDDEN")
    whole_class = itself.post("/v1/predictions/batch", json={"session_id": session.session_id})
    assert whole_class.status_code == 403


def test_a_batch_predicts_a_whole_session_or_the_items_given(
    stack: LocalStack, first: dict[str, Any], seeded: SyntheticHistory, session: Session, student: str
) -> None:
    teacher = stack.client("teacher", org=ORG)
    members = [s.student_id for s in seeded.students if session.class_id in s.class_ids]
    batch = teacher.post("/v1/predictions/batch", json={"session_id": session.session_id}).json()
    assert batch["count"] == len(members) == len(batch["predictions"])
    assert sorted(p["student_id"] for p in batch["predictions"]) == sorted(members)
    assert batch["methods"] == {"model": len(members)}

    items = [{"student_id": s, "session_id": session.session_id} for s in members[:3]]
    items.append({"student_id": student, "class_id": session.class_id, "starts_at": "2030-01-07T09:00:00Z"})
    given = teacher.post("/v1/predictions/batch", json={"items": items}).json()
    assert [p["student_id"] for p in given["predictions"]] == [i["student_id"] for i in items]
    unknown = teacher.post(
        "/v1/predictions/batch", json={"items": [{"student_id": "x", "session_id": "nope"}]}
    )
    assert (unknown.status_code, unknown.json()["code"]) == (404, "SESSION_NOT_FOUND")
    too_many = teacher.post("/v1/predictions/batch", json={"items": [items[0]] * 10_001})
    assert too_many.status_code == 422


def test_a_redelivered_job_message_trains_once(stack: LocalStack, first: dict[str, Any]) -> None:
    # Given the message of the first job, delivered twice more to the train function
    event = json.loads((ROOT / "events" / "train-sqs-job.json").read_text())
    event["Records"][0]["body"] = json.dumps(
        {"org": ORG, "job_id": first["job_id"], "model_type": "attendance"}
    )
    for _ in range(2):
        invoked = subprocess.run(
            [sys.executable, "-m", "rollcall_local", "invoke", "TrainFunction", "--event", "-"],
            input=json.dumps(event),
            cwd=ROOT,
            env=stack.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert invoked.returncode == 0, invoked.stderr
        assert json.loads(invoked.stdout) == {"batchItemFailures": []}

    # Then nothing was trained again: one version, one attempt
    admin = stack.client("admin", org=ORG)
    job = admin.get(f"/v1/jobs/{first['job_id']}").json()
    assert (job["status"], job["attempts"], job["result"]["version"]) == ("succeeded", 1, "v0001")
    versions = admin.get("/v1/models/attendance/versions").json()["versions"]
    assert [v["version"] for v in versions[-1:]] == ["v0001"]
    assert all(v["job_id"] != first["job_id"] for v in versions[:-1])


def test_a_version_that_does_not_beat_the_active_one_stays_a_candidate(
    stack: LocalStack, second: dict[str, Any]
) -> None:
    # Given a second training on the same data (the same model, so the same holdout metrics)
    result = second["result"]

    # Then it is registered but not activated, and the reason says why
    assert (result["version"], result["activated"]) == ("v0002", False)
    assert "does not beat" in result["decision"]
    assert result["active_on_same_holdout"]["roc_auc"] == result["metrics"]["roc_auc"]
    versions = stack.client("teacher", org=ORG).get("/v1/models/attendance/versions").json()
    assert versions["active_version"] == "v0001"
    assert {v["version"]: v["status"] for v in versions["versions"]} == {
        "v0002": "candidate",
        "v0001": "active",
    }
    assert versions["versions"][0]["parent_version"] == "v0001"


def test_a_tampered_artifact_is_refused_and_alerted_and_a_rollback_restores_the_answers(
    stack: LocalStack, second: dict[str, Any], session: Session, student: str
) -> None:
    admin, teacher = stack.client("admin", org=ORG, sub="root"), stack.client("teacher", org=ORG)
    before = predict(teacher, student, session)
    assert before["model_version"] == "v0001"

    # Given v0002 activated (its artifact checked and fine), then its model file replaced in S3
    activated = admin.post("/v1/models/attendance/versions/v0002/activate", json={"reason": "try v0002"})
    assert activated.status_code == 200, activated.text
    assert (activated.json()["active_version"], activated.json()["previous_version"]) == ("v0002", "v0001")
    aws(stack, "s3").put_object(
        Bucket=BUCKET, Key=f"models/attendance/{ORG}/v0002/model.npz", Body=b"not a model"
    )

    # When a prediction is asked, Then the fallback answers and says why
    answer = predict(teacher, student, session)
    assert answer["method"] in ("similarity", "heuristic") and answer["model_version"] is None
    assert "integrity" in answer["fallback_reason"]

    # And an alert is on the alert queue
    sqs = aws(stack, "sqs")
    queue = sqs.get_queue_url(QueueName=ALERTS)["QueueUrl"]
    bodies = [
        json.loads(m["Body"])
        for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
    ]
    alert = next(b for b in bodies if b["subject"] == "model:attendance:v0002")
    assert (alert["org"], alert["type"], alert["source"]) == (ORG, "model_artifact_integrity", "predict")
    assert alert["evidence"]["reason"] == "sha256 mismatch"

    # And the tampered version cannot be activated again
    refused = admin.post("/v1/models/attendance/versions/v0002/activate")
    assert (refused.status_code, refused.json()["code"]) == (409, "ARTIFACT_INTEGRITY")

    # When v0001 is activated again (a rollback), Then its answers are back, exactly
    assert admin.post("/v1/models/attendance/versions/v0001/activate").status_code == 200
    after = predict(teacher, student, session)
    assert (after["method"], after["model_version"]) == ("model", "v0001")
    assert (after["probability"], after["interval"], after["factors"]) == (
        before["probability"],
        before["interval"],
        before["factors"],
    )
    actions = [e["action"] for e in teacher.get("/v1/models/attendance/history").json()]
    assert actions.count("model.activated") == 3  # v0001 by its job, v0002 and v0001 by hand


def test_a_challenger_gets_its_share_and_versions_are_compared_on_outcomes(
    stack: LocalStack, third: dict[str, Any], session: Session
) -> None:
    admin = stack.client("admin", org=ORG, sub="root")
    assert admin.get("/v1/models/attendance/versions").json()["active_version"] == "v0001"
    split = admin.put("/v1/models/attendance/traffic", json={"challenger": "v0003", "share": 0.5})
    assert split.status_code == 200, split.text
    assert (split.json()["challenger"], split.json()["share"]) == ("v0003", 0.5)

    batch = admin.post("/v1/predictions/batch", json={"session_id": session.session_id}).json()["predictions"]
    routed = {(p["variant"], p["model_version"]) for p in batch}
    assert routed == {("champion", "v0001"), ("challenger", "v0003")}
    again = admin.post("/v1/predictions/batch", json={"session_id": session.session_id}).json()["predictions"]
    assert [p["variant"] for p in again] == [p["variant"] for p in batch]  # stable per student

    # The session has happened: the predictions are scored against its attendance
    groups = admin.get("/v1/models/attendance/comparison", params={"days": 1}).json()["groups"]
    scored = {(g["model_version"], g["variant"]) for g in groups if g["predictions"] > 0}
    assert {("v0001", "champion"), ("v0003", "challenger")} <= scored

    ended = admin.put("/v1/models/attendance/traffic", json={"challenger": None, "share": 0})
    assert (ended.json()["challenger"], ended.json()["share"]) == (None, 0.0)
    assert (
        admin.put("/v1/models/attendance/traffic", json={"challenger": "v0001", "share": 0.2}).status_code
        == 400
    )


def test_another_organisation_sees_none_of_the_models(stack: LocalStack, first: dict[str, Any]) -> None:
    other = stack.client("admin", org="other-school")
    assert other.get("/v1/models/attendance/versions").json()["versions"] == []
    assert other.get("/v1/models").json()["models"][0]["active_version"] is None
    refused = other.post("/v1/models/attendance/versions/v0001/activate")
    assert (refused.status_code, refused.json()["code"]) == (404, "VERSION_NOT_FOUND")
    assert other.get(f"/v1/jobs/{first['job_id']}").json()["code"] == "JOB_NOT_FOUND"


# --- import --------------------------------------------------------------------------------------

HEADER = "student_id,class_id,session_id,starts_at,ends_at,status,arrived_at\n"
GOOD = (
    HEADER
    + "imp-ann,chem,chem-1,2026-09-07T09:00:00Z,2026-09-07T10:00:00Z,present,2026-09-07T08:58:00Z\n"
    + "imp-ben,chem,chem-1,2026-09-07T09:00:00Z,2026-09-07T10:00:00Z,late,2026-09-07T09:12:00Z\n"
    + "imp-cat,chem,chem-1,2026-09-07T09:00:00Z,2026-09-07T10:00:00Z,absent,\n"
)
CSV = {"content-type": "text/csv"}


def test_a_bad_csv_is_refused_with_line_numbers_and_nothing_is_written(stack: LocalStack) -> None:
    teacher = stack.client("teacher", org="import-school")
    bad = (
        GOOD
        + "imp-dan,chem,chem-2,2026-09-08T09:00:00Z,2026-09-08T08:00:00Z,present,\n"
        + "imp-eve,chem,chem-2,2026-09-08T09:00:00Z,2026-09-08T10:00:00Z,sick,\n"
    )
    refused = teacher.post("/v1/attendance/import", content=bad, headers=CSV)

    assert (refused.status_code, refused.json()["code"]) == (422, "INVALID_CSV")
    errors = refused.json()["detail"]["errors"]
    assert [e["line"] for e in errors] == [5, 6]
    assert "ends_at" in errors[0]["reason"] and "status" in errors[1]["reason"]
    # Nothing of the valid rows was written either
    assert teacher.get("/v1/sessions/chem-1").json()["code"] == "SESSION_NOT_FOUND"
    assert teacher.get("/v1/students/imp-ann").json()["code"] == "STUDENT_NOT_FOUND"


def test_a_good_csv_is_imported_once(stack: LocalStack) -> None:
    teacher = stack.client("teacher", org="import-school", sub="mr-ito")
    imported = teacher.post("/v1/attendance/import", content=GOOD, headers=CSV)
    assert imported.status_code == 201, imported.text
    body = imported.json()
    assert (body["records_written"], body["sessions_created"], body["students_created"]) == (3, 1, 3)
    register = teacher.get("/v1/sessions/chem-1/attendance").json()
    assert (register["present"], register["late"], register["absent"]) == (
        ["imp-ann"],
        ["imp-ben"],
        ["imp-cat"],
    )
    assert teacher.get("/v1/students/imp-ann").json()["class_ids"] == ["chem"]

    # The same attendance again (rows in another order) adds nothing
    lines = GOOD.splitlines(keepends=True)
    again = teacher.post(
        "/v1/attendance/import", content=lines[0] + "".join(reversed(lines[1:])), headers=CSV
    )
    assert again.status_code == 200
    assert (again.json()["replayed"], again.json()["records_written"]) == (True, 0)
    assert again.json()["import_id"] == body["import_id"]


def test_an_import_needs_a_csv_and_staff(stack: LocalStack) -> None:
    not_csv = stack.client("teacher", org="import-school").post("/v1/attendance/import", json={"a": 1})
    assert (not_csv.status_code, not_csv.json()["code"]) == (415, "NOT_CSV")
    student = stack.client("student", org="import-school", sub="imp-ann")
    assert student.post("/v1/attendance/import", content=GOOD, headers=CSV).status_code == 403


def test_a_file_over_the_synchronous_limit_is_sent_to_the_upload_route_and_nothing_is_written(
    stack: LocalStack,
) -> None:
    # Given a CSV of 5,001 rows (the synchronous route takes 5,000)
    teacher = stack.client("teacher", org="import-big")
    row = "big-{i},chem,chem-{i},2026-09-07T09:00:00Z,2026-09-07T10:00:00Z,present,\n"
    big = GOOD.splitlines(keepends=True)[0] + "".join(row.format(i=i) for i in range(5_001))
    # When it is posted to the synchronous route
    refused = teacher.post("/v1/attendance/import", content=big, headers=CSV)
    # Then it is refused, naming the route that takes it, and nothing of it was written
    assert (refused.status_code, refused.json()["code"]) == (413, "CSV_TOO_LARGE")
    assert "/v1/attendance/imports" in refused.json()["detail"]["message"]
    assert refused.json()["detail"]["max_rows"] == 5_000
    assert teacher.get("/v1/students/big-0").json()["code"] == "STUDENT_NOT_FOUND"
