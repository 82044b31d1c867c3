"""The marked photo for the teacher: each face boxed and named, coloured by status.

Green: present; amber: uncertain (to review); red: unknown. Drawn on the working copy of the
photo (the one faces were detected on), as JPEG. Line width and text size follow the photo's
size so that labels stay readable on a 4000 px photo and do not cover faces on a 400 px one.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from rollcall.face.status import FaceStatus

if TYPE_CHECKING:
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
    from PIL import Image, ImageDraw, ImageFont

    canvas = Image.fromarray(image.rgb)
    draw = ImageDraw.Draw(canvas)
    longest = max(canvas.size)
    line = max(2, longest // 400)
    font = ImageFont.load_default(size=max(12, longest // 60))
    for match in matches:
        box = match.box.scaled(image.scale)
        colour = COLOURS[match.status]
        draw.rectangle((box.left, box.top, box.right - 1, box.bottom - 1), outline=colour, width=line)
        label = _label(match, names or {})
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


def _label(match: FaceMatch, names: Mapping[str, str]) -> str:
    if match.student_id is None:
        return "unknown"
    name = names.get(match.student_id, match.student_id)
    return name if match.status is FaceStatus.PRESENT else f"{name}?"
