"""Small faces in phone-sized photos: the generated 12 MP class photos, and the scan's scale."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.faces_data import face_settings, found
from rollcall.face.detect import scan_scale
from rollcall.face.match import Gallery
from rollcall.face.models import Models
from rollcall.face.pipeline import analyse
from rollcall.platform.settings import FaceSettings
from testkit.class_photos import FACE_WIDTHS, PHONE, GeneratedPhoto, class_photo

pytestmark = pytest.mark.face


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory, faces_dir: Path) -> GeneratedPhoto:
    """One generated 4032 x 3024 class photo (8 faces of each width), in a temporary folder."""
    return class_photo(tmp_path_factory.mktemp("class_photos"), faces_dir, seed=1)


def test_the_generator_is_deterministic_by_seed(tmp_path: Path, faces_dir: Path) -> None:
    # Given a seed / When the photo is generated twice into two folders
    a = class_photo(tmp_path / "a", faces_dir, seed=3, per_size=2, size=(1600, 1200), widths=(40, 80))
    b = class_photo(tmp_path / "b", faces_dir, seed=3, per_size=2, size=(1600, 1200), widths=(40, 80))
    other = class_photo(tmp_path / "c", faces_dir, seed=4, per_size=2, size=(1600, 1200), widths=(40, 80))
    # Then the same bytes and the same boxes; another seed places them elsewhere
    assert a.path.read_bytes() == b.path.read_bytes() and a.faces == b.faces
    assert other.boxes() != a.boxes()
    # and every face has the asked width, inside the photo
    assert sorted(f.box.width for f in a.faces) == [40, 40, 80, 80]
    assert all(
        f.box.left >= 0 and f.box.right <= 1600 and f.box.top >= 0 and f.box.bottom <= 1200 for f in a.faces
    )


@pytest.mark.slow
def test_every_face_from_40_px_is_found_in_a_12_mp_photo(
    generated: GeneratedPhoto, settings: FaceSettings, models: Models, class_gallery: Gallery
) -> None:
    # Given a 12 MP class photo with 8 faces at each of 40, 48, 64, 80, 112 and 160 px
    assert generated.path.stat().st_size > 1_000_000
    # When it is analysed
    analysis = analyse(generated.path.read_bytes(), settings, models)
    # Then every face of every width is found, and nothing else
    assert (analysis.image.width, analysis.image.height) == PHONE
    boxes = [f.box for f in analysis.faces]
    for width in FACE_WIDTHS:
        assert found(generated.boxes(width), boxes)[0] == 8, width
    assert found(generated.boxes(), boxes) == (48, 0)
    # and each face is encoded where it was found: from 80 px, the nearest student is the person
    for face in generated.faces:
        if face.width >= 80:
            analysed = max(analysis.faces, key=lambda f: face.box.iou(f.box))
            distances = class_gallery.distances(analysed.embedding)[0]
            assert class_gallery.student_ids[int(distances.argmin())] == face.identity, face


def test_the_scan_scale_follows_the_smallest_face_and_has_no_cliff() -> None:
    settings = face_settings()
    # A photo up to 8.75 MP is scanned at 2x (80 px window / 40 px faces)
    assert scan_scale(500, 375, settings) == 2.0
    assert scan_scale(1986, 1545, settings) == 2.0
    # a 12 MP one at the scale that keeps the scan within 35 MP
    assert scan_scale(4032, 3024, settings) == pytest.approx(1.694, abs=0.001)
    # 0.99 MP and 1.01 MP are scanned alike (the old rule upsampled only the first)
    assert scan_scale(1148, 862, settings) == scan_scale(1160, 871, settings) == 2.0
    # asking for larger faces only scans less
    assert scan_scale(4032, 3024, face_settings(face_detect_min_px=80)) == 1.0
    assert scan_scale(4032, 3024, face_settings(face_detect_min_px=160)) == 0.5
