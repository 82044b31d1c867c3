"""Races the store's conditional writes decide: parallel enrolments of one photo, an erasure
running while an enrolment does, a prediction for a student who is not there. Each test asserts
what is stored afterwards, not only what was answered."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from bench.faces_data import face_settings
from rollcall.domain import Student
from rollcall.platform.auth import Principal, Role
from rollcall.platform.errors import NotFound, RollcallError
from rollcall.services.enrolment import enrol_face
from rollcall.services.students import erase_student
from rollcall.store.faces import FaceRepo
from rollcall.store.roster import RosterRepo
from tests.integration.models.conftest import NOW, Stores

ADMIN = Principal("head", "races", Role.ADMIN)


def b64(faces_dir: Path, path: str) -> str:
    return base64.b64encode((faces_dir / path).read_bytes()).decode()


def create(stores: Stores, org: str, student_id: str) -> None:
    RosterRepo(stores.records(org)).create(
        Student(student_id, student_id.title(), ("c1",)), created_by="t", created_at=NOW
    )


def face_items(stores: Stores, org: str, student_id: str) -> list[dict[str, Any]]:
    records = stores.records(org)
    return list(records.query(records.key("STUDENT", student_id), sk_prefix="FACE#", consistent=True))


def test_twenty_parallel_enrolments_of_one_photo_store_one_face(stores: Stores, faces_dir: Path) -> None:
    # Given a student, and the same photo sent 20 times at once
    org, settings = "races", face_settings()
    create(stores, org, "obama")
    photo = b64(faces_dir, "people/barack_obama/obama.jpg")

    def enrol() -> tuple[str, bool]:
        face, new = enrol_face(
            stores.records(org),
            ADMIN,
            "obama",
            photo,
            settings,
            photos=stores.photos(org),
            now=NOW,
            name_the_other=True,
        )
        return face.face_id, new

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda _: enrol(), range(20)))
    # Then one face is stored and counted, and every answer names it; one says it is new
    assert len(face_items(stores, org, "obama")) == 1
    assert len({face_id for face_id, _ in answers}) == 1
    assert sum(new for _, new in answers) == 1
    profile = stores.records(org).get(stores.records(org).key("STUDENT", "obama"), "PROFILE")
    assert profile is not None and profile["face_count"] == 1
    # And a resend afterwards answers the same face
    assert enrol() == (answers[0][0], False)


class EnrolDuringErasure:
    """The photo store an erasure uses, running an enrolment of the student at the worst moment:
    after the erasure has read the student's partition and before it deletes what it read."""

    def __init__(self, photos: Any, enrol: Any) -> None:
        self.photos, self.enrol, self.outcome = photos, enrol, ""

    def delete_student(self, *args: Any, **kwargs: Any) -> int:
        self.outcome = self.enrol()
        return int(self.photos.delete_student(*args, **kwargs))


def enrolling(stores: Stores, org: str, photo: str) -> Any:
    def enrol() -> str:
        try:
            enrol_face(
                stores.records(org),
                ADMIN,
                "obama",
                photo,
                face_settings(),
                photos=stores.photos(org),
                now=NOW,
                name_the_other=True,
            )
        except RollcallError as e:
            return e.code
        return "ENROLLED"

    return enrol


def assert_erased(stores: Stores, org: str) -> None:
    records = stores.records(org)
    assert RosterRepo(records).get("obama") is None
    assert face_items(stores, org, "obama") == []
    labels, _ = FaceRepo(records).gallery()
    assert labels == []
    assert list(records.query(records.key("STUDENT", "obama"), consistent=True)) == []


def test_an_enrolment_inside_an_erasure_leaves_no_face(stores: Stores, faces_dir: Path) -> None:
    # Given a student with one face, enrolled again while the erasure is under way
    org = "erase-inside"
    create(stores, org, "obama")
    assert enrolling(stores, org, b64(faces_dir, "people/barack_obama/obama.jpg"))() == "ENROLLED"
    hook = EnrolDuringErasure(
        stores.photos(org), enrolling(stores, org, b64(faces_dir, "people/barack_obama/obama2.jpg"))
    )
    erase_student(stores.records(org), ADMIN, "obama", hook, now=NOW)  # type: ignore[arg-type]
    # Then the enrolment was refused, and nothing of the student is left to be found
    assert hook.outcome == "STUDENT_NOT_FOUND"
    assert_erased(stores, org)


@pytest.mark.parametrize("round_", range(4))
def test_erasing_a_student_while_they_are_enrolled_leaves_no_face(
    stores: Stores, faces_dir: Path, round_: int
) -> None:
    # Given a student with one face, being enrolled again (another photo) while being erased
    org = f"erase-race-{round_}"
    create(stores, org, "obama")
    enrolling(stores, org, b64(faces_dir, "people/barack_obama/obama.jpg"))()
    enrol = enrolling(stores, org, b64(faces_dir, "people/barack_obama/obama2.jpg"))

    def erase() -> str:
        try:
            erase_student(stores.records(org), ADMIN, "obama", stores.photos(org), now=NOW)
        except NotFound as e:
            return e.code
        return "ERASED"

    with ThreadPoolExecutor(max_workers=2) as pool:
        enrolled, erased = pool.submit(enrol), pool.submit(erase)
        outcomes = (enrolled.result(), erased.result())
    # Then the erasure won: no profile, no face, nothing in the face gallery of the organisation
    assert outcomes[1] == "ERASED"
    assert outcomes[0] in ("ENROLLED", "STUDENT_NOT_FOUND"), outcomes
    assert_erased(stores, org)
