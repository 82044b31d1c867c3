"""Face detection with dlib's HOG frontal face detector, upsampling only the photos that need it.

The detector slides an 80x80 window over an image pyramid (each level 5/6 of the one above), so
it finds faces from about 80 px up. face_recognition upsamples every photo 2x first
(``number_of_times_to_upsample=1``), reaching faces of about 40 px, at 4x the pixels: 0.97 s
instead of 0.22 s on the 1986x1545 ``bald_guys.jpg``, whose 24 faces are all 90 px or more.

The rule here (``FACE_UPSAMPLE_MAX_PIXELS``, ``FACE_UPSAMPLE_TIMES``): a photo of at most 1 MP
is upsampled once, a larger one is scanned at its own resolution.

- Small photos are where faces are small in pixels: the nine PASCAL VOC group photos
  (500x375) have faces of 37-90 px; upsampled, all 43 are found, as with face_recognition;
  without, 11. Upsampling 1 MP costs about as much as scanning 4 MP.
- In a larger photo a face under 80 px is a small part of it (by estimate, the back row of a
  12 MP photo of a classroom is still 80-100 px), and worth less: measured on four portraits
  shrunk until the face was 40 px, the embedding moved 0.18-0.23 from the full-size one (80 px:
  0.06-0.09), a large part of the 0.5 that separates present from not.
- Photos over ``FACE_MAX_SIDE`` (4096) are downscaled before detection (:mod:`image`): the
  pyramid's cost grows with the pixels, and a 48 MP photo's faces are large anyway.

``FACE_DETECT_THRESHOLD`` is added to the detector's score threshold (dlib's
``adjust_threshold``); 0 is face_recognition's. On the VOC photos -0.3 finds nothing more and
adds a false face, so the default stays 0.

Boxes are clipped to the image; whether the detector's box reached past the edge is kept
(``cut_by_edge``: a face cut by the edge aligns and encodes worse), and the unclipped
rectangle is what the landmark predictor gets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from rollcall.platform.settings import FaceSettings


@dataclass(frozen=True, slots=True)
class Box:
    """A face's box in pixels, face_recognition's (top, right, bottom, left) order; right/bottom exclusive."""

    top: int
    right: int
    bottom: int
    left: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    def scaled(self, factor: float) -> Box:
        return Box(
            top=round(self.top * factor),
            right=round(self.right * factor),
            bottom=round(self.bottom * factor),
            left=round(self.left * factor),
        )

    def iou(self, other: Box) -> float:
        """Intersection over union: how much two boxes are the same face."""
        across = max(0, min(self.right, other.right) - max(self.left, other.left))
        down = max(0, min(self.bottom, other.bottom) - max(self.top, other.top))
        union = self.width * self.height + other.width * other.height - across * down
        return across * down / union if union else 0.0

    def as_dict(self) -> dict[str, int]:
        return {"top": self.top, "right": self.right, "bottom": self.bottom, "left": self.left}


@dataclass(frozen=True, slots=True)
class Detection:
    box: Box  # clipped to the image
    rect: tuple[int, int, int, int]  # the detector's own (left, top, right, bottom), maybe past the edges
    score: float
    cut_by_edge: bool


def upsample_times(width: int, height: int, settings: FaceSettings) -> int:
    """How many times to upsample a photo of this size before detection (see the module docstring)."""
    return settings.face_upsample_times if width * height <= settings.face_upsample_max_pixels else 0


def detect_faces(rgb: NDArray[np.uint8], detector: Any, settings: FaceSettings) -> list[Detection]:
    """Every face in an RGB array, left to right."""
    height, width = rgb.shape[:2]
    rects, scores, _ = detector.run(
        rgb, upsample_times(width, height, settings), settings.face_detect_threshold
    )
    detections = []
    for rect, score in zip(rects, scores, strict=True):
        left, top, right, bottom = rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1
        box = Box(top=max(top, 0), right=min(right, width), bottom=min(bottom, height), left=max(left, 0))
        if box.width <= 0 or box.height <= 0:
            continue
        cut = (left, top, right, bottom) != (box.left, box.top, box.right, box.bottom)
        detections.append(Detection(box, (left, top, right - 1, bottom - 1), float(score), cut))
    return sorted(detections, key=lambda d: (d.box.left, d.box.top))
