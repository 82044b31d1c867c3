"""Per-face quality, and the checks an enrolment photo must pass.

Measured on the aligned 150x150 chip the embedding is computed from, so every face is measured
at the same scale whatever its size in the photo, on the inner 100x100 (the face itself; the
chip's outer quarter is hair and background):

- ``sharpness``: variance of the Laplacian of the gray chip. Calibrated on the shared photos:
  every portrait in people/ measures 76 or more (obama3.jpg 77, lin-manuel-miranda.png 76),
  obama.jpg measures 1146, and after a Gaussian blur of radius 2, 3, 4, 6, 8: 58, 23, 11, 3.2,
  1.7; the blurred embeddings move 0.13, 0.21, 0.29, 0.42, 0.51 from the sharp one (0.5 is the
  confident threshold). ``FACE_BLUR_THRESHOLD`` = 15, about the geometric mean of 76 and 3.2,
  refuses radius 4 and beyond and accepts every portrait with a margin of 5x.
- ``brightness``: mean gray level of the face, 0-255 (reported, not enforced).
- ``face_area_ratio``: the box's share of the photo; ``width_px``/``height_px``: the box in the
  photo's pixels; ``cut_by_edge``: the detector's box reached past the photo's edge.

A marked face is never refused, but :func:`issues` names what makes its match less reliable,
with the names of Rekognition's UnindexedFaces reasons: ``SMALL_BOUNDING_BOX`` (under
``FACE_MIN_FACE_PX``), ``LOW_SHARPNESS`` (under ``FACE_BLUR_THRESHOLD``), ``EXCESSIVE_CUT`` (cut
by the edge). Brightness is not judged: the mean gray level of a face is as much its skin tone
as its lighting.

An enrolment face must be at least ``FACE_MIN_FACE_PX`` on its shorter side (FACE_TOO_SMALL; 80
px, the detector's own window: smaller faces exist only in upsampled photos) and at least
``FACE_BLUR_THRESHOLD`` sharp (LOW_QUALITY). A face cut by the edge is accepted: the two such
photos in edge/ encode within 0.53 of obama's other photos, as close as his whole portraits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from rollcall.platform.errors import FaceTooSmall, LowQuality

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from rollcall.face.detect import Box
    from rollcall.platform.settings import FaceSettings

_INNER = 100  # px of the 150 px chip that are the face (dlib's chip padding is 25% each side)
_GRAY = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma


@dataclass(frozen=True, slots=True)
class FaceQuality:
    face_area_ratio: float
    width_px: int
    height_px: int
    sharpness: float
    brightness: float
    cut_by_edge: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def assess(box: Box, width: int, height: int, chip: NDArray[np.uint8], cut_by_edge: bool) -> FaceQuality:
    """The quality of one face: ``box`` in the photo's pixels, ``width``/``height`` the photo's size."""
    import numpy as np

    start = (chip.shape[0] - _INNER) // 2
    face = chip[start : start + _INNER, start : start + _INNER].astype(np.float32)
    gray = face @ np.array(_GRAY, np.float32)
    laplacian = 4 * gray[1:-1, 1:-1] - gray[:-2, 1:-1] - gray[2:, 1:-1] - gray[1:-1, :-2] - gray[1:-1, 2:]
    return FaceQuality(
        face_area_ratio=round(box.width * box.height / (width * height), 4),
        width_px=box.width,
        height_px=box.height,
        sharpness=round(float(laplacian.var()), 1),
        brightness=round(float(gray.mean()), 1),
        cut_by_edge=cut_by_edge,
    )


def issues(quality: FaceQuality, settings: FaceSettings) -> list[str]:
    """What makes a face's match less reliable (see the module docstring); empty for a good face."""
    found = []
    if min(quality.width_px, quality.height_px) < settings.face_min_face_px:
        found.append("SMALL_BOUNDING_BOX")
    if quality.sharpness < settings.face_blur_threshold:
        found.append("LOW_SHARPNESS")
    if quality.cut_by_edge:
        found.append("EXCESSIVE_CUT")
    return found


def check_size(box: Box, settings: FaceSettings) -> None:
    """FACE_TOO_SMALL for an enrolment face under ``FACE_MIN_FACE_PX`` (checked before encoding it)."""
    side = min(box.width, box.height)
    if side < settings.face_min_face_px:
        raise FaceTooSmall(
            {
                "message": "the face is too small to enrol; use a closer photo",
                "face_px": side,
                "min_face_px": settings.face_min_face_px,
            }
        )


def check_sharpness(quality: FaceQuality, settings: FaceSettings) -> None:
    """LOW_QUALITY for an enrolment face blurrier than ``FACE_BLUR_THRESHOLD``."""
    if quality.sharpness < settings.face_blur_threshold:
        raise LowQuality(
            {
                "message": "the face is too blurred to enrol",
                "reason": "blurred",
                "sharpness": quality.sharpness,
                "min_sharpness": settings.face_blur_threshold,
            }
        )
