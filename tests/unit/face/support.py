"""Helpers of the face unit tests (fixtures are in conftest.py)."""

from __future__ import annotations

import io
import struct
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from rollcall.face.detect import Box
from rollcall.settings import FaceSettings

IOU_MATCH = 0.3  # a detection is a ground-truth face when their boxes overlap at least this much


def make_settings(**overrides: object) -> FaceSettings:
    """FaceSettings with the defaults under test, whatever FACE_* the environment has."""
    values: dict[str, object] = {
        "stage": "test",
        "records_table": "records",
        "auth_issuer": "https://issuer.test",
        "auth_audience": "rollcall",
        "auth_hs256_secret": "s" * 32,
    }
    defaults = {name: f.default for name, f in FaceSettings.model_fields.items() if name.startswith("face_")}
    return FaceSettings(**(values | defaults | overrides))  # type: ignore[arg-type]


def pil(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def image_bytes(img: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **options)
    return out.getvalue()


def random_embeddings(count: int, seed: int = 0) -> np.ndarray:
    """Unit-length random 128-d vectors: about 1.4 apart, like unrelated people's embeddings."""
    vectors = np.random.default_rng(seed).standard_normal((count, 128)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def png_declaring(width: int, height: int) -> bytes:
    """A valid PNG header declaring a huge size, followed by a few bytes of compressed zeros."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 4096))
        + chunk(b"IEND", b"")
    )


def annotated_faces(groups: Path) -> dict[str, list[Box]]:
    """The face boxes of dlib's training.xml and testing.xml (imglab format), by file name."""
    faces: dict[str, list[Box]] = {}
    for name in ("training.xml", "testing.xml"):
        for image in ET.parse(groups / name).getroot().iter("image"):  # noqa: S314  # our own data files
            boxes = faces.setdefault(image.get("file", ""), [])
            for b in image.iter("box"):
                top, left = int(b.get("top", 0)), int(b.get("left", 0))
                boxes.append(Box(top, left + int(b.get("width", 0)), top + int(b.get("height", 0)), left))
    return faces


def found(truth: Sequence[Box], detected: Sequence[Box]) -> tuple[int, int]:
    """(true faces found, detections matching no true face), pairing greedily by best overlap."""
    free = list(detected)
    hits = 0
    for face in truth:
        best = max(free, key=face.iou, default=None)
        if best is not None and face.iou(best) >= IOU_MATCH:
            free.remove(best)
            hits += 1
    return hits, len(free)
