"""Students, sessions, the register, corrections and erasure, through the local API."""

from __future__ import annotations

import boto3
import pytest

from tests.e2e.conftest import LocalStack

MONDAY = {"starts_at": "2026-09-07T09:00:00Z", "ends_at": "2026-09-07T10:00:00Z"}


def test_students_are_created_read_and_refused_twice(stack: LocalStack) -> None:
    teacher = stack.client("teacher")
    created = teacher.post("/v1/students", json={"student_id": "ann", "name": "Ann", "class_ids": ["math"]})
    assert created.status_code == 201
    assert created.json()["class_ids"] == ["math"]
    again = teacher.post("/v1/students", json={"student_id": "ann", "name": "Ann again"})
    assert (again.status_code, again.json()["code"]) == (409, "STUDENT_EXISTS")
    generated = teacher.post("/v1/students", json={"name": "Ben Okafor", "class_ids": ["math"]})
    assert generated.status_code == 201
    assert generated.json()["student_id"].startswith("ben-okafor-")
    assert teacher.get("/v1/students/ann").json()["name"] == "Ann"
    assert teacher.get("/v1/students/nobody").json()["code"] == "STUDENT_NOT_FOUND"


def test_bad_input_is_a_4xx_with_a_code(stack: LocalStack) -> None:
    teacher = stack.client("teacher")
    cases = [
        (teacher.post("/v1/students", json={"name": ""}), 422, "VALIDATION_ERROR"),
        (teacher.post("/v1/students", json={"name": "X", "student_id": "bad#id"}), 422, "VALIDATION_ERROR"),
        (
            teacher.post("/v1/students", content=b"{oops", headers={"content-type": "application/json"}),
            400,
            "INVALID_JSON",
        ),
        (
            teacher.post(
                "/v1/sessions", json={"class_id": "math", **MONDAY, "ends_at": "2026-09-07T08:00:00Z"}
            ),
            422,
            "INVALID_SESSION_TIMES",
        ),
        (
            teacher.post(
                "/v1/sessions",
                json={
                    "class_id": "math",
                    "starts_at": "2026-09-07T09:00:00",
                    "ends_at": "2026-09-07T10:00:00",
                },
            ),
            422,
            "VALIDATION_ERROR",
        ),
        (teacher.get("/v1/sessions/none/attendance"), 404, "SESSION_NOT_FOUND"),
    ]
    for response, status, code in cases:
        assert (response.status_code, response.json()["code"]) == (status, code), response.text


def test_a_student_sees_only_itself(stack: LocalStack) -> None:
    stack.client("teacher").post("/v1/students", json={"student_id": "cat", "name": "Cat"})
    assert stack.client("student", sub="cat").get("/v1/students/cat").status_code == 200
    refused = stack.client("student", sub="cat").get("/v1/students/ann")
    assert (refused.status_code, refused.json()["code"]) == (403, "FORBIDDEN")
    assert stack.client("student", sub="cat").post("/v1/students", json={"name": "Z"}).status_code == 403


def test_another_organisation_sees_nothing(stack: LocalStack) -> None:
    stack.client("teacher").post("/v1/students", json={"student_id": "dan", "name": "Dan"})
    other = stack.client("admin", org="other-school")
    assert other.get("/v1/students/dan").json()["code"] == "STUDENT_NOT_FOUND"
    assert other.delete("/v1/students/dan").json()["code"] == "STUDENT_NOT_FOUND"
    assert stack.client("teacher").get("/v1/students/dan").status_code == 200


def test_register_correction_and_audit(stack: LocalStack) -> None:
    teacher = stack.client("teacher", sub="mrs-lee")
    for sid in ("eve", "fay"):
        teacher.post("/v1/students", json={"student_id": sid, "name": sid.title(), "class_ids": ["bio"]})
    session = teacher.post(
        "/v1/sessions", json={"session_id": "bio-1", "class_id": "bio", "location": "lab", **MONDAY}
    )
    assert session.status_code == 201
    register = teacher.get("/v1/sessions/bio-1/attendance").json()
    assert register["not_marked"] == ["eve", "fay"]
    assert register["present"] == []

    corrected = teacher.patch(
        "/v1/sessions/bio-1/attendance/eve", json={"status": "present", "note": "came late"}
    )
    assert corrected.status_code == 200
    assert corrected.json()["source"] == "correction"
    assert corrected.json()["marked_by"] == "mrs-lee"
    register = teacher.get("/v1/sessions/bio-1/attendance").json()
    assert (register["present"], register["not_marked"]) == (["eve"], ["fay"])
    assert teacher.patch("/v1/sessions/bio-1/attendance/zed", json={"status": "present"}).status_code == 404
    assert teacher.patch("/v1/sessions/bio-1/attendance/fay", json={"status": "here"}).status_code == 422

    # The audit log has who and when
    dynamodb = boto3.client("dynamodb", endpoint_url=stack.endpoint, region_name="us-east-1")
    audit = dynamodb.query(
        TableName="rollcall-local-records",
        IndexName="gsi1",
        KeyConditionExpression="gsi1pk = :s",
        ExpressionAttributeValues={":s": {"S": "ORG#demo#SUBJECT#attendance:bio-1:eve"}},
    )["Items"]
    assert [(i["actor"]["S"], i["action"]["S"]) for i in audit] == [("mrs-lee", "attendance.corrected")]


@pytest.mark.parametrize("role", ["teacher", "student"])
def test_only_an_admin_erases(stack: LocalStack, role: str) -> None:
    response = stack.client(role).delete("/v1/students/ann")
    assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")


def test_erasure_removes_the_student_and_says_what(stack: LocalStack) -> None:
    teacher, admin = stack.client("teacher"), stack.client("admin", sub="root")
    teacher.post("/v1/students", json={"student_id": "gus", "name": "Gus", "class_ids": ["art"]})
    teacher.post("/v1/students", json={"student_id": "hal", "name": "Hal", "class_ids": ["art"]})
    teacher.post("/v1/sessions", json={"session_id": "art-1", "class_id": "art", **MONDAY})
    for sid in ("gus", "hal"):
        teacher.patch(f"/v1/sessions/art-1/attendance/{sid}", json={"status": "present"})

    erased = admin.delete("/v1/students/gus")

    assert erased.status_code == 200
    assert erased.json()["erased"] | {} == {
        "profile": 1,
        "faces": 0,
        "attendance_records": 1,
        "predictions": 0,
        "class_memberships": 1,
        "marking_events": 0,
        "photos": 0,
    }
    assert teacher.get("/v1/students/gus").status_code == 404
    register = teacher.get("/v1/sessions/art-1/attendance").json()
    assert (register["present"], register["not_marked"]) == (["hal"], [])
    assert admin.delete("/v1/students/gus").status_code == 404
