"""Enrolment photos uploaded by presigned URL, through the encode-face handler on the emulator:
the POST answers where to PUT, the PUT's S3 event reaches the face uploads queue, the worker
enrols the photo as the base64 route does, and GET answers the face or the refusal's code.
Erasing the student takes a pending upload, its photo and its job. Asserts what is stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import httpx
import pytest

from rollcall.store import clients
from rollcall.store.faces import FaceRepo
from rollcall.store.job_log import JobRepo
from rollcall_local.emulator import Aws
from rollcall_local.template import Physical
from tests.integration.models.test_jobs import ORG, SECRET, Handler, _load, deliver, http, receive

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:face-uploads"
KIT = "people/kit_harington/train_kit_harington_john1.jpeg"


@pytest.fixture(scope="module")
def refs(physical: Physical) -> dict[str, str]:
    return dict(physical.refs)


@pytest.fixture(scope="module")
def encode(aws: Aws, refs: dict[str, str]) -> Iterator[Handler]:
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
    receive(aws, refs["FaceUploadsQueue"])  # S3's test event, sent when the bucket's notification was set
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        clients.reset()
        yield _load("encode-face").handler
    clients.reset()


def student(encode: Handler, student_id: str) -> None:
    status, body = http(encode, "POST", "/v1/students", {"student_id": student_id, "name": student_id})
    assert status == 201, body


def ask(encode: Handler, student_id: str) -> dict[str, Any]:
    status, asked = http(encode, "POST", f"/v1/students/{student_id}/faces/uploads")
    assert (status, asked["upload_method"], asked["max_bytes"]) == (202, "PUT", 15 * 1024 * 1024), asked
    assert datetime.fromisoformat(asked["expires_at"]) > datetime.now(UTC)
    return dict(asked)


def put(aws: Aws, refs: dict[str, str], asked: dict[str, Any], data: bytes) -> dict[str, Any]:
    """PUT the photo to the answered URL; the S3 event it sent to the face uploads queue."""
    assert httpx.put(asked["upload_url"], content=data, timeout=60).status_code == 200
    (message,) = [m for m in receive(aws, refs["FaceUploadsQueue"]) if "Records" in json.loads(m["Body"])]
    return message


def upload(encode: Handler, aws: Aws, refs: dict[str, str], student_id: str, data: bytes) -> dict[str, Any]:
    """POST for an upload, PUT the photo, deliver its S3 event; the GET answer."""
    asked = ask(encode, student_id)
    path = f"/v1/students/{student_id}/faces/uploads/{asked['upload_id']}"
    assert http(encode, "GET", path)[1]["status"] == "pending"
    message = put(aws, refs, asked, data)
    key = json.loads(message["Body"])["Records"][0]["s3"]["object"]["key"]
    assert unquote_plus(key) == f"face-uploads/{ORG}/{student_id}/{asked['upload_id']}"
    assert deliver(encode, [message], QUEUE_ARN) == {"batchItemFailures": []}
    status, answer = http(encode, "GET", path)
    assert status == 200
    # the upload is gone once used (photos live in the photo bucket only until enrolled)
    listed = aws.client("s3").list_objects_v2(
        Bucket=refs["PhotoBucket"], Prefix=f"face-uploads/{ORG}/{student_id}/"
    )
    assert listed.get("KeyCount", 0) == 0
    return dict(answer)


def test_an_uploaded_photo_is_enrolled_as_the_base64_route_enrols_it(
    encode: Handler, aws: Aws, refs: dict[str, str], stores: Any, faces_dir: Path
) -> None:
    # Given a student, When Kit's photo is uploaded for them
    student(encode, "fu-kit")
    data = (faces_dir / KIT).read_bytes()
    answer = upload(encode, aws, refs, "fu-kit", data)
    # Then the enrolment is done: the face, its quality, the photo's size
    assert (answer["status"], answer["created"], answer["photo_bytes"]) == ("done", True, len(data)), answer
    face = answer["face"]
    assert face["student_id"] == "fu-kit" and face["quality"]["width_px"] > 0
    # And the face is stored, as the list route shows it
    (stored,) = FaceRepo(stores.records(ORG)).of_student("fu-kit")
    assert stored.face_id == face["face_id"]
    assert [f["face_id"] for f in http(encode, "GET", "/v1/students/fu-kit/faces")[1]] == [face["face_id"]]
    # And the same photo again is the same face, nothing new stored
    again = upload(encode, aws, refs, "fu-kit", data)
    assert (again["status"], again["created"], again["face"]["face_id"]) == ("done", False, face["face_id"])
    assert len(FaceRepo(stores.records(ORG)).of_student("fu-kit")) == 1


@pytest.mark.parametrize(
    ("photo", "code"),
    [("noface/dogs.jpg", "NO_FACE"), ("groups/two_people.jpg", "MULTIPLE_FACES")],
)
def test_an_uploaded_photo_that_cannot_be_enrolled_fails_with_the_base64_routes_code(
    encode: Handler, aws: Aws, refs: dict[str, str], stores: Any, faces_dir: Path, photo: str, code: str
) -> None:
    student_id = f"fu-{code.lower().replace('_', '-')}"
    student(encode, student_id)
    answer = upload(encode, aws, refs, student_id, (faces_dir / photo).read_bytes())
    assert (answer["status"], answer["error"]["code"]) == ("failed", code), answer
    assert answer.get("face") is None
    assert FaceRepo(stores.records(ORG)).of_student(student_id) == []


def test_another_students_face_fails_with_duplicate_face(
    encode: Handler, aws: Aws, refs: dict[str, str], faces_dir: Path
) -> None:
    student(encode, "fu-obama")
    student(encode, "fu-not-obama")
    assert (
        upload(encode, aws, refs, "fu-obama", (faces_dir / "people/barack_obama/obama.jpg").read_bytes())[
            "status"
        ]
        == "done"
    )
    answer = upload(
        encode, aws, refs, "fu-not-obama", (faces_dir / "people/barack_obama/obama2.jpg").read_bytes()
    )
    assert (answer["status"], answer["error"]["code"]) == ("failed", "DUPLICATE_FACE"), answer


def test_an_upload_over_15_mb_fails_with_photo_too_large(
    encode: Handler, aws: Aws, refs: dict[str, str]
) -> None:
    student(encode, "fu-huge")
    answer = upload(encode, aws, refs, "fu-huge", b"\xff" * (15 * 1024 * 1024 + 1))
    assert (answer["status"], answer["error"]["code"]) == ("failed", "PHOTO_TOO_LARGE"), answer


def test_uploads_are_scoped_by_student_and_a_student_uploads_only_its_own(encode: Handler) -> None:
    status, body = http(encode, "POST", "/v1/students/no-such-student/faces/uploads")
    assert (status, body["code"]) == (404, "STUDENT_NOT_FOUND")
    student(encode, "fu-scoped")
    asked = ask(encode, "fu-scoped")
    status, body = http(encode, "GET", f"/v1/students/fu-kit/faces/uploads/{asked['upload_id']}")
    assert (status, body["code"]) == (404, "UPLOAD_NOT_FOUND")
    status, body = http(encode, "GET", "/v1/students/fu-scoped/faces/uploads/upload-0123456789abcdef")
    assert (status, body["code"]) == (404, "UPLOAD_NOT_FOUND")
    status, body = http(encode, "POST", "/v1/students/fu-scoped/faces/uploads", role="student")
    assert status == 403, body


def test_erasing_the_student_takes_a_pending_upload_its_photo_and_its_job(
    encode: Handler, aws: Aws, refs: dict[str, str], stores: Any, faces_dir: Path
) -> None:
    # Given a photo uploaded for a student, its event not yet delivered
    student(encode, "fu-erased")
    asked = ask(encode, "fu-erased")
    message = put(aws, refs, asked, (faces_dir / "people/joe_biden/biden.jpg").read_bytes())
    s3 = aws.client("s3")
    prefix = f"face-uploads/{ORG}/fu-erased/"
    assert s3.list_objects_v2(Bucket=refs["PhotoBucket"], Prefix=prefix)["KeyCount"] == 1
    # When the student is erased
    status, erased = http(encode, "DELETE", "/v1/students/fu-erased", role="admin")
    # Then the upload's photo, its note and its job are gone
    assert status == 200, erased
    assert erased["erased"]["face_uploads"] == 1 and erased["erased"]["photos"] == 1
    assert s3.list_objects_v2(Bucket=refs["PhotoBucket"], Prefix=prefix).get("KeyCount", 0) == 0
    assert JobRepo(stores.records(ORG)).get(asked["upload_id"]) is None
    status, body = http(encode, "GET", f"/v1/students/fu-erased/faces/uploads/{asked['upload_id']}")
    assert (status, body["code"]) == (404, "UPLOAD_NOT_FOUND")
    # And a photo PUT after the erasure (the URL still valid) is deleted unread when its event comes
    late = put(aws, refs, asked, (faces_dir / "people/joe_biden/biden.jpg").read_bytes())
    assert deliver(encode, [message, late], QUEUE_ARN) == {"batchItemFailures": []}
    assert s3.list_objects_v2(Bucket=refs["PhotoBucket"], Prefix=prefix).get("KeyCount", 0) == 0
    assert FaceRepo(stores.records(ORG)).of_student("fu-erased") == []


def test_a_message_that_is_no_enrolment_upload_is_consumed_not_retried(encode: Handler) -> None:
    bodies = [
        "{not json",
        json.dumps(["a"]),
        json.dumps({"Records": [{"s3": {"object": {"key": "x/y"}}}]}),
        json.dumps({"Records": [{"s3": {"object": {"key": f"uploads/{ORG}/s/photo-0123456789abcdef"}}}]}),
    ]
    messages = [
        {"MessageId": f"m-{i}", "ReceiptHandle": "r", "Body": body, "MD5OfBody": ""}
        for i, body in enumerate(bodies)
    ]
    assert deliver(encode, messages, QUEUE_ARN) == {"batchItemFailures": []}
