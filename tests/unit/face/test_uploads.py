"""Photos uploaded by presigned URL: the keys of the two kinds (marking, enrolment), the S3
events read back into uploads, erasure of a student's uploads and annotated copies, the
annotated copy at the photo's own size, and the routes in the OpenAPI document."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image, ImageOps

from rollcall.face.annotate import COLOURS, annotate_original
from rollcall.face.status import FaceStatus
from rollcall.platform.errors import InvalidInput
from rollcall.services import uploads
from rollcall.store.photo_uploads import FACE_PREFIX, PREFIX, FaceUploadLog, parse_key, upload_key
from rollcall.store.photos import PhotoStore
from tests.unit.face.test_photo_store import HASH_A, HASH_B, FakeS3


def test_upload_keys_name_the_kind_organisation_owner_and_id_and_read_back() -> None:
    marking = upload_key("demo", "maths-1", "photo-0123456789abcdef")
    enrolment = upload_key("demo", "ann", "upload-0123456789abcdef", prefix=FACE_PREFIX)
    assert marking == "uploads/demo/maths-1/photo-0123456789abcdef"
    assert enrolment == "face-uploads/demo/ann/upload-0123456789abcdef"
    assert parse_key(marking) == (PREFIX, "demo", "maths-1", "photo-0123456789abcdef")
    assert parse_key(enrolment) == (FACE_PREFIX, "demo", "ann", "upload-0123456789abcdef")
    for bad in ("x/y", "enrolment/demo/ann/h", "uploads/demo/ann", "face-uploads/de#mo/ann/u", ""):
        with pytest.raises(InvalidInput):
            parse_key(bad)
    with pytest.raises(ValueError, match="unknown upload prefix"):
        upload_key("demo", "ann", "u", prefix="enrolment/")


def _event(*keys: str) -> dict[str, Any]:
    return {"Records": [{"s3": {"object": {"key": key}}} for key in keys]}


def test_an_s3_event_names_the_uploads_of_its_queues_prefix_only() -> None:
    # S3 URL-encodes keys in its events
    body = _event("face-uploads/demo/ann%2Dmarie/upload-1", "face-uploads/demo/bob/upload-2")
    assert uploads.events(body, FACE_PREFIX) == [
        ("demo", "ann-marie", "upload-1"),
        ("demo", "bob", "upload-2"),
    ]
    assert uploads.events({"Event": "s3:TestEvent"}, FACE_PREFIX) == []
    with pytest.raises(InvalidInput, match="not an upload under face-uploads/"):
        uploads.events(_event("uploads/demo/maths-1/photo-1"), FACE_PREFIX)
    with pytest.raises(InvalidInput):
        uploads.events(_event("face-uploads/demo/../x"), FACE_PREFIX)


def test_the_upload_notes_in_a_students_partition_name_their_uploads() -> None:
    items = [
        {"sk": "PROFILE", "kind": "student"},
        {"sk": "FACE#abc", "kind": "face"},
        {"sk": "UPLOAD#upload-1", "kind": "face_upload"},
        {"sk": "UPLOAD#upload-2", "kind": "face_upload"},
    ]
    assert FaceUploadLog.upload_ids(items) == ["upload-1", "upload-2"]


def test_the_annotated_copy_is_written_even_when_photos_are_not_kept_and_goes_with_erasure() -> None:
    s3 = FakeS3(
        [
            "face-uploads/demo/ann/upload-1",  # a pending enrolment upload of Ann's
            "face-uploads/demo/bob/upload-2",  # Bob's: stays
            f"marking/demo/maths-1/{HASH_A}.jpg",
            f"annotated/demo/maths-2/{HASH_B}.jpg",  # a photo Ann was not seen in: stays
        ]
    )
    store = PhotoStore("demo", "photos", keep=False, client=s3)
    assert store.put_annotated("maths-1", HASH_A, b"jpeg") == f"annotated/demo/maths-1/{HASH_A}.jpg"
    assert s3.objects[f"annotated/demo/maths-1/{HASH_A}.jpg"]["type"] == "image/jpeg"
    assert store.delete_student("ann", [("maths-1", HASH_A)]) == 3
    assert sorted(s3.objects) == [
        "annotated/demo/maths-2/" + HASH_B + ".jpg",
        "face-uploads/demo/bob/upload-2",
    ]


def test_the_annotated_copy_is_the_upright_photo_at_its_own_size_with_each_face_boxed(
    photo: Callable[[str], bytes],
) -> None:
    # Given a photo, and a marking's faces in the photo's pixels (one present, one unknown)
    data = photo("groups/test_kit_with_rose.jpg")
    with Image.open(io.BytesIO(data)) as img:
        size = ImageOps.exif_transpose(img).size
    faces: list[dict[str, Any]] = [
        {
            "box": {"top": 40, "right": 140, "bottom": 140, "left": 40},
            "status": "present",
            "student_id": "kit",
        },
        {
            "box": {"top": 40, "right": 300, "bottom": 140, "left": 200},
            "status": "unknown",
            "student_id": None,
        },
    ]
    # When annotated
    jpeg = annotate_original(data, faces, {"kit": "Kit Harington"})
    # Then it is a JPEG of the photo's size, each box drawn in its status's colour
    with Image.open(io.BytesIO(jpeg)) as drawn:
        assert (drawn.format, drawn.size) == ("JPEG", size)
        rgb = drawn.convert("RGB")
        for face in faces:
            box, colour = face["box"], COLOURS[FaceStatus(face["status"])]
            pixel: Any = rgb.getpixel((box["left"] + 1, (box["top"] + box["bottom"]) // 2))
            assert all(abs(a - b) < 40 for a, b in zip(pixel, colour, strict=True)), (pixel, colour)


def test_the_upload_routes_are_in_the_openapi_document() -> None:
    from rollcall.api import faces, photos
    from rollcall.api.app import create_app
    from tests.unit.test_http import SETTINGS

    document = create_app("t", routers=[faces.router, photos.router], settings=SETTINGS).openapi()
    paths = document["paths"]
    post = paths["/v1/students/{student_id}/faces/uploads"]["post"]
    assert "202" in post["responses"]
    get = paths["/v1/students/{student_id}/faces/uploads/{upload_id}"]["get"]
    assert "200" in get["responses"]
    schemas = document["components"]["schemas"]
    assert {"upload_id", "upload_url", "expires_at", "max_bytes"} <= set(
        schemas["FaceUploadOut"]["properties"]
    )
    assert {"status", "face", "created", "error"} <= set(schemas["FaceUploadStatusOut"]["properties"])
    assert "annotated_url" in schemas["PhotoMarking"]["properties"]
    assert json.dumps(document)  # serialisable
