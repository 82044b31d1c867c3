"""Phone-sized class photos for tests and benchmarks, generated from the real face photos.

Two kinds, both written to a folder the caller gives (a temporary one: generated images are
never committed), both deterministic:

- :func:`class_photo`: the people of ``faces/people`` pasted onto a 4032 x 3024 background at
  face widths of 40, 48, 64, 80, 112 and 160 px (one row of each width, ``per_size`` faces a
  row). Each face is cut from its portrait around the box our detector finds there (upsampled,
  so at full quality), with a margin of hair, chin and shoulders, scaled so that the box is the
  asked width, and blended in with a soft elliptic edge. The seed decides the background (smooth
  colour fields and fine grain, as a wall and a camera's noise), which portrait goes where, the
  order of the rows from top to bottom (so small faces are not always at the top) and a jitter of
  each face's place. The true box of every face is returned with the photo.
- :func:`upscaled_groups`: the real group photos of ``faces/groups`` resized to about 12 MP, with
  the face count of the manifest and, for the PASCAL VOC ones, their annotated boxes scaled.

``python -m testkit.class_photos OUT [SEED [FACES_DIR]]`` writes one of each kind to OUT and prints the truth.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image

    from rollcall.face.detect import Box

PHONE = (4032, 3024)  # a 12 MP phone photo, landscape
FACE_WIDTHS = (40, 48, 64, 80, 112, 160)
MARGIN = 0.55  # context kept around a face box, as a share of its width on each side


@dataclass(frozen=True)
class Pasted:
    identity: str
    source: str  # the portrait, relative to the faces folder
    box: Box  # where the detector's box of the face lands in the generated photo
    width: int  # the asked face width (px)


@dataclass(frozen=True)
class GeneratedPhoto:
    path: Path
    faces: list[Pasted]

    def boxes(self, width: int | None = None) -> list[Box]:
        return [f.box for f in self.faces if width is None or f.width == width]


@dataclass(frozen=True)
class GroupPhoto:
    path: Path
    source: str
    faces: int  # how many faces the manifest says it shows
    boxes: list[Box]  # the annotated ones (PASCAL VOC photos), scaled; else empty
    scale: float


def portraits(faces_dir: Path) -> list[tuple[str, str]]:
    """(identity, path relative to ``faces_dir``) of every single-person portrait, manifest order."""
    with (faces_dir / "manifest.csv").open(newline="") as f:
        return [(r["identities"], r["path"]) for r in csv.DictReader(f) if r["kind"] == "portrait"]


@cache
def _face_cut(faces_dir: Path, relative: str) -> tuple[Image.Image, tuple[float, float, float, float]]:
    """The portrait cropped around its largest face, and the face box inside the crop (l, t, r, b)."""
    import numpy as np
    from PIL import Image, ImageOps

    from rollcall.face.models import get_models

    with Image.open(faces_dir / relative) as img:
        rgb = ImageOps.exif_transpose(img).convert("RGB")
    rects = get_models().detector(np.asarray(rgb), 1)
    if not rects:
        raise ValueError(f"no face found in {relative}")
    r = max(rects, key=lambda r: r.width() * r.height())
    left, top, right, bottom = r.left(), r.top(), r.right() + 1, r.bottom() + 1
    margin = MARGIN * (right - left)
    crop = (
        max(0, round(left - margin)),
        max(0, round(top - margin * 1.1)),
        min(rgb.width, round(right + margin)),
        min(rgb.height, round(bottom + margin * 0.9)),
    )
    box = (left - crop[0], top - crop[1], right - crop[0], bottom - crop[1])
    return rgb.crop(crop), box


def _background(rng: Any, size: tuple[int, int]) -> Image.Image:
    """Smooth colour fields with fine grain: a wall, a board, a camera's noise (no faces)."""
    import numpy as np
    from PIL import Image

    width, height = size
    coarse = rng.integers(60, 200, (6, 8, 3), dtype=np.uint8)
    base = np.asarray(Image.fromarray(coarse).resize(size, Image.Resampling.BICUBIC), dtype=np.int16)
    grain = rng.normal(0, 6, (height // 2, width // 2, 1)).astype(np.int16).repeat(2, 0).repeat(2, 1)
    return Image.fromarray(np.clip(base + grain, 0, 255).astype(np.uint8))


def _soft_mask(size: tuple[int, int]) -> Image.Image:
    from PIL import Image, ImageDraw, ImageFilter

    width, height = size
    mask = Image.new("L", size, 0)
    inset = max(2, min(size) // 12)
    ImageDraw.Draw(mask).ellipse((inset, inset, width - inset, height - inset), fill=255)
    return mask.filter(ImageFilter.GaussianBlur(max(1, inset // 2)))


def class_photo(
    out_dir: Path,
    faces_dir: Path,
    seed: int,
    *,
    widths: tuple[int, ...] = FACE_WIDTHS,
    per_size: int = 8,
    size: tuple[int, int] = PHONE,
    quality: int = 92,
) -> GeneratedPhoto:
    """A ``size`` JPEG with ``per_size`` faces of each width in ``widths`` (see the module docstring)."""
    import numpy as np
    from PIL import Image

    from rollcall.face.detect import Box

    rng = np.random.default_rng(seed)
    people = portraits(faces_dir)
    canvas = _background(rng, size)
    order = [widths[i] for i in rng.permutation(len(widths))]
    row_heights = [round(w * (2 + 2 * MARGIN) * 1.2) for w in order]
    gap = (size[1] - sum(row_heights)) / (len(order) + 1)
    if gap < 0:
        raise ValueError("the rows do not fit the photo")
    faces: list[Pasted] = []
    y = gap
    turn = int(rng.integers(len(people)))
    for width, row_height in zip(order, row_heights, strict=True):
        slot = size[0] / per_size
        for i in range(per_size):
            identity, source = people[(turn + i) % len(people)]
            cut, (left, top, right, bottom) = _face_cut(faces_dir, source)
            scale = width / (right - left)
            resized = cut.resize(
                (max(1, round(cut.width * scale)), max(1, round(cut.height * scale))),
                Image.Resampling.LANCZOS,
            )
            free_x = max(0.0, slot - resized.width)
            free_y = max(0.0, row_height - resized.height)
            x = round(i * slot + free_x * rng.uniform(0.2, 0.8))
            y_at = round(y + free_y * rng.uniform(0.2, 0.8))
            canvas.paste(resized, (x, y_at), _soft_mask(resized.size))
            faces.append(
                Pasted(
                    identity,
                    source,
                    Box(
                        top=y_at + round(top * scale),
                        right=x + round(right * scale),
                        bottom=y_at + round(bottom * scale),
                        left=x + round(left * scale),
                    ),
                    width,
                )
            )
        turn += per_size
        y += row_height + gap
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"class_{size[0]}x{size[1]}_seed{seed}.jpg"
    canvas.save(path, format="JPEG", quality=quality)
    return GeneratedPhoto(path, faces)


def upscaled_groups(out_dir: Path, faces_dir: Path, pixels: int = PHONE[0] * PHONE[1]) -> list[GroupPhoto]:
    """Every group photo of the manifest resized (Lanczos) to about ``pixels``, with its truth."""
    from PIL import Image, ImageOps

    annotated = annotated_faces(faces_dir / "groups")
    with (faces_dir / "manifest.csv").open(newline="") as f:
        groups = [r for r in csv.DictReader(f) if r["kind"] == "group"]
    out_dir.mkdir(parents=True, exist_ok=True)
    photos = []
    for row in groups:
        with Image.open(faces_dir / row["path"]) as img:
            rgb = ImageOps.exif_transpose(img).convert("RGB")
        scale = math.sqrt(pixels / (rgb.width * rgb.height))
        big = rgb.resize((round(rgb.width * scale), round(rgb.height * scale)), Image.Resampling.LANCZOS)
        path = out_dir / f"group_12mp_{Path(row['path']).stem}.jpg"
        big.save(path, format="JPEG", quality=92)
        boxes = [b.scaled(scale) for b in annotated.get(Path(row["path"]).name, [])]
        photos.append(GroupPhoto(path, row["path"], int(row["faces"]), boxes, scale))
    return photos


def annotated_faces(groups: Path) -> dict[str, list[Box]]:
    """The face boxes of dlib's training.xml and testing.xml (imglab format), by file name."""
    import xml.etree.ElementTree as ET

    from rollcall.face.detect import Box

    faces: dict[str, list[Box]] = {}
    for name in ("training.xml", "testing.xml"):
        for image in ET.parse(groups / name).getroot().iter("image"):  # noqa: S314  # our own data files
            boxes = faces.setdefault(image.get("file", ""), [])
            for b in image.iter("box"):
                top, left = int(b.get("top", 0)), int(b.get("left", 0))
                boxes.append(Box(top, left + int(b.get("width", 0)), top + int(b.get("height", 0)), left))
    return faces


def main(argv: list[str]) -> int:
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    faces_dir = Path(argv[2]) if len(argv) > 2 else Path(__file__).resolve().parents[2] / "shared/data/faces"
    photo = class_photo(out, faces_dir, int(argv[1]) if len(argv) > 1 else 0)
    boxes = [f.box.as_dict() | {"width": f.width} for f in photo.faces]
    print(json.dumps({"path": str(photo.path), "faces": boxes}))
    for group in upscaled_groups(out, faces_dir):
        print(json.dumps({"path": str(group.path), "faces": group.faces}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
