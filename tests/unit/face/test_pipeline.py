"""Enrolment and marking on the real photos, and every enrolment error from a real bad input."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image, ImageFilter

from bench.faces_data import face_settings
from rollcall.face.annotate import COLOURS, annotate
from rollcall.face.match import FaceStatus, Gallery, Unmatched, match_faces
from rollcall.face.models import Models
from rollcall.face.pipeline import EnrolmentFace, analyse, enrol, ensure_not_duplicate, mark, search
from rollcall.platform.errors import (
    DuplicateFace,
    FaceTooSmall,
    ImageTooLarge,
    InvalidImageEncoding,
    LowQuality,
    MultipleFaces,
    NoFace,
    RollcallError,
    UnsupportedImage,
)
from rollcall.platform.settings import FaceSettings

from .support import image_bytes, pil, png_declaring

pytestmark = pytest.mark.face

OBAMA = "people/barack_obama/obama.jpg"
Photo = Callable[[str], bytes]


def distance(a: EnrolmentFace, b: EnrolmentFace) -> float:
    return float(np.linalg.norm(a.embedding - b.embedding))


# --- enrolment --------------------------------------------------------------------------------------


def test_every_portrait_enrols_one_face(enrolments: dict[str, EnrolmentFace]) -> None:
    for path, face in enrolments.items():
        assert face.embedding.shape == (128,), path
        assert face.embedding.dtype == np.float32
        assert face.quality.width_px >= 80
        assert len(face.photo_hash) == 64
        assert set(face.timings) >= {"decode", "detect", "encode", "total"}


def test_same_person_is_close_and_different_people_are_far(
    portraits: list[dict[str, str]], enrolments: dict[str, EnrolmentFace], settings: FaceSettings
) -> None:
    # Given every pair of portraits
    same: list[float] = []
    different: list[float] = []
    for a, b in itertools.combinations(portraits, 2):
        d = distance(enrolments[a["path"]], enrolments[b["path"]])
        (same if a["identities"] == b["identities"] else different).append(d)
    # Then the bounds measured with face_recognition hold for ours (README: same ≤ 0.53, different ≥ 0.66):
    # one person's photos are never unknown to each other, two people are never even uncertain
    assert len(same) >= 14
    assert max(same) <= 0.53
    assert min(different) >= 0.66
    assert max(same) < settings.face_uncertain_threshold < min(different)
    # and most same-person pairs are within the confident threshold (all but alex-lacamoire.png's)
    assert sum(d <= settings.face_confident_threshold for d in same) >= len(same) - 2


def test_each_portrait_is_recognised_among_everyone_elses(
    portraits: list[dict[str, str]], enrolments: dict[str, EnrolmentFace], settings: FaceSettings
) -> None:
    # Given a class of everyone's other portraits (several per person) and one portrait held out
    thresholds = settings.face_confident_threshold, settings.face_uncertain_threshold
    for held_out in portraits:
        others = [(r["identities"], enrolments[r["path"]].embedding) for r in portraits if r is not held_out]
        if held_out["identities"] not in {who for who, _ in others}:
            continue  # a person with one photo cannot be recognised from nothing
        gallery = Gallery.from_faces(others)
        # When the held-out photo is matched
        (match,) = match_faces(enrolments[held_out["path"]].embedding, gallery, *thresholds)
        # Then it is that person, never somebody else
        assert match.student_id == held_out["identities"], held_out["path"]
        assert match.status in (FaceStatus.PRESENT, FaceStatus.UNCERTAIN)


def test_enrolment_accepts_base64(photo: Photo, settings: FaceSettings, models: Models) -> None:
    from_bytes = enrol(photo(OBAMA), settings, models)
    from_text = enrol(base64.b64encode(photo(OBAMA)).decode(), settings, models)
    assert from_text.photo_hash == from_bytes.photo_hash
    assert np.array_equal(from_text.embedding, from_bytes.embedding)


def test_a_heic_portrait_enrols_as_its_jpeg_does(
    photo: Photo, settings: FaceSettings, models: Models, enrolments: dict[str, EnrolmentFace]
) -> None:
    import io

    import pillow_heif

    # Given obama.jpg saved as HEIC here / When it is enrolled
    heic = io.BytesIO()
    pillow_heif.from_pillow(pil(photo(OBAMA))).save(heic, quality=90)
    face = enrol(heic.getvalue(), settings, models)
    # Then the same face, its embedding within 0.1 of the JPEG's (a re-encoded photo)
    assert face.box.iou(enrolments[OBAMA].box) > 0.9
    assert distance(face, enrolments[OBAMA]) < 0.1


def test_exif_rotated_portrait_still_enrols(
    photo: Photo,
    settings: FaceSettings,
    models: Models,
    enrolments: dict[str, EnrolmentFace],
) -> None:
    # Given obama.jpg stored sideways with EXIF orientation 8 (rotate 90° counter-clockwise to view)
    exif = Image.Exif()
    exif[0x0112] = 8
    data = image_bytes(pil(photo(OBAMA)).transpose(Image.Transpose.ROTATE_270), "JPEG", exif=exif.tobytes())
    # When enrolled / Then one face, upright (the box is where the unrotated one is), same person
    face = enrol(data, settings, models)
    upright = enrolments[OBAMA]
    assert abs(face.box.top - upright.box.top) < 10
    assert abs(face.box.left - upright.box.left) < 10
    assert distance(face, upright) < 0.1


@pytest.mark.parametrize(
    ("path", "cut"),
    [
        ("edge/obama_small.jpg", False),
        ("edge/32bit.png", False),
        ("edge/obama_partial_face.jpg", True),
        ("edge/obama_partial_face2.jpg", True),
    ],
)
def test_edge_photos_enrol_as_obama(
    photo: Photo,
    settings: FaceSettings,
    models: Models,
    class_gallery: Gallery,
    path: str,
    cut: bool,
) -> None:
    # Given a small, an RGBA and two cut-off photos of Obama / When enrolled
    face = enrol(photo(path), settings, models)
    # Then one face inside the photo, flagged when cut, recognised as Obama
    width, height = pil(photo(path)).size
    assert 0 <= face.box.left < face.box.right <= width
    assert 0 <= face.box.top < face.box.bottom <= height
    assert face.quality.cut_by_edge is cut
    student, d = class_gallery.nearest_other(face.embedding)  # type: ignore[misc]
    assert student == "barack_obama"
    assert d <= settings.face_uncertain_threshold


# --- enrolment errors, each from a real bad input ------------------------------------------------------


def blurred(data: bytes, radius: float) -> bytes:
    return image_bytes(pil(data).filter(ImageFilter.GaussianBlur(radius)), "JPEG", quality=95)


def shrunk(data: bytes, factor: float) -> bytes:
    img = pil(data)
    size = (round(img.width * factor), round(img.height * factor))
    return image_bytes(img.resize(size), "JPEG", quality=95)


BAD_INPUTS: list[tuple[str, Callable[[Photo], str | bytes], type[RollcallError], int]] = [
    ("not base64", lambda p: "%%% not base64 %%%", InvalidImageEncoding, 400),
    ("6 MB", lambda p: _six_megabytes(), ImageTooLarge, 413),
    ("bomb", lambda p: _bomb_png(), ImageTooLarge, 413),
    ("text", lambda p: b"just some text, not a photo\n" * 10, UnsupportedImage, 415),
    ("gif", lambda p: image_bytes(pil(p(OBAMA)), "GIF"), UnsupportedImage, 415),
    ("bmp", lambda p: image_bytes(pil(p(OBAMA)), "BMP"), UnsupportedImage, 415),
    ("dogs", lambda p: p("noface/dogs.jpg"), NoFace, 422),
    ("group", lambda p: p("groups/two_people.jpg"), MultipleFaces, 422),
    ("tiny face", lambda p: shrunk(p(OBAMA), 0.25), FaceTooSmall, 422),
    ("blurred", lambda p: blurred(p(OBAMA), 6), LowQuality, 422),
]


def _six_megabytes() -> bytes:
    noise = np.random.default_rng(0).integers(0, 256, (1450, 1450, 3), dtype=np.uint8)
    return image_bytes(Image.fromarray(noise), "PNG", compress_level=1)


def _bomb_png() -> bytes:
    return png_declaring(20_000, 20_000)


@pytest.mark.parametrize(("name", "make", "error", "status"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_each_bad_enrolment_input_gets_its_4xx(
    photo: Photo,
    settings: FaceSettings,
    models: Models,
    name: str,
    make: Callable[[Photo], str | bytes],
    error: type[RollcallError],
    status: int,
) -> None:
    with pytest.raises(error) as e:
        enrol(make(photo), settings, models)
    assert e.value.status == status
    assert e.value.body()["code"] == error.code
    # a detail is a sentence, or a message with the numbers behind it (never a detail in a detail)
    detail = e.value.body()["detail"]
    assert isinstance(detail, str) or (isinstance(detail.get("message"), str) and "detail" not in detail)


def test_multiple_faces_says_how_many(photo: Photo, settings: FaceSettings, models: Models) -> None:
    with pytest.raises(MultipleFaces) as e:
        enrol(photo("groups/test_obama_and_biden.jpg"), settings, models)
    assert e.value.detail["faces"] == 3


def test_blur_threshold_passes_mild_blur_and_refuses_strong(
    photo: Photo, settings: FaceSettings, models: Models
) -> None:
    # Given obama.jpg blurred with increasing radius: sharpness falls; radius 2 still enrols, 4 does not
    assert enrol(blurred(photo(OBAMA), 2), settings, models).quality.sharpness >= settings.face_blur_threshold
    with pytest.raises(LowQuality) as e:
        enrol(blurred(photo(OBAMA), 4), settings, models)
    assert e.value.detail["sharpness"] < settings.face_blur_threshold


def test_same_person_for_another_student_is_a_duplicate(
    photo: Photo,
    settings: FaceSettings,
    models: Models,
    enrolments: dict[str, EnrolmentFace],
) -> None:
    # Given Biden enrolled as student "joe", and the same face (from two_people.jpg) enrolled for "mallory"
    gallery = Gallery.from_faces([("joe", enrolments["people/joe_biden/biden.jpg"].embedding)])
    analysis = analyse(photo("groups/two_people.jpg"), settings, models)
    biden_face = min(analysis.faces, key=lambda f: float(gallery.distances(f.embedding)[0, 0]))
    # When checked for duplicates / Then 409 DUPLICATE_FACE, without naming the other student
    with pytest.raises(DuplicateFace) as e:
        ensure_not_duplicate(biden_face.embedding, gallery, "mallory", settings)
    assert e.value.status == 409
    assert "joe" not in str(e.value.detail)
    assert set(e.value.detail) == {"message", "distance", "threshold"}
    assert e.value.detail["distance"] <= e.value.detail["threshold"] == settings.face_confident_threshold
    # unless the caller may know (staff looking for the duplicate record)
    with pytest.raises(DuplicateFace) as named:
        ensure_not_duplicate(biden_face.embedding, gallery, "mallory", settings, name_the_other=True)
    assert named.value.detail["student_id"] == "joe"
    # and enrolling it again for "joe" is not a duplicate
    ensure_not_duplicate(biden_face.embedding, gallery, "joe", settings)


# --- marking ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected_present", "unknown"),
    [
        ("groups/two_people.jpg", {"barack_obama", "joe_biden"}, 0),
        ("groups/test_obama_and_biden.jpg", {"barack_obama", "joe_biden"}, 1),
        ("groups/test_kit_with_rose.jpg", {"kit_harington", "rose_leslie"}, 0),
        ("noface/dogs.jpg", set(), 0),
    ],
)
def test_group_photos_mark_the_right_people(
    photo: Photo,
    settings: FaceSettings,
    models: Models,
    class_gallery: Gallery,
    path: str,
    expected_present: set[str],
    unknown: int,
) -> None:
    # Given the class of everyone in people/ / When a group photo is analysed and marked
    analysis = analyse(photo(path), settings, models)
    matches = mark(analysis, class_gallery, settings)
    # Then exactly the people in it are present, the others unknown (and why), nobody wrongly present
    assert {m.student_id for m in matches if m.status is FaceStatus.PRESENT} == expected_present
    assert sum(m.status is FaceStatus.UNKNOWN for m in matches) == unknown
    assert all(
        (m.reason is Unmatched.NO_STUDENT_WITHIN_THRESHOLD) == (m.status is FaceStatus.UNKNOWN)
        for m in matches
    )
    assert len(matches) == len(expected_present) + unknown
    assert set(analysis.timings) >= {"decode", "detect", "encode", "total"}


def test_bald_guys_are_not_mistaken_for_enrolled_students(
    photo: Photo, settings: FaceSettings, models: Models, class_gallery: Gallery
) -> None:
    # Given 24 look-alike strangers / When marked against the class / Then all found, none present
    matches = mark(analyse(photo("groups/bald_guys.jpg"), settings, models), class_gallery, settings)
    assert len(matches) == 24
    assert not any(m.status is FaceStatus.PRESENT for m in matches)


def test_boxes_are_in_the_photos_pixels_when_downscaled(
    photo: Photo, models: Models, class_gallery: Gallery
) -> None:
    # Given a setting that halves test_obama_and_biden.jpg (2000 px) for detection
    full = analyse(photo("groups/test_obama_and_biden.jpg"), face_settings(), models)
    half = analyse(photo("groups/test_obama_and_biden.jpg"), face_settings(face_max_side=1000), models)
    # Then the same faces, at the same place in the photo's own pixels (HOG boxes snap to its pyramid)
    assert half.image.scale == pytest.approx(0.5)
    assert len(half.faces) == len(full.faces) == 3
    for face in full.faces:
        assert max(face.box.iou(other.box) for other in half.faces) >= 0.6


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (OBAMA, set()),
        ("edge/obama_partial_face.jpg", {"EXCESSIVE_CUT"}),
        ("groups/2008_007676.jpg", {"SMALL_BOUNDING_BOX"}),  # faces of 37-53 px, sharp enough
        ("blurred", {"LOW_SHARPNESS"}),  # obama.jpg blurred (radius 6)
    ],
)
def test_marked_faces_name_their_quality_issues_without_changing_their_status(
    photo: Photo,
    settings: FaceSettings,
    models: Models,
    class_gallery: Gallery,
    path: str,
    expected: set[str],
) -> None:
    # Given a good portrait, a face cut by the edge, a photo of small faces, a blurred face / When marked
    analysis = analyse(blurred(photo(OBAMA), 6) if path == "blurred" else photo(path), settings, models)
    matches = mark(analysis, class_gallery, settings)
    # Then each issue is named on the faces it applies to, and only there
    assert set().union(*(m.quality_issues for m in matches)) == expected
    for face, m in zip(analysis.faces, matches, strict=True):
        assert ("SMALL_BOUNDING_BOX" in m.quality_issues) == (min(face.box.width, face.box.height) < 80)
        assert ("LOW_SHARPNESS" in m.quality_issues) == (
            face.quality.sharpness < settings.face_blur_threshold
        )
        assert ("EXCESSIVE_CUT" in m.quality_issues) == face.quality.cut_by_edge
    # and the status is the distance's alone: Obama's cut face is still Obama, present
    if path.startswith("edge/"):
        assert [(m.student_id, m.status) for m in matches] == [("barack_obama", FaceStatus.PRESENT)]


# --- search -------------------------------------------------------------------------------------------


def test_search_finds_the_person_among_the_class(
    photo: Photo, settings: FaceSettings, models: Models, class_gallery: Gallery
) -> None:
    # Given the class of everyone in people/ / When a held-in portrait of Obama is searched for 3
    result = search(photo("people/barack_obama/obama2.jpg"), class_gallery, settings, 3, models)
    # Then Obama first, confidently, then two others far below; nearest first
    first, *others = result.candidates
    assert (first.student_id, first.status, result.face_count) == ("barack_obama", FaceStatus.PRESENT, 1)
    assert first.similarity >= 0.72
    assert len(others) == 2 and all(c.similarity <= 0.31 and c.status is FaceStatus.UNKNOWN for c in others)
    assert [c.distance for c in result.candidates] == sorted(c.distance for c in result.candidates)
    assert set(result.timings) >= {"decode", "detect", "encode", "match"}


def test_search_uses_the_largest_face_and_needs_one(
    photo: Photo, settings: FaceSettings, models: Models, class_gallery: Gallery
) -> None:
    # Given a photo of three faces / When searched
    result = search(photo("groups/test_obama_and_biden.jpg"), class_gallery, settings, 50, models)
    faces = analyse(photo("groups/test_obama_and_biden.jpg"), settings, models).faces
    # Then the largest face is the one searched, and every student is ranked
    assert result.face_count == 3
    assert result.face.box == max((f.box for f in faces), key=lambda b: b.width * b.height)
    assert len(result.candidates) == len(class_gallery)
    # A photo without a face is NO_FACE; an empty class has no candidates
    with pytest.raises(NoFace):
        search(photo("noface/dogs.jpg"), class_gallery, settings, 5, models)
    assert search(photo(OBAMA), Gallery.from_faces([]), settings, 5, models).candidates == []


def test_annotated_photo_draws_each_status_colour(
    photo: Photo, settings: FaceSettings, models: Models, class_gallery: Gallery
) -> None:
    # Given the marked Obama-and-Biden photo (two present, one unknown)
    analysis = analyse(photo("groups/test_obama_and_biden.jpg"), settings, models)
    matches = mark(analysis, class_gallery, settings)
    # When annotated
    jpeg = annotate(analysis.image, matches, {"barack_obama": "Barack Obama"})
    # Then a JPEG of the photo's size, with each box's edge in its status colour
    drawn = pil(jpeg)
    assert (drawn.format, drawn.size) == ("JPEG", (analysis.image.width, analysis.image.height))
    pixels = np.asarray(drawn).astype(int)
    for m in matches:
        edge = pixels[m.box.top + (m.box.bottom - m.box.top) // 2, m.box.left + 1]
        assert np.abs(edge - COLOURS[m.status]).max() < 60, (m.status, edge)


def test_results_serialise_without_embeddings(
    photo: Photo, settings: FaceSettings, models: Models, class_gallery: Gallery
) -> None:
    analysis = analyse(photo("groups/two_people.jpg"), settings, models)
    (first, _) = mark(analysis, class_gallery, settings)
    body = first.as_dict()
    assert set(body) == {"box", "student_id", "distance", "status", "reason", "quality", "quality_issues"}
    assert set(body["box"]) == {"top", "right", "bottom", "left"}
    assert "embedding" not in repr(analysis.faces[0])


def test_concurrent_requests_in_one_process_get_the_same_answers(
    photo: Photo, settings: FaceSettings, models: Models
) -> None:
    # Given four photos analysed one after the other
    from concurrent.futures import ThreadPoolExecutor

    paths = ["groups/bald_guys.jpg", "groups/2008_002079.jpg", "groups/two_people.jpg", OBAMA]
    expected = [[f.box for f in analyse(photo(p), settings, models).faces] for p in paths]
    # When they are analysed on four threads at once, twice (dlib's detector releases the GIL)
    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(lambda p: [f.box for f in analyse(photo(p), settings, models).faces], paths * 2)
        )
    # Then the same faces (one shared detector would crash the process here)
    assert results == expected * 2


def test_jittered_encoding_uses_dlibs_encoder_and_stays_close(
    photo: Photo, models: Models, enrolments: dict[str, EnrolmentFace]
) -> None:
    # Given FACE_NUM_JITTERS=3 / When obama.jpg is enrolled
    jittered = enrol(photo(OBAMA), face_settings(face_num_jitters=3), models)
    # Then an embedding near the plain one (jitter averages small random shifts, rotations and flips)
    assert 0 < distance(jittered, enrolments[OBAMA]) < 0.2
