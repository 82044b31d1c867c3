"""Face detection with dlib's HOG frontal face detector, over a pyramid that starts where the
smallest face asked for (``FACE_DETECT_MIN_PX``, 40 by default) becomes detectable.

The detector slides an 80x80 window over an image pyramid (each level 5/6 of the one above), so
at a photo's own size it finds faces from about 64-80 px. face_recognition upsamples every photo
2x first (``number_of_times_to_upsample=1``), reaching faces of about 40 px at 4x the pixels: on
a 12 MP phone photo that is a 48 MP scan (about 11 s here). Back-row faces of a class photo are
40-80 px wide, so scanning a large photo at its own size (as before) lost them.

The rule here (:func:`scan_scale`): the photo is scaled by ``80 / FACE_DETECT_MIN_PX`` (2x for
40 px), but so that the top of the pyramid has at most ``FACE_DETECT_MAX_PIXELS`` (35 MP); the
scale is a continuous function of the photo's size, so a 0.99 MP photo and a 1.01 MP one cost the
same (the old rule, upsampling only photos under 1 MP, made the smaller one cost twice as much).

- A 12 MP photo is scanned at 1.69x: measured on generated class photos, 40 px faces are all
  found from 1.7x up (6 of 8 at 1.4x), as at 2x; the scan costs 0.72x of face_recognition's.
  Photos up to 8.75 MP get the full 2x (the PASCAL VOC photos' 37-90 px faces need it: 43 of 43
  at 2x, 36-39 at 1.6-1.8x).
- The scan is of the grayscale photo (dlib takes the strongest gradient of the three channels
  otherwise): cheaper, and on the VOC photos it finds as many faces (38 vs 36 at 1.7x).
- A scan over ``SPLIT_MIN_PIXELS`` is split in two horizontal halves that overlap by
  ``OVERLAP`` px, run on ``FACE_DETECT_WORKERS`` threads (dlib releases the GIL while it scans),
  plus a coarse scan of the whole photo at ``WINDOW / OVERLAP`` of the scale for faces too tall
  for the overlap, which a cut could split. Overlapping detections (IoU over ``NMS_IOU``) keep
  the highest score.
- Photos over ``FACE_MAX_SIDE`` (4096) are downscaled before detection (:mod:`image`).

``FACE_DETECT_THRESHOLD`` is added to the detector's score threshold (dlib's
``adjust_threshold``); 0 is face_recognition's. On the VOC photos -0.3 finds nothing more and
adds a false face, so the default stays 0.

Boxes are clipped to the image; whether the detector's box reached past the edge is kept
(``cut_by_edge``: a face cut by the edge aligns and encodes worse), and the unclipped
rectangle is what the landmark predictor gets.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from rollcall.face.models import Models
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


WINDOW = 80  # the detector's window (px): the smallest face it finds at a pyramid level
SPLIT_MIN_PIXELS = 2_000_000  # scans larger than this are split across threads
OVERLAP = 400  # px of the scan shared by its two halves: a face box this tall is whole in one
NMS_IOU = 0.3  # detections overlapping more than this are one face


def scan_scale(width: int, height: int, settings: FaceSettings) -> float:
    """How much a photo of this size is scaled before detection (see the module docstring)."""
    wanted = WINDOW / settings.face_detect_min_px
    budget = math.sqrt(settings.face_detect_max_pixels / max(1, width * height))
    return max(min(wanted, budget), min(1.0, wanted))


Rect = tuple[float, float, float, float, float]  # left, top, right, bottom (inclusive), score


def _run(
    models: Models, gray: NDArray[np.uint8], threshold: float, dy: int = 0, factor: float = 1.0
) -> list[Rect]:
    rects, scores, _ = models.detector.run(gray, 0, threshold)  # this thread's own detector
    return [
        (r.left() * factor, (r.top() + dy) * factor, r.right() * factor, (r.bottom() + dy) * factor, float(s))
        for r, s in zip(rects, scores, strict=True)
    ]


def _iou(a: Rect, b: Rect) -> float:
    across = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    down = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = across * down
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _nms(rects: list[Rect]) -> list[Rect]:
    kept: list[Rect] = []
    for rect in sorted(rects, key=lambda r: -r[4]):
        if all(_iou(rect, other) <= NMS_IOU for other in kept):
            kept.append(rect)
    return kept


def scan(gray: NDArray[np.uint8], models: Models, threshold: float, workers: int) -> list[Rect]:
    """Every face of a grayscale image (rects in its pixels), its scan split in two if large."""
    from PIL import Image

    height, width = gray.shape[:2]
    if width * height <= SPLIT_MIN_PIXELS or height <= 2 * OVERLAP:
        return _run(models, gray, threshold)
    middle = height // 2
    top, bottom = gray[: middle + OVERLAP // 2], gray[middle - OVERLAP // 2 :]
    shrink = WINDOW / OVERLAP  # a face taller than the overlap is at least a window tall here
    small = Image.fromarray(gray).resize(
        (max(1, round(width * shrink)), max(1, round(height * shrink))), Image.Resampling.BILINEAR
    )
    import numpy as np

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        jobs = [
            pool.submit(_run, models, top, threshold),
            pool.submit(_run, models, bottom, threshold, middle - OVERLAP // 2),
            pool.submit(_run, models, np.asarray(small), threshold, 0, 1 / shrink),
        ]
        found = [rect for job in jobs for rect in job.result()]
    return _nms(found)


def detect_faces(rgb: NDArray[np.uint8], models: Models, settings: FaceSettings) -> list[Detection]:
    """Every face in an RGB array, left to right (each thread scans with its own ``models.detector``)."""
    import numpy as np
    from PIL import Image

    height, width = rgb.shape[:2]
    scale = scan_scale(width, height, settings)
    gray_image = Image.fromarray(rgb).convert("L")
    if scale != 1.0:
        gray_image = gray_image.resize(
            (max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.BILINEAR
        )
    gray = np.asarray(gray_image)
    found = scan(gray, models, settings.face_detect_threshold, settings.face_detect_workers)
    detections = []
    for rect in found:
        left, top = round(rect[0] / scale), round(rect[1] / scale)
        right, bottom = round((rect[2] + 1) / scale), round((rect[3] + 1) / scale)
        box = Box(top=max(top, 0), right=min(right, width), bottom=min(bottom, height), left=max(left, 0))
        if box.width <= 0 or box.height <= 0:
            continue
        cut = (left, top, right, bottom) != (box.left, box.top, box.right, box.bottom)
        detections.append(Detection(box, (left, top, right - 1, bottom - 1), rect[4], cut))
    return sorted(detections, key=lambda d: (d.box.left, d.box.top))
