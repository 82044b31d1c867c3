"""Students, sessions, the register, corrections and erasure, through the local API."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import boto3
import httpx
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


# --- the routes a client needs: listings, roster, changes, deletion, fuller corrections ----------


def pages(client: httpx.Client, path: str, limit: int) -> list[list[str]]:
    """Every page of a listing, following next_cursor; each page's ids."""
    out, cursor = [], None
    route, _, query = path.partition("?")
    filters = dict(parse_qsl(query))
    for _ in range(30):
        params = filters | {"limit": str(limit)} | ({"cursor": cursor} if cursor else {})
        response = client.get(route, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        out.append([i.get("student_id") or i["session_id"] for i in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return out
    raise AssertionError("the listing never ended")


def audit_of(stack: LocalStack, org: str, subject: str) -> list[dict[str, Any]]:
    dynamodb = boto3.client("dynamodb", endpoint_url=stack.endpoint, region_name="us-east-1")
    return dynamodb.query(
        TableName="rollcall-local-records",
        IndexName="gsi1",
        KeyConditionExpression="gsi1pk = :s",
        ExpressionAttributeValues={":s": {"S": f"ORG#{org}#SUBJECT#{subject}"}},
    )["Items"]


def test_students_and_a_class_roster_are_paged_with_checked_cursors(stack: LocalStack) -> None:
    # Given six students of an organisation, four of them in geography
    teacher = stack.client("teacher", org="roster-school")
    for sid, classes in [
        ("r1", ["geo"]),
        ("r2", ["geo"]),
        ("r3", ["geo", "his"]),
        ("r4", ["geo"]),
        ("r5", ["his"]),
        ("r6", []),
    ]:
        assert (
            teacher.post(
                "/v1/students", json={"student_id": sid, "name": sid.upper(), "class_ids": classes}
            ).status_code
            == 201
        )
    # Then the organisation's students come a page at a time, each once, in id order
    assert pages(teacher, "/v1/students", 4) == [["r1", "r2", "r3", "r4"], ["r5", "r6"]]
    # And the roster and the class filter answer the same pages (the roster with the class)
    assert pages(teacher, "/v1/classes/geo/students", 3) == [["r1", "r2", "r3"], ["r4"]]
    assert pages(teacher, "/v1/students?class_id=geo", 3) == [["r1", "r2", "r3"], ["r4"]]
    roster = teacher.get("/v1/classes/his/students").json()
    assert (roster["class_id"], [s["student_id"] for s in roster["items"]]) == ("his", ["r3", "r5"])
    assert roster["items"][0]["class_ids"] == ["geo", "his"]
    first = teacher.get("/v1/classes/geo/students", params={"limit": 2}).json()
    rest = teacher.get("/v1/students", params={"class_id": "geo", "cursor": first["next_cursor"]}).json()
    assert [s["student_id"] for s in rest["items"]] == ["r3", "r4"]
    # And another organisation sees none of them, nor pages with their cursor
    other = stack.client("admin", org="other-school")
    assert "r1" not in [s["student_id"] for s in other.get("/v1/students").json()["items"]]
    refused = [
        other.get("/v1/students", params={"class_id": "geo", "cursor": first["next_cursor"]}),
        teacher.get("/v1/students", params={"cursor": first["next_cursor"]}),  # another query
        teacher.get("/v1/students", params={"class_id": "his", "cursor": first["next_cursor"]}),
        teacher.get("/v1/students", params={"cursor": "garbage"}),
        teacher.get("/v1/classes/geo/students", params={"cursor": "eyJ2IjoxfQ"}),
    ]
    for response in refused:
        assert (response.status_code, response.json()["code"]) == (400, "INVALID_CURSOR"), response.text
        assert response.json()["request_id"]
    # And students may not list
    denied = stack.client("student", org="roster-school", sub="r1").get("/v1/students")
    assert (denied.status_code, denied.json()["code"]) == (403, "FORBIDDEN")


def test_a_student_is_changed_and_the_rosters_follow(stack: LocalStack) -> None:
    teacher = stack.client("teacher", org="patch-school", sub="mr-obi")
    teacher.post("/v1/students", json={"student_id": "pia", "name": "Pia", "class_ids": ["chem", "phys"]})
    changed = teacher.patch("/v1/students/pia", json={"name": "Pia Obi", "class_ids": ["chem", "art"]})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["name"], changed.json()["class_ids"]) == ("Pia Obi", ["chem", "art"])
    assert teacher.get("/v1/students/pia").json()["name"] == "Pia Obi"
    assert [s["student_id"] for s in teacher.get("/v1/classes/art/students").json()["items"]] == ["pia"]
    assert teacher.get("/v1/classes/phys/students").json()["items"] == []
    # A field left out is kept
    assert teacher.patch("/v1/students/pia", json={"name": "Pia O."}).json()["class_ids"] == ["chem", "art"]
    # Audit-logged: who, what fields, never the names
    entries = audit_of(stack, "patch-school", "student:pia")
    assert [(e["actor"]["S"], e["action"]["S"]) for e in entries] == [("mr-obi", "student.updated")] * 2
    assert "Pia" not in str(entries)
    # Bad input, unknown and erased students
    cases = [
        (teacher.patch("/v1/students/pia", json={"name": ""}), 422, "VALIDATION_ERROR"),
        (teacher.patch("/v1/students/pia", json={"class_ids": ["bad#id"]}), 422, "VALIDATION_ERROR"),
        (teacher.patch("/v1/students/nobody", json={"name": "X"}), 404, "STUDENT_NOT_FOUND"),
        (
            stack.client("student", org="patch-school", sub="pia").patch(
                "/v1/students/pia", json={"name": "Me"}
            ),
            403,
            "FORBIDDEN",
        ),
        (
            stack.client("admin", org="other-school").patch("/v1/students/pia", json={"name": "X"}),
            404,
            "STUDENT_NOT_FOUND",
        ),
    ]
    for response, status, code in cases:
        assert (response.status_code, response.json()["code"]) == (status, code), response.text
    assert stack.client("admin", org="patch-school").delete("/v1/students/pia").status_code == 200
    gone = teacher.patch("/v1/students/pia", json={"name": "Back"})
    assert (gone.status_code, gone.json()["code"]) == (404, "STUDENT_NOT_FOUND")
    assert teacher.get("/v1/students/pia").status_code == 404  # the PATCH wrote nothing back


def test_sessions_are_listed_by_class_and_window(stack: LocalStack) -> None:
    teacher = stack.client("teacher", org="sessions-school")
    starts = {"g1": "2026-08-31T09:00:00Z", "g2": "2026-09-07T09:00:00Z", "g3": "2026-09-14T09:00:00Z",
              "h1": "2026-09-08T13:00:00Z", "g4": "2026-10-05T09:00:00Z"}  # fmt: skip
    for sid, start in starts.items():
        end = start.replace("T09", "T10").replace("T13", "T14")
        body = {
            "session_id": sid,
            "class_id": "geo" if sid[0] == "g" else "his",
            "starts_at": start,
            "ends_at": end,
        }
        assert teacher.post("/v1/sessions", json=body).status_code == 201
    assert pages(teacher, "/v1/sessions?class_id=geo", 3) == [["g1", "g2", "g3"], ["g4"]]
    assert pages(teacher, "/v1/sessions?from=2026-08-01&to=2026-10-31", 2) == [
        ["g1", "g2"],
        ["h1", "g3"],
        ["g4"],
    ]
    assert pages(teacher, "/v1/sessions?from=2026-09-01&to=2026-09-08", 10) == [["g2", "h1"]]
    assert pages(teacher, "/v1/sessions?class_id=geo&from=2026-09-07T09:00:00Z&to=2026-09-14", 10) == [
        ["g2", "g3"]
    ]
    first = teacher.get("/v1/sessions", params={"class_id": "geo", "limit": 1}).json()
    assert first["items"][0] == {
        "session_id": "g1", "class_id": "geo", "starts_at": "2026-08-31T09:00:00Z",
        "ends_at": "2026-08-31T10:00:00Z", "location": None,
    }  # fmt: skip
    cases = [
        (teacher.get("/v1/sessions", params={"from": "yesterday"}), 400, "INVALID_DATE"),
        (teacher.get("/v1/sessions", params={"to": "2026-02-30"}), 400, "INVALID_DATE"),
        (
            teacher.get("/v1/sessions", params={"from": "2026-09-08", "to": "2026-09-01"}),
            400,
            "INVALID_DATE_RANGE",
        ),
        (
            teacher.get("/v1/sessions", params={"from": "2020-01-01", "to": "2026-01-01"}),
            400,
            "INVALID_DATE_RANGE",
        ),
        (
            teacher.get("/v1/sessions", params={"class_id": "his", "cursor": first["next_cursor"]}),
            400,
            "INVALID_CURSOR",
        ),
        (
            stack.client("admin", org="other-school").get(
                "/v1/sessions", params={"class_id": "geo", "cursor": first["next_cursor"]}
            ),
            400,
            "INVALID_CURSOR",
        ),
        (teacher.get("/v1/sessions", params={"limit": 0}), 422, "VALIDATION_ERROR"),
        (stack.client("student", org="sessions-school").get("/v1/sessions"), 403, "FORBIDDEN"),
    ]
    for response, status, code in cases:
        assert (response.status_code, response.json()["code"]) == (status, code), response.text


def test_an_admin_deletes_a_session_with_its_records(stack: LocalStack) -> None:
    teacher, admin = (
        stack.client("teacher", org="delete-school"),
        stack.client("admin", org="delete-school", sub="root"),
    )
    for sid in ("kim", "lou"):
        teacher.post("/v1/students", json={"student_id": sid, "name": sid.title(), "class_ids": ["music"]})
    for sid, day in (("mu-1", "07"), ("mu-2", "14")):
        body = {
            "session_id": sid,
            "class_id": "music",
            "starts_at": f"2026-09-{day}T09:00:00Z",
            "ends_at": f"2026-09-{day}T10:00:00Z",
        }
        teacher.post("/v1/sessions", json=body)
        for student in ("kim", "lou"):
            teacher.patch(f"/v1/sessions/{sid}/attendance/{student}", json={"status": "present"})
    refused = teacher.delete("/v1/sessions/mu-1")
    assert (refused.status_code, refused.json()["code"]) == (403, "FORBIDDEN")
    assert (
        stack.client("admin", org="other-school").delete("/v1/sessions/mu-1").json()["code"]
        == "SESSION_NOT_FOUND"
    )

    deleted = admin.delete("/v1/sessions/mu-1")

    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {
        "session_id": "mu-1",
        "deleted": {"session": 1, "attendance_records": 2, "marking_events": 0, "photos": 0},
    }
    dynamodb = boto3.client("dynamodb", endpoint_url=stack.endpoint, region_name="us-east-1")
    left = dynamodb.query(
        TableName="rollcall-local-records",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "ORG#delete-school#SESSION#mu-1"}},
    )["Items"]
    assert left == []
    assert teacher.get("/v1/sessions/mu-1").json()["code"] == "SESSION_NOT_FOUND"
    assert teacher.get("/v1/sessions/mu-1/attendance").json()["code"] == "SESSION_NOT_FOUND"
    assert pages(teacher, "/v1/sessions?class_id=music", 10) == [["mu-2"]]
    assert teacher.get("/v1/sessions/mu-2/attendance").json()["present"] == ["kim", "lou"]
    (entry,) = audit_of(stack, "delete-school", "session:mu-1")
    assert (entry["actor"]["S"], entry["action"]["S"]) == ("root", "session.deleted")
    assert admin.delete("/v1/sessions/mu-1").json()["code"] == "SESSION_NOT_FOUND"


def test_corrections_take_excused_and_late_arrivals_and_keep_the_note(stack: LocalStack) -> None:
    teacher = stack.client("teacher", org="correct-school", sub="ms-ada")
    for sid in ("nia", "oli"):
        teacher.post("/v1/students", json={"student_id": sid, "name": sid.title(), "class_ids": ["pe"]})
    teacher.post("/v1/sessions", json={"session_id": "pe-1", "class_id": "pe", **MONDAY})
    path = "/v1/sessions/pe-1/attendance"

    excused = teacher.patch(f"{path}/nia", json={"status": "excused", "note": "dentist"})
    assert excused.status_code == 200, excused.text
    assert (excused.json()["status"], excused.json()["note"]) == ("excused", "dentist")
    late = teacher.patch(f"{path}/nia", json={"status": "late", "arrived_at": "2026-09-07T09:20:00Z"})
    assert late.status_code == 200, late.text
    assert late.json() | {"marked_at": None} == {
        "student_id": "nia", "status": "late", "source": "correction", "distance": None,
        "arrived_at": "2026-09-07T09:20:00Z", "minutes_after_start": 20.0, "marked_by": "ms-ada",
        "marked_at": None, "note": "dentist",
    }  # fmt: skip
    cleared = teacher.patch(f"{path}/nia", json={"status": "late", "note": None})
    assert (cleared.json()["note"], cleared.json()["arrived_at"]) == (None, "2026-09-07T09:20:00Z")
    teacher.patch(f"{path}/oli", json={"status": "excused"})
    register = teacher.get(path).json()
    assert (register["late"], register["excused"], register["not_marked"]) == (["nia"], ["oli"], [])
    cases = [
        (
            teacher.patch(f"{path}/oli", json={"status": "late", "arrived_at": "2026-09-07T08:59:00Z"}),
            422,
            "INVALID_ARRIVAL",
        ),
        (
            teacher.patch(f"{path}/oli", json={"status": "late", "arrived_at": "2026-09-08T09:10:00Z"}),
            422,
            "INVALID_ARRIVAL",
        ),
        (
            teacher.patch(f"{path}/oli", json={"status": "present", "arrived_at": "2026-09-07T09:10:00Z"}),
            422,
            "INVALID_ARRIVAL",
        ),
        (
            teacher.patch(f"{path}/oli", json={"status": "late", "arrived_at": "09:10"}),
            422,
            "VALIDATION_ERROR",
        ),
        (teacher.patch(f"{path}/oli", json={"status": "sick"}), 422, "VALIDATION_ERROR"),
    ]
    for response, status, code in cases:
        assert (response.status_code, response.json()["code"]) == (status, code), response.text
    assert teacher.get(path).json()["excused"] == ["oli"]  # the refused corrections wrote nothing
    entries = audit_of(stack, "correct-school", "attendance:pe-1:nia")
    assert sorted(e["details"]["M"]["to"]["S"] for e in entries) == ["excused", "late", "late"]
