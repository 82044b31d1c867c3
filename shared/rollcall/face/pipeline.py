"""The face operations the two functions call: enrol one face, analyse a photo, mark its faces.

- :func:`enrol` (encode-face): exactly one good face, or NO_FACE, MULTIPLE_FACES,
  FACE_TOO_SMALL, LOW_QUALITY (and the decoding errors of :mod:`rollcall.face.image`); then
  :func:`ensure_not_duplicate` against the organisation's other students (DUPLICATE_FACE).
- :func:`analyse` (mark-attendance): every face of a photo with its box, embedding and quality;
  a photo with no face is a valid, empty analysis. :func:`mark` then matches them one-to-one
  to a :class:`~rollcall.face.match.Gallery` of the session's students, saying why a face is
  unknown and what makes it a poor match (:func:`rollcall.face.quality.issues`).
- :func:`search` (encode-face, like Rekognition's SearchFacesByImage): the students closest to
  the largest face of a photo, with distances and similarity scores.

Boxes are in the photo's own upright pixels. Timings (milliseconds) say where the time went:
decode, detect, encode (landmarks, alignment, network, quality). Models load once per process
on first use (:func:`rollcall.face.models.get_models`); pass ``models`` to use others.
Nothing here logs or keeps a photo or an embedding.

Importing this module imports no numpy, dlib or Pillow (0.1 s of a handler's cold start): the
modules that compute (encode, match) are imported by the functions that call them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rollcall.face.detect import Box, Detection, detect_faces
from rollcall.face.image import DecodedImage, decode_image
from rollcall.face.models import Models, get_models
from rollcall.face.quality import FaceQuality, assess, check_sharpness, check_size, issues
from rollcall.platform.errors import DuplicateFace, MultipleFaces, NoFace

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from rollcall.face.match import Gallery
    from rollcall.face.status import FaceStatus, Unmatched
    from rollcall.platform.settings import FaceSettings


@dataclass(frozen=True)
class AnalysedFace:
    box: Box
    quality: FaceQuality
    embedding: NDArray[np.float32] = field(repr=False)  # (128,)


@dataclass(frozen=True)
class GroupAnalysis:
    faces: list[AnalysedFace]
    image: DecodedImage = field(repr=False)
    timings: dict[str, float]

    @property
    def photo_hash(self) -> str:
        return self.image.sha256


@dataclass(frozen=True)
class EnrolmentFace:
    box: Box
    quality: FaceQuality
    embedding: NDArray[np.float32] = field(repr=False)  # (128,) float32
    photo_hash: str
    timings: dict[str, float]


@dataclass(frozen=True)
class FaceMatch:
    box: Box
    student_id: str | None
    distance: float | None  # to the student; for an unknown face, to the nearest student
    status: FaceStatus
    quality: FaceQuality
    reason: Unmatched | None = None  # why an unknown face is unknown
    quality_issues: tuple[str, ...] = ()  # what makes the match less reliable (quality.issues)

    def as_dict(self) -> dict[str, Any]:
        return {
            "box": self.box.as_dict(),
            "student_id": self.student_id,
            "distance": _rounded(self.distance),
            "status": str(self.status),
            "reason": None if self.reason is None else str(self.reason),
            "quality": self.quality.as_dict(),
            "quality_issues": list(self.quality_issues),
        }


@dataclass(frozen=True)
class Candidate:
    """A student close to a searched face: the distance to their closest embedding, and its score."""

    student_id: str
    distance: float
    similarity: float  # 0-1 (rollcall.face.match.similarity)
    status: FaceStatus  # what marking would make of this distance alone


@dataclass(frozen=True)
class SearchResult:
    face: AnalysedFace  # the photo's largest face, the one searched
    face_count: int  # faces found in the photo
    candidates: list[Candidate]  # nearest first
    timings: dict[str, float]


Upload = str | bytes | DecodedImage  # base64 text, raw bytes, or an already decoded photo


def enrol(image: Upload, settings: FaceSettings, models: Models | None = None) -> EnrolmentFace:
    """The one face of an enrolment photo, checked and encoded."""
    clock = _Clock()
    decoded, models, detections = _detect(image, settings, models, clock)
    if not detections:
        raise NoFace("no face found in the photo")
    if len(detections) > 1:
        raise MultipleFaces(
            {"message": "an enrolment photo must show one face", "faces": len(detections), "expected": 1}
        )
    check_size(detections[0].box.scaled(1 / decoded.scale), settings)  # before spending time encoding it
    (face,) = _describe(decoded, detections, models, settings)
    check_sharpness(face.quality, settings)
    clock.lap("encode")
    return EnrolmentFace(face.box, face.quality, face.embedding, decoded.sha256, clock.timings)


def analyse(image: Upload, settings: FaceSettings, models: Models | None = None) -> GroupAnalysis:
    """Every face of a photo (none is a valid answer), left to right."""
    clock = _Clock()
    decoded, models, detections = _detect(image, settings, models, clock)
    faces = _describe(decoded, detections, models, settings)
    clock.lap("encode")
    return GroupAnalysis(faces, decoded, clock.timings)


def mark(analysis: GroupAnalysis, gallery: Gallery, settings: FaceSettings) -> list[FaceMatch]:
    """The faces of an analysed photo matched one-to-one to the gallery's students."""
    import numpy as np

    from rollcall.face.match import match_faces

    embeddings = np.array([f.embedding for f in analysis.faces], np.float32).reshape(-1, 128)
    matches = match_faces(
        embeddings, gallery, settings.face_confident_threshold, settings.face_uncertain_threshold
    )
    return [
        FaceMatch(
            face.box,
            m.student_id,
            m.distance,
            m.status,
            face.quality,
            m.reason,
            tuple(issues(face.quality, settings)),
        )
        for face, m in zip(analysis.faces, matches, strict=True)
    ]


def search(
    image: Upload, gallery: Gallery, settings: FaceSettings, max_results: int, models: Models | None = None
) -> SearchResult:
    """The ``max_results`` students nearest to the photo's largest face (only that face is encoded).

    NO_FACE when the photo has none. Every student is a candidate, however far: the statuses
    and scores say how close (the caller filters).
    """
    import numpy as np

    from rollcall.face.match import similarity
    from rollcall.face.status import status_of

    clock = _Clock()
    decoded, models, detections = _detect(image, settings, models, clock)
    if not detections:
        raise NoFace("no face found in the photo")
    largest = max(detections, key=lambda d: d.box.width * d.box.height)
    (face,) = _describe(decoded, [largest], models, settings)
    clock.lap("encode")
    confident, uncertain = settings.face_confident_threshold, settings.face_uncertain_threshold
    distances = gallery.distances(face.embedding)[0] if len(gallery) else np.empty(0, np.float32)
    nearest = np.argsort(distances, kind="stable")[:max_results]
    scores = similarity(distances[nearest], confident, uncertain)
    candidates = [
        Candidate(
            gallery.student_ids[i],
            float(distances[i]),
            round(float(score), 1),
            status_of(float(distances[i]), confident, uncertain),
        )
        for i, score in zip(nearest, scores, strict=True)
    ]
    clock.lap("match")
    return SearchResult(face, len(detections), candidates, clock.timings)


def ensure_not_duplicate(
    embedding: NDArray[np.float32],
    gallery: Gallery,
    student_id: str,
    settings: FaceSettings,
    *,
    name_the_other: bool = False,
) -> None:
    """DUPLICATE_FACE if the face is within the confident threshold of another student's face.

    The other student is named (``student_id`` in the detail) only with ``name_the_other``:
    staff need it to find the duplicate record; a student enrolling their own face must not
    learn who else it matches.
    """
    nearest = gallery.nearest_other(embedding, exclude_student=student_id)
    if nearest is None or nearest[1] > settings.face_confident_threshold:
        return
    detail: dict[str, Any] = {
        "message": "this face matches another enrolled student",
        "distance": _rounded(nearest[1]),
        "threshold": settings.face_confident_threshold,
    }
    if name_the_other:
        detail["student_id"] = nearest[0]
    raise DuplicateFace(detail)


# --- steps ------------------------------------------------------------------------------------------


def _detect(
    image: Upload, settings: FaceSettings, models: Models | None, clock: _Clock
) -> tuple[DecodedImage, Models, list[Detection]]:
    """Decode (unless decoded: its decoding time is counted), load the models (unless given), detect."""
    if isinstance(image, DecodedImage):
        clock.add("decode", image.decode_ms)
    else:
        image = decode_image(
            image,
            max_bytes=settings.face_max_image_bytes,
            max_pixels=settings.face_max_pixels,
            max_side=settings.face_max_side,
        )
        clock.lap("decode")
    models = models or get_models(settings.face_models_dir, jitter=settings.face_num_jitters > 1)
    detections = detect_faces(image.rgb, models, settings)
    clock.lap("detect")
    return image, models, detections


def _describe(
    decoded: DecodedImage, detections: list[Detection], models: Models, settings: FaceSettings
) -> list[AnalysedFace]:
    """Embedding and quality of each detected face."""
    from rollcall.face.encode import encode, face_chips

    shapes, chips = face_chips(decoded.rgb, detections, models)
    embeddings = encode(decoded.rgb, shapes, chips, models, settings.face_num_jitters)
    faces = []
    for detection, chip, embedding in zip(detections, chips, embeddings, strict=True):
        box = detection.box.scaled(1 / decoded.scale)
        quality = assess(box, decoded.width, decoded.height, chip, detection.cut_by_edge)
        faces.append(AnalysedFace(box, quality, embedding))
    return faces


def _rounded(distance: float | None) -> float | None:
    return None if distance is None else round(distance, 4)


class _Clock:
    def __init__(self) -> None:
        self._start = self._last = time.perf_counter()
        self.timings: dict[str, float] = {}

    def add(self, name: str, ms: float) -> None:
        """A step timed before this clock started, counted in the total."""
        self._start -= ms / 1000
        self.timings[name] = ms

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round((now - self._last) * 1000, 1)
        self.timings["total"] = round((now - self._start) * 1000, 1)
        self._last = now
