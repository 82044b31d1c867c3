"""Photos uploaded by presigned URL, through the mark-attendance handler on the emulator: the
POST answers where to PUT, the PUT's S3 event reaches the photo uploads queue, the worker marks
the photo as the base64 route does, and GET answers the marking. Asserts what is stored."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import httpx
import pytest
from PIL import Image, ImageOps

from bench.faces_data import face_settings
from rollcall.domain import Student
from rollcall.platform.auth import Principal, Role
from rollcall.services.enrolment import enrol_face
from rollcall.store import clients
from rollcall.store.attendance import AttendanceRepo
from rollcall.store.roster import RosterRepo
from rollcall_local.emulator import Aws
from rollcall_local.template import Physical
from tests.integration.models.conftest import NOW, Stores
from tests.integration.models.test_jobs import ORG, SECRET, Handler, _load, deliver, http, receive

CLASS = "up-class"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:photo-uploads"
START = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)


@pytest.fixture(scope="module")
def refs(physical: Physical) -> dict[str, str]:
    return dict(physical.refs)


@pytest.fixture(scope="module")
def mark(aws: Aws, refs: dict[str, str]) -> Iterator[Handler]:
    env = {
        "STAGE": "local",
        "RECORDS_TABLE": refs["RecordsTable"],
        "PHOTO_BUCKET": refs["PhotoBucket"],
        "FACE_STORE_PHOTOS": "false",
        "AUTH_ISSUER": "rollcall-local",
        "AUTH_AUDIENCE": "rollcall-api",
        "AUTH_HS256_SECRET": SECRET,
        "AWS_ENDPOINT_URL": aws.endpoint,
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    receive(aws, refs["PhotoUploadsQueue"])  # S3's test event, sent when the bucket's notification was set
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        clients.reset()
        yield _load("mark-attendance").handler
    clients.reset()


@pytest.fixture(scope="module")
def enrolled(stores: Stores, faces_dir: Path) -> list[str]:
    """Kit and Rose, enrolled students of CLASS, and Obama, one too (absent from their photo)."""
    records, admin = stores.records(ORG), Principal("head", ORG, Role.ADMIN)
    people = {
        "kit_harington": "people/kit_harington/train_kit_harington_john1.jpeg",
        "rose_leslie": "people/rose_leslie/train_rose_leslie_img1.jpg",
        "barack_obama": "people/barack_obama/obama.jpg",
    }
    for student_id, path in people.items():
        RosterRepo(records).create(Student(student_id, student_id, (CLASS,)), created_by="t", created_at=NOW)
        enrol_face(
            records,
            admin,
            student_id,
            base64.b64encode((faces_dir / path).read_bytes()).decode(),
            face_settings(),
            photos=stores.photos(ORG),
            now=NOW,
            name_the_other=True,
        )
    return sorted(people)


def upload(mark: Handler, aws: Aws, refs: dict[str, str], session_id: str, data: bytes) -> dict[str, Any]:
    """Create the session, POST a photo, PUT it, deliver its S3 event; the GET answer."""
    session = {
        "session_id": session_id,
        "class_id": CLASS,
        "starts_at": START.isoformat(),
        "ends_at": (START + timedelta(hours=1)).isoformat(),
    }
    assert http(mark, "POST", "/v1/sessions", session)[0] == 201
    status, asked = http(mark, "POST", f"/v1/sessions/{session_id}/photos")
    assert (status, asked["upload_method"], asked["max_bytes"]) == (202, "PUT", 15 * 1024 * 1024), asked
    photo_id = asked["photo_id"]
    assert datetime.fromisoformat(asked["expires_at"]) > datetime.now(UTC)
    assert http(mark, "GET", f"/v1/sessions/{session_id}/photos/{photo_id}")[1]["status"] == "pending"
    assert httpx.put(asked["upload_url"], content=data, timeout=60).status_code == 200
    (message,) = [m for m in receive(aws, refs["PhotoUploadsQueue"]) if "Records" in json.loads(m["Body"])]
    key = json.loads(message["Body"])["Records"][0]["s3"]["object"]["key"]
    assert unquote_plus(key) == f"uploads/{ORG}/{session_id}/{photo_id}"  # URL-encoded, as S3 sends it
    assert deliver(mark, [message], QUEUE_ARN) == {"batchItemFailures": []}
    status, answer = http(mark, "GET", f"/v1/sessions/{session_id}/photos/{photo_id}")
    assert status == 200
    # the upload is gone once marked (photos live in the photo bucket only until marked)
    listed = aws.client("s3").list_objects_v2(
        Bucket=refs["PhotoBucket"], Prefix=f"uploads/{ORG}/{session_id}/"
    )
    assert listed.get("KeyCount", 0) == 0
    return dict(answer)


def test_an_uploaded_photo_is_marked_as_the_base64_route_marks_it(
    mark: Handler, aws: Aws, refs: dict[str, str], stores: Stores, enrolled: list[str], faces_dir: Path
) -> None:
    # Given Kit and Rose's photo, When it is uploaded for a session of their class
    original = (faces_dir / "groups/test_kit_with_rose.jpg").read_bytes()
    answer = upload(mark, aws, refs, "up-kit-rose", original)
    # Then the marking is done: both present, Obama absent, timings reported
    assert answer["status"] == "done", answer
    marking = answer["marking"]
    assert (marking["present"], marking["absent"]) == (["kit_harington", "rose_leslie"], ["barack_obama"])
    assert (marking["uncertain"], marking["unknown_count"], marking["replayed"]) == ([], 0, False)
    assert len(marking["faces"]) == 2 and marking["timings"]["detect"] > 0
    # And its annotated copy downloads from the answered URL: a JPEG of the photo's own size,
    # written next to the original in the photo bucket
    drawn = httpx.get(marking["annotated_url"], timeout=30)
    assert drawn.status_code == 200 and marking["annotated_url_expires_in"] == 3600
    with Image.open(io.BytesIO(drawn.content)) as copy, Image.open(io.BytesIO(original)) as photo:
        assert (copy.format, copy.size) == ("JPEG", ImageOps.exif_transpose(photo).size)
    key = f"annotated/{ORG}/up-kit-rose/{marking['photo_hash']}.jpg"
    assert aws.client("s3").head_object(Bucket=refs["PhotoBucket"], Key=key)["ContentType"] == "image/jpeg"
    # And the attendance is stored
    stored = {
        r.student_id: r.status.value for r in AttendanceRepo(stores.records(ORG)).for_session("up-kit-rose")
    }
    assert stored == {"kit_harington": "present", "rose_leslie": "present", "barack_obama": "absent"}
    # And the photo is not another session's
    status, body = http(mark, "GET", f"/v1/sessions/up-dogs/photos/{answer['photo_id']}")
    assert (status, body["code"]) == (404, "PHOTO_NOT_FOUND")


def test_an_uploaded_photo_without_faces_fails_with_no_face_and_writes_nothing(
    mark: Handler, aws: Aws, refs: dict[str, str], stores: Stores, enrolled: list[str], faces_dir: Path
) -> None:
    answer = upload(mark, aws, refs, "up-dogs", (faces_dir / "noface/dogs.jpg").read_bytes())
    assert (answer["status"], answer["error"]["code"]) == ("failed", "NO_FACE"), answer
    assert "marking" not in answer or answer["marking"] is None
    assert AttendanceRepo(stores.records(ORG)).for_session("up-dogs") == []


def test_an_upload_over_15_mb_fails_with_photo_too_large(
    mark: Handler, aws: Aws, refs: dict[str, str], stores: Stores, enrolled: list[str]
) -> None:
    answer = upload(mark, aws, refs, "up-huge", b"\xff" * (15 * 1024 * 1024 + 1))
    assert (answer["status"], answer["error"]["code"]) == ("failed", "PHOTO_TOO_LARGE"), answer
    assert AttendanceRepo(stores.records(ORG)).for_session("up-huge") == []


def test_photos_are_scoped_by_session_and_organisation(mark: Handler) -> None:
    status, body = http(mark, "POST", "/v1/sessions/no-such-session/photos")
    assert (status, body["code"]) == (404, "SESSION_NOT_FOUND")
    status, body = http(mark, "GET", "/v1/sessions/up-kit-rose/photos/photo-0123456789abcdef")
    assert (status, body["code"]) == (404, "PHOTO_NOT_FOUND")
    status, body = http(mark, "GET", "/v1/sessions/up-dogs/photos/photo-0123456789abcdef")
    assert (status, body["code"]) == (404, "PHOTO_NOT_FOUND")


def test_a_message_that_is_no_upload_is_consumed_not_retried(mark: Handler) -> None:
    bodies = ["{not json", json.dumps(["a"]), json.dumps({"Records": [{"s3": {"object": {"key": "x/y"}}}]})]
    messages = [
        {"MessageId": f"m-{i}", "ReceiptHandle": "r", "Body": body, "MD5OfBody": ""}
        for i, body in enumerate(bodies)
    ]
    assert deliver(mark, messages, QUEUE_ARN) == {"batchItemFailures": []}
