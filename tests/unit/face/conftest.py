"""Shared fixtures of the face unit tests: settings, the models (loaded once), photos, enrolments.

Everything expensive is session-scoped: the models load once, every portrait is enrolled once,
and the tests read from those results.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bench.faces_data import face_settings
from rollcall.face.match import Gallery
from rollcall.face.models import Models, get_models
from rollcall.face.pipeline import EnrolmentFace, enrol
from rollcall.platform.settings import FaceSettings


@pytest.fixture(scope="session")
def settings() -> FaceSettings:
    return face_settings()


@pytest.fixture(scope="session")
def models() -> Models:
    return get_models()


@pytest.fixture(scope="session")
def photo(faces_dir: Path) -> Callable[[str], bytes]:
    """The bytes of a photo of the shared set, by its path in the manifest."""
    return lambda path: (faces_dir / path).read_bytes()


@pytest.fixture(scope="session")
def portraits(faces_manifest: list[dict[str, str]]) -> list[dict[str, str]]:
    rows = [row for row in faces_manifest if row["kind"] == "portrait"]
    assert len(rows) >= 14  # the set the tests were written for
    return rows


@pytest.fixture(scope="session")
def enrolments(
    portraits: list[dict[str, str]], photo: Callable[[str], bytes], settings: FaceSettings, models: Models
) -> dict[str, EnrolmentFace]:
    """Every portrait enrolled once: path → EnrolmentFace."""
    return {row["path"]: enrol(photo(row["path"]), settings, models) for row in portraits}


@pytest.fixture(scope="session")
def class_gallery(portraits: list[dict[str, str]], enrolments: dict[str, EnrolmentFace]) -> Gallery:
    """Every person of people/ enrolled with all their portraits (several embeddings per student)."""
    return Gallery.from_faces((row["identities"], enrolments[row["path"]].embedding) for row in portraits)
