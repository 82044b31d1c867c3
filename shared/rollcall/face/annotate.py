"""The marked photo for the teacher: each face boxed and named, coloured by status.

Green: present; amber: uncertain (to review); red: unknown. Drawn on the working copy of the
photo (the one faces were detected on), as JPEG. Line width and text size follow the photo's
size so that labels stay readable on a 4000 px photo and do not cover faces on a 400 px one.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rollcall.face.status import FaceStatus

if TYPE_CHECKING:
    from PIL import Image

    from rollcall.face.detect import Box
    from rollcall.face.image import DecodedImage
    from rollcall.face.pipeline import FaceMatch

COLOURS = {
    FaceStatus.PRESENT: (46, 160, 67),
    FaceStatus.UNCERTAIN: (230, 160, 0),
    FaceStatus.UNKNOWN: (210, 40, 40),
}


def annotate(
    image: DecodedImage,
    matches: Sequence[FaceMatch],
    names: Mapping[str, str] | None = None,
    quality: int = 85,
) -> bytes:
    """JPEG bytes of the photo with every match's box and label (``names``: student id → name)."""
    from PIL import Image

    canvas = Image.fromarray(image.rgb)
    labelled = [
        (m.box.scaled(image.scale), m.status, _label(m.student_id, m.status, names or {})) for m in matches
    ]
    return _drawn(canvas, labelled, quality)


def annotate_original(
    data: bytes,
    faces: Sequence[Mapping[str, Any]],
    names: Mapping[str, str] | None = None,
    quality: int = 85,
) -> bytes:
    """JPEG bytes of the photo ``data`` (decoded before) at its own size, upright, with every face
    of a marking's answer (``box`` in the photo's pixels, ``status``, ``student_id``) boxed and
    labelled."""
    from PIL import Image, ImageOps

    from rollcall.face.detect import Box
    from rollcall.face.image import _register_heif

    _register_heif()
    with Image.open(io.BytesIO(data)) as img:
        canvas = ImageOps.exif_transpose(img).convert("RGB")
    labelled = []
    for face in faces:
        status = FaceStatus(face["status"])
        box = Box(**{k: int(face["box"][k]) for k in ("top", "right", "bottom", "left")})
        labelled.append((box, status, _label(face.get("student_id"), status, names or {})))
    return _drawn(canvas, labelled, quality)


def _drawn(canvas: Image.Image, labelled: Sequence[tuple[Box, FaceStatus, str]], quality: int) -> bytes:
    from PIL import ImageDraw, ImageFont

    draw = ImageDraw.Draw(canvas)
    longest = max(canvas.size)
    line = max(2, longest // 400)
    font = ImageFont.load_default(size=max(12, longest // 60))
    for box, status, label in labelled:
        colour = COLOURS[status]
        draw.rectangle((box.left, box.top, box.right - 1, box.bottom - 1), outline=colour, width=line)
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        pad = line
        y = (
            box.bottom
            if box.bottom + bottom - top + 2 * pad <= canvas.height
            else max(0, box.top - bottom - 2 * pad)
        )
        draw.rectangle(
            (box.left, y, box.left + right - left + 2 * pad, y + bottom - top + 2 * pad), fill=colour
        )
        draw.text((box.left + pad - left, y + pad - top), label, fill=(255, 255, 255), font=font)
    out = io.BytesIO()
    canvas.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def _label(student_id: str | None, status: FaceStatus, names: Mapping[str, str]) -> str:
    if student_id is None:
        return "unknown"
    name = names.get(student_id, student_id)
    return name if status is FaceStatus.PRESENT else f"{name}?"
