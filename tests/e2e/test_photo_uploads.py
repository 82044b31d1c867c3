"""A 12 MP phone photo uploaded by presigned URL on the local stack: POST asks where to PUT it,
the PUT (plain HTTP, no Origin header, as a phone app sends it) starts the marking through the
photo bucket's S3 event and the photo uploads queue, and GET answers pending, then the marking,
which the register agrees with, and a presigned URL of its annotated copy (a JPEG of the photo's
own size). An enrolment photo goes the same way (POST /v1/students/{id}/faces/uploads, the face
uploads queue, encode-face): GET answers pending, then the face enrolled or the refusal's code."""

from __future__ import annotations

import base64
import io
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

from tests.e2e.conftest import LocalStack

CLASS = "phone-class"
SESSION = {"session_id": "phone-0907", "class_id": CLASS}
TIMES = {"starts_at": "2026-09-07T09:00:00Z", "ends_at": "2026-09-07T10:00:00Z"}
PEOPLE = {
    "barack_obama": "people/barack_obama/obama.jpg",
    "joe_biden": "people/joe_biden/biden.jpg",
    "kit_harington": "people/kit_harington/train_kit_harington_john1.jpeg",
}
MARKING_SECONDS = 180


def twelve_megapixels(path: Path, tmp: Path) -> bytes:
    """The group photo upscaled into a 4032 x 3024 frame (as a phone takes it), as a JPEG in tmp."""
    with Image.open(path) as img:
        group = img.convert("RGB")
    scale = min(4032 / group.width, 3024 / group.height)
    group = group.resize((round(group.width * scale), round(group.height * scale)), Image.Resampling.LANCZOS)
    frame = Image.new("RGB", (4032, 3024), (128, 128, 128))
    frame.paste(group, ((4032 - group.width) // 2, (3024 - group.height) // 2))
    noise = np.random.default_rng(7).normal(0, 6, (3024, 4032, 3))  # a sensor's grain: a phone-sized file
    frame = Image.fromarray(np.clip(np.asarray(frame, dtype=np.float32) + noise, 0, 255).astype(np.uint8))
    out = tmp / "phone.jpg"
    frame.save(out, "JPEG", quality=95)
    return out.read_bytes()


def marked(teacher: httpx.Client, photo_id: str) -> dict[str, Any]:
    """GET the photo until its marking ends (pending meanwhile)."""
    deadline = time.monotonic() + MARKING_SECONDS
    while time.monotonic() < deadline:
        answer = teacher.get(f"/v1/sessions/{SESSION['session_id']}/photos/{photo_id}")
        assert answer.status_code == 200, answer.text
        if answer.json()["status"] != "pending":
            return dict(answer.json())
        time.sleep(1)
    raise AssertionError(f"photo {photo_id} still pending after {MARKING_SECONDS} s")


def test_a_12_mp_photo_uploaded_by_url_is_marked(stack: LocalStack, faces_dir: Path, tmp_path: Path) -> None:
    teacher = stack.client("teacher", org="phones", sub="ms-ward")
    # Given three enrolled students of a class, and a session of it
    for student_id, path in PEOPLE.items():
        created = teacher.post(
            "/v1/students", json={"student_id": student_id, "name": student_id, "class_ids": [CLASS]}
        )
        assert created.status_code == 201, created.text
        image = base64.b64encode((faces_dir / path).read_bytes()).decode()
        enrolled = teacher.post(f"/v1/students/{student_id}/faces", json={"image_base64": image})
        assert enrolled.status_code == 201, enrolled.text
    assert teacher.post("/v1/sessions", json={**SESSION, **TIMES}).status_code == 201
    data = twelve_megapixels(faces_dir / "groups/two_people.jpg", tmp_path)
    assert len(data) > 4_400_000  # more than the base64 route takes

    # When a 12 MP photo of Obama and Biden is uploaded to the answered URL
    asked = teacher.post(f"/v1/sessions/{SESSION['session_id']}/photos")
    assert asked.status_code == 202, asked.text
    photo_id = asked.json()["photo_id"]
    put = httpx.put(asked.json()["upload_url"], content=data, timeout=120)
    assert put.status_code == 200, put.text

    # Then GET answers the marking: both present, Kit absent, timings reported
    answer = marked(teacher, photo_id)
    assert answer["status"] == "done", answer
    marking = answer["marking"]
    assert (marking["present"], marking["absent"]) == (["barack_obama", "joe_biden"], ["kit_harington"])
    assert (marking["uncertain"], marking["unknown_count"]) == ([], 0)
    assert marking["photo_bytes"] == len(data) and marking["timings"]["detect"] > 0
    # And the register stores it, as the job does
    register = teacher.get(f"/v1/sessions/{SESSION['session_id']}/attendance").json()
    assert (register["present"], register["absent"]) == (["barack_obama", "joe_biden"], ["kit_harington"])
    job = teacher.get(f"/v1/jobs/{photo_id}").json()
    assert (job["kind"], job["status"]) == ("photo_marking", "succeeded")
    # And the annotated copy downloads from its URL: a JPEG of the uploaded photo's size
    drawn = httpx.get(marking["annotated_url"], timeout=60)
    assert drawn.status_code == 200, drawn.text
    with Image.open(io.BytesIO(drawn.content)) as copy:
        assert (copy.format, copy.size) == ("JPEG", (4032, 3024))


def enrolment(client: httpx.Client, student_id: str, upload_id: str) -> dict[str, Any]:
    """GET the enrolment upload until it ends (pending meanwhile)."""
    deadline = time.monotonic() + MARKING_SECONDS
    while time.monotonic() < deadline:
        answer = client.get(f"/v1/students/{student_id}/faces/uploads/{upload_id}")
        assert answer.status_code == 200, answer.text
        if answer.json()["status"] != "pending":
            return dict(answer.json())
        time.sleep(1)
    raise AssertionError(f"upload {upload_id} still pending after {MARKING_SECONDS} s")


def test_a_face_uploaded_by_url_is_enrolled_or_refused_with_its_code(
    stack: LocalStack, faces_dir: Path
) -> None:
    teacher = stack.client("teacher", org="phones", sub="ms-ward")
    rose = stack.client("student", org="phones", sub="rose_leslie")
    # Given a student
    created = teacher.post(
        "/v1/students", json={"student_id": "rose_leslie", "name": "Rose", "class_ids": [CLASS]}
    )
    assert created.status_code == 201, created.text

    # When the teacher asks for an upload and PUTs Rose's photo to the answered URL
    asked = teacher.post("/v1/students/rose_leslie/faces/uploads")
    assert asked.status_code == 202, asked.text
    upload_id = asked.json()["upload_id"]
    assert teacher.get(f"/v1/students/rose_leslie/faces/uploads/{upload_id}").json()["status"] == "pending"
    data = (faces_dir / "people/rose_leslie/train_rose_leslie_img1.jpg").read_bytes()
    put = httpx.put(asked.json()["upload_url"], content=data, timeout=120)
    assert put.status_code == 200, put.text

    # Then GET answers the face enrolled, which the student's faces list
    answer = enrolment(teacher, "rose_leslie", upload_id)
    assert (answer["status"], answer["created"], answer["photo_bytes"]) == ("done", True, len(data)), answer
    face = answer["face"]
    assert face["student_id"] == "rose_leslie" and face["quality"]["width_px"] > 0
    faces = teacher.get("/v1/students/rose_leslie/faces").json()
    assert [f["face_id"] for f in faces] == [face["face_id"]]

    # When Rose herself uploads a photo of dogs, Then it is refused with NO_FACE, nothing stored
    asked = rose.post("/v1/students/rose_leslie/faces/uploads")
    assert asked.status_code == 202, asked.text
    put = httpx.put(
        asked.json()["upload_url"], content=(faces_dir / "noface/dogs.jpg").read_bytes(), timeout=120
    )
    assert put.status_code == 200, put.text
    answer = enrolment(rose, "rose_leslie", asked.json()["upload_id"])
    assert (answer["status"], answer["error"]["code"]) == ("failed", "NO_FACE"), answer
    assert len(teacher.get("/v1/students/rose_leslie/faces").json()) == 1
    # And another student may not ask for an upload of Rose's face
    kit = stack.client("student", org="phones", sub="kit_harington")
    assert kit.post("/v1/students/rose_leslie/faces/uploads").status_code == 403
