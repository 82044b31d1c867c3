"""Faces through the local runtime, on the real photos: enrolment, marking, search, every error
code from a real bad input, concurrent markings, kept photos and erasure.

The module runs its own stack, with raw photos kept (template parameters StorePhotos=true,
PhotoRetentionDays=7 from a samconfig of its own), as a school that configured it; the
default (nothing kept) is the other modules' stack and tests/unit/face/test_photo_store.py.
Every person of people/ is a student of class ``hist``, enrolled with their first photo. The
tests run in file order; erasure is last.
"""

from __future__ import annotations

import base64
import hashlib
import io
import struct
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import httpx
import numpy as np
import pytest
from PIL import Image, ImageFilter

from tests.e2e.conftest import ROOT, LocalStack, started

CLASS, ORG = "hist", "demo"
TABLE, BUCKET = "rollcall-local-records", "rollcall-local-photos-123456789012-us-east-1"
MONDAY = {"starts_at": "2026-09-07T09:00:00Z", "ends_at": "2026-09-07T10:00:00Z"}
SAMCONFIG = """version = 0.1
[local.global.parameters]
stack_name = "rollcall-local"
[local.local_invoke.parameters]
parameter_overrides = "Stage=local StorePhotos=true PhotoRetentionDays=7"
"""
GROUPS = [
    ("groups/two_people.jpg", {"barack_obama", "joe_biden"}, 0),
    ("groups/test_obama_and_biden.jpg", {"barack_obama", "joe_biden"}, 1),
    ("groups/test_kit_with_rose.jpg", {"kit_harington", "rose_leslie"}, 0),
]

Photo = Callable[[str], bytes]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, faces_dir: Path) -> Iterator[LocalStack]:
    """The stack of this module: `make run`, with raw photos kept for 7 days."""
    project = tmp_path_factory.mktemp("project")
    (project / "samconfig.toml").write_text(SAMCONFIG)
    running = LocalStack(tmp_path_factory.mktemp("local"))
    running.env |= {
        "ROLLCALL_PROJECT_DIR": str(project),
        "ROLLCALL_BUILD_DIR": str(ROOT / ".aws-sam" / "build"),
    }
    with started(running):
        yield running


@pytest.fixture(scope="module")
def photo(faces_dir: Path) -> Photo:
    return lambda path: (faces_dir / path).read_bytes()


@pytest.fixture(scope="module")
def teacher(stack: LocalStack) -> httpx.Client:
    return stack.client("teacher", sub="mr-hall")


@pytest.fixture(scope="module")
def aws(stack: LocalStack) -> Any:
    """boto3 clients of the stack's emulator: ``aws("dynamodb")``."""
    return lambda service: boto3.client(service, endpoint_url=stack.endpoint, region_name="us-east-1")


@pytest.fixture(scope="module")
def people(faces_manifest: list[dict[str, str]]) -> dict[str, str]:
    """Each person of people/ → their first photo (in the manifest's order)."""
    first: dict[str, str] = {}
    for row in faces_manifest:
        if row["kind"] == "portrait":
            first.setdefault(row["identities"], row["path"])
    return first


@pytest.fixture(scope="module")
def enrolled(teacher: httpx.Client, people: dict[str, str], photo: Photo) -> dict[str, dict[str, Any]]:
    """Every person a student of CLASS, enrolled with their first photo: id → the 201 answer."""
    faces = {}
    for student_id, path in people.items():
        created = teacher.post(
            "/v1/students",
            json={
                "student_id": student_id,
                "name": student_id.replace("_", " ").title(),
                "class_ids": [CLASS],
            },
        )
        assert created.status_code == 201, created.text
        response = enrol(teacher, student_id, photo(path))
        assert response.status_code == 201, (path, response.text)
        faces[student_id] = response.json()
    return faces


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def enrol(client: httpx.Client, student_id: str, data: bytes) -> httpx.Response:
    return client.post(f"/v1/students/{student_id}/faces", json={"image_base64": b64(data)})


def mark(client: httpx.Client, session_id: str, data: bytes) -> httpx.Response:
    """Create the session (of CLASS) if new, and mark it from the photo."""
    client.post("/v1/sessions", json={"session_id": session_id, "class_id": CLASS, **MONDAY})
    return client.post(f"/v1/sessions/{session_id}/attendance", json={"image_base64": b64(data)})


def items(aws: Any, pk: str, sk_prefix: str = "", index: str | None = None) -> list[dict[str, Any]]:
    """The items of one partition of the records table (or of an index), as boto3 gives them."""
    key, sk = ("gsi1pk", "gsi1sk") if index else ("pk", "sk")
    query: dict[str, Any] = {
        "TableName": TABLE,
        "KeyConditionExpression": f"{key} = :pk",
        "ExpressionAttributeValues": {":pk": {"S": pk}},
    }
    if sk_prefix:
        query["KeyConditionExpression"] += f" AND begins_with({sk}, :sk)"
        query["ExpressionAttributeValues"][":sk"] = {"S": sk_prefix}
    if index:
        query["IndexName"] = index
    return [i for page in aws("dynamodb").get_paginator("query").paginate(**query) for i in page["Items"]]


def kept(aws: Any, prefix: str) -> list[str]:
    """The keys of the kept photos under ``prefix``."""
    pages = aws("s3").get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- enrolment and marking ------------------------------------------------------------------------


def test_one_photo_per_person_enrols_and_a_retry_changes_nothing(
    teacher: httpx.Client, enrolled: dict[str, dict[str, Any]], people: dict[str, str], photo: Photo
) -> None:
    # Given every person enrolled with their first photo
    assert len(enrolled) == len(people) >= 7
    for student_id, face in enrolled.items():
        assert face["student_id"] == student_id
        assert set(face["location"]) == {"top", "right", "bottom", "left"}
        assert face["quality"]["width_px"] >= 80 and face["quality"]["sharpness"] >= 15
    # When a photo is sent again / Then the same face (200), nothing new stored
    retried = enrol(teacher, "joe_biden", photo(people["joe_biden"]))
    assert (retried.status_code, retried.json()["face_id"]) == (200, enrolled["joe_biden"]["face_id"])
    listed = teacher.get("/v1/students/joe_biden/faces").json()
    assert [f["face_id"] for f in listed] == [enrolled["joe_biden"]["face_id"]]
    assert "embedding" not in str(listed)


@pytest.mark.parametrize(("path", "expected", "unknown"), GROUPS)
def test_group_photos_mark_the_right_students(
    teacher: httpx.Client,
    enrolled: dict[str, dict[str, Any]],
    photo: Photo,
    path: str,
    expected: set[str],
    unknown: int,
) -> None:
    # Given the class of everyone / When a group photo is marked
    session = f"group-{Path(path).stem}"
    response = mark(teacher, session, photo(path))
    # Then exactly its people are present, the others absent, unknown faces counted and explained
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body["present"]) == expected
    assert (body["uncertain"], body["unknown_count"], body["replayed"]) == ([], unknown, False)
    assert body["absent"] == sorted(set(enrolled) - expected)
    assert len(body["faces"]) == len(expected) + unknown
    timings = body["timings"]  # in ms, rounded to 0.1: decoding counted, the total is the steps' sum
    steps = timings["decode"] + timings["detect"] + timings["encode"]
    assert timings["decode"] > 0 and timings["total"] == pytest.approx(steps, abs=0.2)
    # and the register says the same: nobody else present, nobody left unmarked
    register = teacher.get(f"/v1/sessions/{session}/attendance").json()
    assert set(register["present"]) == expected
    assert register["absent"] == body["absent"]
    assert (register["uncertain"], register["late"], register["not_marked"]) == ([], [], [])
    assert {
        r["student_id"]: r["source"] for r in register["records"] if r["status"] == "present"
    } == dict.fromkeys(expected, "face")


def test_a_photo_without_faces_is_refused_and_writes_nothing(
    teacher: httpx.Client, enrolled: dict[str, dict[str, Any]], photo: Photo, aws: Any
) -> None:
    # Given a session of the enrolled class / When a photo of four dogs is marked
    response = mark(teacher, "dogs", photo("noface/dogs.jpg"))
    # Then 422 NO_FACE
    assert (response.status_code, response.json()["code"]) == (422, "NO_FACE"), response.text
    # and nobody is written absent (nor present), no marking event is kept, no photo is kept
    register = teacher.get("/v1/sessions/dogs/attendance").json()
    assert (register["records"], register["present"], register["absent"]) == ([], [], [])
    assert register["not_marked"] == sorted(enrolled)
    assert items(aws, f"ORG#{ORG}#SESSION#dogs", "PHOTO#") == []
    assert kept(aws, "marking/demo/dogs/") == []


@pytest.mark.parametrize(
    ("path", "cut"),
    [
        ("edge/obama_small.jpg", False),  # 320x240
        ("edge/32bit.png", False),  # RGBA
        ("edge/obama_partial_face.jpg", True),
        ("edge/obama_partial_face2.jpg", True),
    ],
)
def test_edge_photos_mark_obama_and_enrol_with_their_flaws_reported(
    teacher: httpx.Client, enrolled: dict[str, dict[str, Any]], photo: Photo, aws: Any, path: str, cut: bool
) -> None:
    # When an edge photo is marked / Then Obama is present, a cut face flagged as such
    body = mark(teacher, f"edge-{Path(path).stem}", photo(path)).json()
    assert body["present"] == ["barack_obama"]
    (face,) = body["faces"]
    assert face["quality"]["cut_by_edge"] is cut
    assert ("EXCESSIVE_CUT" in face["quality_issues"]) is cut
    # When it is enrolled for Obama / Then a second face of his, with the same flag, its photo kept
    enrolled_face = enrol(teacher, "barack_obama", photo(path))
    assert enrolled_face.status_code == 201, enrolled_face.text
    assert enrolled_face.json()["quality"]["cut_by_edge"] is cut
    assert len(kept(aws, f"enrolment/demo/barack_obama/{sha(photo(path))}.")) == 1
    # When that face is deleted / Then so is its photo
    deleted = teacher.delete(f"/v1/students/barack_obama/faces/{enrolled_face.json()['face_id']}")
    assert deleted.status_code == 204
    assert len(teacher.get("/v1/students/barack_obama/faces").json()) == 1
    assert kept(aws, f"enrolment/demo/barack_obama/{sha(photo(path))}.") == []


# --- errors ---------------------------------------------------------------------------------------


def shrunk(data: bytes, factor: float) -> bytes:
    img = Image.open(io.BytesIO(data))
    return jpeg(img.resize((round(img.width * factor), round(img.height * factor))))


def jpeg(img: Image.Image, quality: int = 95) -> bytes:
    out = io.BytesIO()
    img.convert("RGB").save(out, format="JPEG", quality=quality)
    return out.getvalue()


def noise_png(side: int) -> bytes:
    """Random pixels, PNG: incompressible, so ``side`` 1450 is over 6 MB."""
    pixels = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG", compress_level=1)
    return out.getvalue()


def png_bomb(side: int) -> bytes:
    """A valid black PNG of side x side pixels (1 bit deep): 40 KB that decode to side² pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer = zlib.compressobj(9)
    row = b"\0" * (1 + (side + 7) // 8)  # filter byte, then the row's bits
    pixels = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def test_every_error_code_comes_from_a_real_bad_input_and_never_a_5xx(
    stack: LocalStack, teacher: httpx.Client, enrolled: dict[str, dict[str, Any]], photo: Photo
) -> None:
    # Given a student with no face yet, and Obama enrolled as barack_obama
    teacher.post("/v1/students", json={"student_id": "mallory", "name": "Mallory"})
    obama = photo("people/barack_obama/obama.jpg")
    bomb = png_bomb(20_000)
    assert len(bomb) < 100_000  # 400 million pixels in a small upload
    gif = io.BytesIO()
    Image.open(io.BytesIO(obama)).save(gif, format="GIF")
    cases: list[tuple[str, str | bytes, int, str]] = [
        ("not base64", "%%% not base64 %%%", 400, "INVALID_IMAGE_ENCODING"),
        ("over 5 MB decoded", noise_png(1450), 413, "IMAGE_TOO_LARGE"),
        ("decompression bomb", bomb, 413, "IMAGE_TOO_LARGE"),
        ("a GIF", gif.getvalue(), 415, "UNSUPPORTED_IMAGE"),
        ("text", b"just some text, not a photo\n" * 10, 415, "UNSUPPORTED_IMAGE"),
        ("dogs", photo("noface/dogs.jpg"), 422, "NO_FACE"),
        ("two people", photo("groups/two_people.jpg"), 422, "MULTIPLE_FACES"),
        ("a quarter size", shrunk(obama, 0.25), 422, "FACE_TOO_SMALL"),
        (
            "blurred",
            jpeg(Image.open(io.BytesIO(obama)).filter(ImageFilter.GaussianBlur(6))),
            422,
            "LOW_QUALITY",
        ),
        ("obama again", photo("people/barack_obama/obama2.jpg"), 409, "DUPLICATE_FACE"),
    ]
    for name, upload, status, code in cases:
        # When it is enrolled for mallory / Then its 4xx and code, with a readable detail
        text = upload if isinstance(upload, str) else b64(upload)
        response = teacher.post("/v1/students/mallory/faces", json={"image_base64": text})
        assert (response.status_code, response.json()["code"]) == (status, code), (name, response.text)
        detail = response.json()["detail"]
        assert isinstance(detail, str) or (isinstance(detail["message"], str) and "detail" not in detail), (
            name
        )
    # The duplicate is named to staff, not to the student enrolling themself
    duplicate = enrol(teacher, "mallory", photo("people/barack_obama/obama2.jpg")).json()["detail"]
    assert duplicate["student_id"] == "barack_obama" and duplicate["distance"] <= duplicate["threshold"]
    as_herself = enrol(stack.client("student", sub="mallory"), "mallory", photo("people/joe_biden/biden.jpg"))
    assert as_herself.json()["code"] == "DUPLICATE_FACE" and "student_id" not in as_herself.json()["detail"]
    # Marking refuses bad photos the same way
    for upload, status in ((bomb, 413), (gif.getvalue(), 415)):
        refused = mark(teacher, "bad-photos", upload)
        assert refused.status_code == status, refused.text
    assert teacher.get("/v1/students/mallory/faces").json() == []


def test_the_eleventh_face_of_a_student_is_refused(stack: LocalStack, photo: Photo) -> None:
    # Given, in an organisation of its own, a student with 10 faces (one photo, 10 JPEG encodings)
    admin = stack.client("admin", org="limits")
    admin.post("/v1/students", json={"student_id": "solo", "name": "Solo"})
    kit = Image.open(io.BytesIO(photo("people/kit_harington/train_kit_harington_john1.jpeg")))
    variants = [jpeg(kit, quality) for quality in range(80, 91)]
    assert len({sha(v) for v in variants}) == 11
    for data in variants[:10]:
        assert enrol(admin, "solo", data).status_code == 201
    # When an eleventh is enrolled / Then 409 FACE_LIMIT, and still 10
    refused = enrol(admin, "solo", variants[10])
    assert (refused.status_code, refused.json()["code"]) == (409, "FACE_LIMIT")
    assert refused.json()["detail"]["max_faces"] == 10
    assert admin.get("/v1/students/solo").json()["face_count"] == 10


# --- concurrency ----------------------------------------------------------------------------------


def test_twenty_concurrent_markings_leave_one_record_per_student(
    stack: LocalStack, enrolled: dict[str, dict[str, Any]], photo: Photo, aws: Any
) -> None:
    # Given a new session and one photo
    data = b64(photo("groups/test_kit_with_rose.jpg"))
    clients = [stack.client("teacher", sub=f"t{i}") for i in range(20)]
    clients[0].post("/v1/sessions", json={"session_id": "rush", "class_id": CLASS, **MONDAY})

    # When twenty teachers mark it at once (4 warm workers: they overlap across processes)
    def post(client: httpx.Client) -> httpx.Response:
        return client.post("/v1/sessions/rush/attendance", json={"image_base64": data})

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(post, clients))

    # Then every answer is the same marking, first-hand or replayed
    assert [r.status_code for r in responses] == [200] * 20, [
        r.text for r in responses if r.status_code != 200
    ]
    bodies = [r.json() for r in responses]
    assert all(sorted(b["present"]) == ["kit_harington", "rose_leslie"] for b in bodies)
    assert sum(not b["replayed"] for b in bodies) >= 1
    # and the table has exactly one record per student of the class, one marking event, one photo
    records = items(aws, f"ORG#{ORG}#SESSION#rush", "ATT#")
    assert sorted(r["student_id"]["S"] for r in records) == sorted(enrolled)
    assert {r["student_id"]["S"] for r in records if r["status"]["S"] == "present"} == {
        "kit_harington",
        "rose_leslie",
    }
    assert len(items(aws, f"ORG#{ORG}#SESSION#rush", "PHOTO#")) == 1
    assert kept(aws, "marking/demo/rush/") == [
        f"marking/demo/rush/{sha(photo('groups/test_kit_with_rose.jpg'))}.jpg"
    ]


# --- search ---------------------------------------------------------------------------------------


def test_search_names_the_nearest_students_and_is_audited(
    stack: LocalStack, teacher: httpx.Client, enrolled: dict[str, dict[str, Any]], photo: Photo, aws: Any
) -> None:
    # When a photo of Obama never enrolled is searched / Then Obama first, confidently, named
    found = teacher.post(
        "/v1/faces/search",
        json={"image_base64": b64(photo("people/barack_obama/obama3.jpg")), "max_results": 3},
    )
    assert found.status_code == 200, found.text
    body = found.json()
    first, *others = body["matches"]
    assert (first["student_id"], first["name"], first["status"]) == (
        "barack_obama",
        "Barack Obama",
        "present",
    )
    assert first["similarity"] >= 0.72 and all(m["similarity"] < 0.5 for m in others) and len(others) == 2
    assert body["face_count"] == 1 and body["searched_face"]["quality_issues"] == []
    # Within a class without Obama, he is not found; students may not search; no face is NO_FACE
    other_class = teacher.post(
        "/v1/faces/search",
        json={"image_base64": b64(photo("people/barack_obama/obama3.jpg")), "class_id": "art"},
    )
    assert other_class.json()["matches"] == []
    forbidden = stack.client("student", sub="mallory").post(
        "/v1/faces/search", json={"image_base64": b64(b"x")}
    )
    assert forbidden.status_code == 403
    no_face = teacher.post("/v1/faces/search", json={"image_base64": b64(photo("noface/dogs.jpg"))})
    assert no_face.json()["code"] == "NO_FACE"
    # Each search is in the audit log, with who (never the photo)
    audit = items(aws, f"ORG#{ORG}#SUBJECT#organisation:{ORG}", index="gsi1")
    assert [(a["actor"]["S"], a["action"]["S"]) for a in audit] == [("mr-hall", "faces.searched")]


# --- kept photos and erasure ----------------------------------------------------------------------


def test_photos_are_kept_with_a_lifecycle_expiry(
    enrolled: dict[str, dict[str, Any]], people: dict[str, str], photo: Photo, aws: Any
) -> None:
    # Given StorePhotos=true, PhotoRetentionDays=7: each enrolment photo is kept under its student
    for student_id, path in people.items():
        extension = "png" if path.endswith(".png") else "jpg"
        assert kept(aws, f"enrolment/demo/{student_id}/") == [
            f"enrolment/demo/{student_id}/{sha(photo(path))}.{extension}"
        ]
    # and each marked photo under its session; refused uploads (no face, bad photos) are not kept
    assert kept(aws, "marking/demo/rush/") == [
        f"marking/demo/rush/{sha(photo('groups/test_kit_with_rose.jpg'))}.jpg"
    ]
    assert kept(aws, "marking/demo/dogs/") == []
    assert kept(aws, "enrolment/demo/mallory/") == kept(aws, "marking/demo/bad-photos/") == []
    # The bucket expires every photo after 7 days and keeps no old versions
    s3 = aws("s3")
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert (rule["Status"], rule["Expiration"]["Days"], rule["Filter"]) == ("Enabled", 7, {"Prefix": ""})
    assert s3.get_bucket_versioning(Bucket=BUCKET).get("Status") is None


def test_erasure_removes_everything_of_the_student_and_nothing_else(
    stack: LocalStack, teacher: httpx.Client, enrolled: dict[str, dict[str, Any]], photo: Photo, aws: Any
) -> None:
    # Given kit (enrolled, marked present in two sessions, absent in others, a prediction seeded)
    kit_pk, rose_pk = f"ORG#{ORG}#STUDENT#kit_harington", f"ORG#{ORG}#STUDENT#rose_leslie"
    aws("dynamodb").put_item(
        TableName=TABLE,
        Item={"pk": {"S": kit_pk}, "sk": {"S": "PRED#2026-09-14#hist"}, "kind": {"S": "prediction"}},
    )
    kit_records = items(aws, f"{kit_pk}#ATT", index="gsi1")
    rose_before = (items(aws, rose_pk), items(aws, f"{rose_pk}#ATT", index="gsi1"))
    seen_in = {r["pk"]["S"].split("#")[-1] for r in kit_records if r["status"]["S"] == "present"}
    assert seen_in == {"group-test_kit_with_rose", "rush"}
    kit_photos = kept(aws, "enrolment/demo/kit_harington/") + [
        key for session in seen_in for key in kept(aws, f"marking/demo/{session}/")
    ]
    others_photos = set(kept(aws, "")) - set(kit_photos)

    # When an admin erases kit
    erased = stack.client("admin", sub="root").delete("/v1/students/kit_harington")

    # Then the answer counts what went
    assert erased.status_code == 200, erased.text
    assert erased.json()["erased"] == {
        "profile": 1,
        "faces": 1,
        "attendance_records": len(kit_records),
        "predictions": 1,
        "class_memberships": 1,
        "marking_events": len(kit_records),  # every marking of the class named kit, present or absent
        "photos": 3,
    }
    # and nothing of kit is left: partition, records, faces index, marking events, photos
    assert items(aws, kit_pk) == [] and items(aws, f"{kit_pk}#ATT", index="gsi1") == []
    assert items(aws, f"ORG#{ORG}#FACES", "kit_harington#", index="gsi1") == []
    for record in kit_records:
        assert "kit_harington" not in str(items(aws, record["pk"]["S"], "PHOTO#"))
    assert not set(kept(aws, "")) & set(kit_photos)
    assert teacher.get("/v1/students/kit_harington").status_code == 404
    # and everything else is: rose's profile, face and records, every other photo
    assert (items(aws, rose_pk), items(aws, f"{rose_pk}#ATT", index="gsi1")) == rose_before
    assert set(kept(aws, "")) == others_photos
    # a resent photo of a session kit was in still answers, without him
    again = mark(teacher, "rush", photo("groups/test_kit_with_rose.jpg"))
    assert again.json()["replayed"] is True and again.json()["present"] == ["rose_leslie"]
