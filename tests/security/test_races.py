"""Races over HTTP, through the local stack's warm workers (several processes at once), each
asserting what is stored afterwards: parallel enrolments of one photo store one face; an erasure
racing an enrolment leaves no face of the erased student (search does not find them, enrolling the
same person elsewhere is no duplicate); parallel imports of one CSV store it once and audit it once.

Every race is bounded: a fixed number of threads and rounds, each request with a timeout. Each
test works in an organisation of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import LocalStack
from tests.security.conftest import b64, table_items

THREADS = 12
ROUNDS = 3


def org_items(stack: LocalStack, org: str) -> list[dict[str, Any]]:
    prefix = f"ORG#{org}#"
    return [i for i in table_items(stack) if i["pk"]["S"].startswith(prefix)]


def faces_of(items: list[dict[str, Any]], student_id: str) -> list[dict[str, Any]]:
    """The student's face items (their partition) and their entries of the faces index."""
    return [
        i
        for i in items
        if i["sk"]["S"].startswith("FACE#")
        and (
            i["pk"]["S"].endswith(f"#STUDENT#{student_id}") or i.get("student_id", {}).get("S") == student_id
        )
    ]


def at_once(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda call: call(), calls))


def test_parallel_enrolments_of_one_photo_store_one_face(stack: LocalStack, faces_dir: Path) -> None:
    # Given a student without a face, and one photo of them
    org = "race-enrol"
    admin = stack.client("admin", org=org, sub="root")
    assert admin.post("/v1/students", json={"student_id": "kit", "name": "Kit"}).status_code == 201
    photo = {
        "image_base64": b64((faces_dir / "people/kit_harington/train_kit_harington_john1.jpeg").read_bytes())
    }
    clients = [stack.client("teacher", org=org, sub=f"t{i}") for i in range(THREADS)]

    # When twelve teachers enrol it at once
    answers = at_once([partial(c.post, "/v1/students/kit/faces", json=photo) for c in clients])

    # Then each answer is that one face (created, or the same face again), never an error
    assert {r.status_code for r in answers} <= {200, 201}, [r.text for r in answers]
    assert len({r.json()["face_id"] for r in answers}) == 1
    # and one face is stored: one item, one index entry, one face listed and counted
    stored = faces_of(org_items(stack, org), "kit")
    assert len(stored) == 1 and stored[0]["sk"]["S"] == f"FACE#{answers[0].json()['face_id']}"
    assert len(admin.get("/v1/students/kit/faces").json()) == 1
    assert admin.get("/v1/students/kit").json()["face_count"] == 1


def test_an_erasure_racing_an_enrolment_leaves_nothing_of_the_erased_student(
    stack: LocalStack, faces_dir: Path
) -> None:
    org = "race-erase"
    admin = stack.client("admin", org=org, sub="root")
    teacher = stack.client("teacher", org=org, sub="mr-ray")
    photo = {"image_base64": b64((faces_dir / "people/rose_leslie/train_rose_leslie_img1.jpg").read_bytes())}
    probe = {"image_base64": b64((faces_dir / "people/rose_leslie/train_rose_leslie_img2.jpg").read_bytes())}
    for round_ in range(ROUNDS):
        # Given a new student (the same person each round)
        student = f"rose-{round_}"
        made = admin.post("/v1/students", json={"student_id": student, "name": "Rose"})
        assert made.status_code == 201, made.text

        # When two enrolments of her photo and her erasure run at once
        enrolments = partial(teacher.post, f"/v1/students/{student}/faces", json=photo)
        erasure = partial(admin.delete, f"/v1/students/{student}")
        *enrolled, erased = at_once([enrolments, enrolments, erasure])

        # Then the erasure succeeded; each enrolment either did (before it), found no student, or
        # found its twin's face gone under it (409 CONCURRENT_UPDATE: the erasure took it)
        assert erased.status_code == 200, erased.text
        codes = {404: "STUDENT_NOT_FOUND", 409: "CONCURRENT_UPDATE"}
        for answer in enrolled:
            assert answer.status_code in (200, 201, 404, 409), answer.text
            if answer.status_code in codes:
                assert answer.json()["code"] == codes[answer.status_code], answer.text
        # and nothing of her is stored: no profile, no face item, no index entry
        assert admin.get(f"/v1/students/{student}").status_code == 404
        assert faces_of(org_items(stack, org), student) == []
        assert [i for i in org_items(stack, org) if i["pk"]["S"].endswith(f"#STUDENT#{student}")] == []
        # and a search with another photo of her finds no one
        found = teacher.post("/v1/faces/search", json=probe)
        assert found.status_code == 200, found.text
        assert [m["student_id"] for m in found.json()["matches"] if m["student_id"] == student] == []
    # Enrolling her once more, as another student, is no duplicate of an erased one
    assert admin.post("/v1/students", json={"student_id": "rose", "name": "Rose"}).status_code == 201
    again = teacher.post("/v1/students/rose/faces", json=photo)
    assert again.status_code == 201, again.text


CSV = (
    "student_id,class_id,session_id,starts_at,ends_at,status,arrived_at\n"
    "ra-ann,geo,geo-1,2026-09-07T09:00:00Z,2026-09-07T10:00:00Z,present,2026-09-07T08:58:00Z\n"
    "ra-ben,geo,geo-1,2026-09-07T09:00:00Z,2026-09-07T10:00:00Z,late,2026-09-07T09:12:00Z\n"
    "ra-cat,geo,geo-1,2026-09-07T09:00:00Z,2026-09-07T10:00:00Z,absent,\n"
    "ra-ann,geo,geo-2,2026-09-08T09:00:00Z,2026-09-08T10:00:00Z,absent,\n"
)


def test_parallel_imports_of_one_csv_store_it_exactly_and_audit_it_once(stack: LocalStack) -> None:
    # Given one CSV (3 students, 2 sessions, 4 records)
    org = "race-import"
    clients = [stack.client("teacher", org=org, sub=f"t{i}") for i in range(THREADS)]

    # When twelve teachers import it at once
    answers = at_once(
        [
            partial(c.post, "/v1/attendance/import", content=CSV, headers={"content-type": "text/csv"})
            for c in clients
        ]
    )

    # Then every answer is the one import, first-hand (201) or replayed (200)
    assert {r.status_code for r in answers} <= {200, 201}, [r.text for r in answers]
    assert len({r.json()["import_id"] for r in answers}) == 1
    assert sum(r.json()["records_written"] for r in answers) == 4
    # and the store has exactly the CSV's data
    register = clients[0].get("/v1/sessions/geo-1/attendance").json()
    assert (register["present"], register["late"], register["absent"]) == (["ra-ann"], ["ra-ben"], ["ra-cat"])
    assert clients[0].get("/v1/sessions/geo-2/attendance").json()["absent"] == ["ra-ann"]
    items = org_items(stack, org)
    records = [i for i in items if i["sk"]["S"].startswith("ATT#")]
    assert sorted((i["pk"]["S"].rsplit("#", 1)[-1], i["sk"]["S"]) for i in records) == sorted(
        [("geo-1", "ATT#ra-ann"), ("geo-1", "ATT#ra-ben"), ("geo-1", "ATT#ra-cat"), ("geo-2", "ATT#ra-ann")]
    )
    # and one audit entry of the import
    audit = [i for i in items if i.get("action", {}).get("S") == "attendance.imported"]
    assert len(audit) == 1, audit
