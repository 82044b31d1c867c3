"""Helpers of the face unit tests (fixtures are in conftest.py); settings and the photo-set
helpers the benchmarks share are in bench.faces_data."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


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
