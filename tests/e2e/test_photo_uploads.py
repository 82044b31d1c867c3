"""A 12 MP phone photo uploaded by presigned URL on the local stack: POST asks where to PUT it,
the PUT (plain HTTP, no Origin header, as a phone app sends it) starts the marking through the
photo bucket's S3 event and the photo uploads queue, and GET answers pending, then the marking,
which the register agrees with."""

from __future__ import annotations

import base64
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
