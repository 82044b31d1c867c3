"""Kept photos: nothing is written unless configured; keys per organisation; erasure deletes them."""

from __future__ import annotations

from typing import Any

import pytest

from rollcall.platform.errors import InvalidInput, StoreUnavailable
from rollcall.store.photos import PhotoStore

HASH_A, HASH_B = "a" * 64, "b" * 64


class FakeS3:
    """The four S3 calls PhotoStore makes, on a dict of keys; pages of ``page`` keys when listing."""

    def __init__(self, keys: tuple[str, ...] | list[str] = (), page: int = 1000, fail: bool = False) -> None:
        self.objects: dict[str, dict[str, Any]] = {k: {} for k in keys}
        self.calls: list[str] = []
        self.page, self.fail = page, fail

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, ContentType: str) -> None:
        self.calls.append("put_object")
        self.objects[Key] = {"bucket": Bucket, "body": Body, "type": ContentType}

    def list_objects_v2(self, *, Bucket: str, Prefix: str, ContinuationToken: str = "0") -> dict[str, Any]:
        self.calls.append("list_objects_v2")
        keys = sorted(k for k in self.objects if k.startswith(Prefix))
        start = int(ContinuationToken)
        page: dict[str, Any] = {"Contents": [{"Key": k} for k in keys[start : start + self.page]]}
        if start + self.page < len(keys):
            page |= {"IsTruncated": True, "NextContinuationToken": str(start + self.page)}
        return page

    def delete_objects(self, *, Bucket: str, Delete: dict[str, Any]) -> dict[str, Any]:
        self.calls.append("delete_objects")
        assert len(Delete["Objects"]) <= 1000
        if self.fail:
            return {"Errors": [{"Key": o["Key"], "Code": "AccessDenied"} for o in Delete["Objects"]]}
        for o in Delete["Objects"]:
            del self.objects[o["Key"]]
        return {}


def test_nothing_is_kept_unless_configured() -> None:
    # Given the default (FACE_STORE_PHOTOS off) / When photos are offered / Then no request at all
    s3 = FakeS3()
    store = PhotoStore("demo", "photos", keep=False, client=s3)
    assert store.put_enrolment("ann", HASH_A, b"jpeg", "JPEG") is None
    assert store.put_marking("maths-1", HASH_A, b"png", "PNG") is None
    assert s3.calls == []


def test_kept_photos_are_keyed_by_kind_organisation_owner_and_hash() -> None:
    s3 = FakeS3()
    store = PhotoStore("demo", "photos", keep=True, client=s3)
    assert store.put_enrolment("ann", HASH_A, b"jpeg", "JPEG") == f"enrolment/demo/ann/{HASH_A}.jpg"
    assert store.put_marking("maths-1", HASH_B, b"webp", "WEBP") == f"marking/demo/maths-1/{HASH_B}.webp"
    assert store.put_marking("maths-2", HASH_B, b"heic", "HEIF") == f"marking/demo/maths-2/{HASH_B}.heic"
    assert s3.objects[f"marking/demo/maths-2/{HASH_B}.heic"]["type"] == "image/heic"
    assert s3.objects[f"enrolment/demo/ann/{HASH_A}.jpg"] == {
        "bucket": "photos",
        "body": b"jpeg",
        "type": "image/jpeg",
    }
    # an id cannot climb out of its prefix
    for bad in ("../other", "a/b", ""):
        with pytest.raises(InvalidInput):
            store.put_enrolment(bad, HASH_A, b"x", "JPEG")


def test_erasure_deletes_the_students_photos_and_the_photos_they_were_seen_in_only() -> None:
    # Given 2,500 enrolment photos of ann (three list pages), two classroom photos she was seen in,
    # one she was not, a photo of another student, and ann's photos in another organisation
    ann = [f"enrolment/demo/ann/{i:064d}.jpg" for i in range(2500)]
    others = [
        f"marking/demo/maths-1/{HASH_B}.jpg",
        f"enrolment/demo/annabel/{HASH_A}.jpg",
        f"enrolment/other/ann/{HASH_A}.jpg",
    ]
    seen = [f"marking/demo/maths-1/{HASH_A}.jpg", f"marking/demo/maths-2/{HASH_A}.png"]
    s3 = FakeS3(ann + seen + others)
    store = PhotoStore("demo", "photos", keep=False, client=s3)  # erasure works with keeping off
    # When ann is erased
    deleted = store.delete_student("ann", [("maths-1", HASH_A), ("maths-2", HASH_A)])
    # Then her photos are gone and nothing else
    assert deleted == 2502
    assert sorted(s3.objects) == sorted(others)
    assert s3.calls.count("delete_objects") == 3


def test_deleting_a_face_deletes_only_the_photo_it_was_enrolled_from() -> None:
    s3 = FakeS3([f"enrolment/demo/ann/{HASH_A}.jpg", f"enrolment/demo/ann/{HASH_B}.png"])
    assert PhotoStore("demo", "photos", keep=True, client=s3).delete_enrolment("ann", HASH_A) == 1
    assert list(s3.objects) == [f"enrolment/demo/ann/{HASH_B}.png"]


def test_a_photo_the_store_would_not_delete_is_an_error() -> None:
    s3 = FakeS3([f"enrolment/demo/ann/{HASH_A}.jpg"], fail=True)
    with pytest.raises(StoreUnavailable, match="AccessDenied"):
        PhotoStore("demo", "photos", keep=True, client=s3).delete_student("ann", [])
