"""Decoding an uploaded photo into an upright RGB array, refusing what cannot be one.

Every refusal is a 4xx from rollcall.platform.errors, in the order a client can act on:

- 400 INVALID_IMAGE_ENCODING: the text is empty or not base64 (a ``data:image/...;base64,``
  prefix and line breaks are accepted).
- 413 IMAGE_TOO_LARGE: more than ``FACE_MAX_IMAGE_BYTES`` decoded (5 MB, Rekognition's limit;
  checked on the base64 length before decoding it), or more than ``FACE_MAX_PIXELS`` declared in
  the header. The pixel check is the decompression-bomb guard: a 100 KB PNG can declare
  50,000 x 50,000 pixels (7.5 GB as RGB); the header is read, the pixels never are.
- 415 UNSUPPORTED_IMAGE: not a JPEG, PNG, WebP or HEIC/HEIF, or undecodable (truncated, corrupt).

HEIC/HEIF (what iPhones take) is read by pillow-heif (libheif), registered with Pillow on first
use; libheif applies the photo's rotation while decoding, and its EXIF orientation says 1.

Then the photo is made what the detector expects: the EXIF orientation applied (phones store
portrait photos sideways with a rotation tag); grayscale, palette, CMYK and 16-bit converted to
8-bit RGB; transparency composited on white (a transparent background is white to a viewer,
and black would darken the face's outline); and photos with a side over ``max_side``
downscaled (JPEGs already while decoding, which is several times faster). ``scale`` maps the
working array back to the photo's own pixels, in which boxes are reported.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
import time
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

from rollcall.platform.errors import ImageTooLarge, InvalidImageEncoding, UnsupportedImage

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray
    from PIL import Image

FORMATS = frozenset({"JPEG", "PNG", "WEBP", "HEIF"})
_DATA_URL = re.compile(r"^data:[\w/+.-]*;base64,", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class DecodedImage:
    rgb: NDArray[np.uint8] = field(repr=False)  # (H, W, 3), C-contiguous, the working resolution
    width: int  # the upright photo's own size, in which boxes are reported
    height: int
    format: str  # JPEG, PNG, WEBP or HEIF
    sha256: str  # of the uploaded bytes: the photo's identity for idempotent marking
    scale: float  # working pixels per photo pixel (1.0 unless downscaled)
    data: bytes = field(default=b"", repr=False)  # the uploaded bytes, for keeping the photo when configured
    decode_ms: float = 0.0  # how long decoding took


def b64decode(text: str, max_bytes: int) -> bytes:
    """The bytes of a base64 upload; too large is refused before decoding."""
    text = _WHITESPACE.sub("", _DATA_URL.sub("", text.strip(), count=1))
    if not text:
        raise InvalidImageEncoding("image_base64 is empty")
    if len(text) // 4 * 3 > max_bytes + 2:
        raise _too_large("bytes", max_bytes=max_bytes, bytes_at_least=len(text) // 4 * 3 - 2)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise InvalidImageEncoding("image_base64 is not valid base64") from e


def _open(raw: bytes, max_pixels: int) -> Image.Image:
    """The photo's header read by Pillow (nothing decoded yet), or the 4xx that says why not."""
    from PIL import Image, UnidentifiedImageError

    _register_heif()
    try:
        return Image.open(io.BytesIO(raw), formats=sorted(FORMATS))
    except UnidentifiedImageError:
        raise UnsupportedImage(
            {
                "message": "not a JPEG, PNG, WebP or HEIC photo",
                "supported": sorted(FORMATS),
                "found": _sniff(raw),
            }
        ) from None
    except Image.DecompressionBombError:
        raise _too_large("pixels", max_pixels=max_pixels) from None
    except MemoryError:
        raise
    except Exception as e:  # a header Pillow recognised but cannot parse
        raise UnsupportedImage("the image header cannot be read") from e


@cache
def _register_heif() -> None:
    """Let Pillow open HEIC/HEIF (once per process; without pillow-heif they stay refused)."""
    try:
        import pillow_heif
    except ImportError:  # pragma: no cover - the face layer installs it
        return
    pillow_heif.register_heif_opener()


def decode_image(
    data: str | bytes, *, max_bytes: int, max_pixels: int, max_side: int | None = None
) -> DecodedImage:
    """Decode an upload (base64 text, or the raw bytes) into a :class:`DecodedImage`."""
    from PIL import Image, ImageOps

    started = time.perf_counter()
    raw = b64decode(data, max_bytes) if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise _too_large("bytes", max_bytes=max_bytes, bytes=len(raw))
    if not raw:
        raise UnsupportedImage("the image is empty")
    with _open(raw, max_pixels) as img:
        if img.width * img.height > max_pixels:
            raise _too_large("pixels", max_pixels=max_pixels, pixels=img.width * img.height)
        fmt = str(img.format)
        try:
            upright_size = _upright_size(img)
            if max_side and fmt == "JPEG" and max(img.size) >= 2 * max_side:
                longest = max(img.size)  # JPEG decodes at 1/2, 1/4 or 1/8 directly: fast, little memory
                img.draft("RGB", (img.width * max_side // longest, img.height * max_side // longest))
            img.load()
            rgb = _to_rgb(ImageOps.exif_transpose(img))
        except Image.DecompressionBombError:
            raise _too_large("pixels", max_pixels=max_pixels) from None
        except MemoryError:
            raise
        except Exception as e:  # truncated or corrupt data, or broken EXIF: Pillow raises many types
            raise UnsupportedImage(f"the {fmt} image cannot be decoded") from e
    if max_side and max(rgb.size) > max_side:
        ratio = max_side / max(rgb.size)
        rgb = rgb.resize(
            (max(1, round(rgb.width * ratio)), max(1, round(rgb.height * ratio))),
            resample=Image.Resampling.BILINEAR,
            reducing_gap=2.0,
        )
    import numpy as np

    return DecodedImage(
        rgb=np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)),
        width=upright_size[0],
        height=upright_size[1],
        format=fmt,
        sha256=hashlib.sha256(raw).hexdigest(),
        scale=rgb.width / upright_size[0],
        data=raw,
        decode_ms=round((time.perf_counter() - started) * 1000, 1),
    )


def _too_large(what: str, **numbers: int) -> ImageTooLarge:
    return ImageTooLarge({"message": f"the photo has more {what} than the limit", **numbers})


def _upright_size(img: Image.Image) -> tuple[int, int]:
    """The size once EXIF orientation is applied (5 to 8 swap width and height)."""
    orientation = img.getexif().get(0x0112, 1)
    return (img.height, img.width) if orientation in (5, 6, 7, 8) else (img.width, img.height)


def _to_rgb(img: Image.Image) -> Image.Image:
    from PIL import Image

    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return _high_depth_to_rgb(img)
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV


def _high_depth_to_rgb(img: Image.Image) -> Image.Image:
    """16-bit (or 32-bit) grayscale to 8 bits by scaling, not by clipping at 255."""
    import numpy as np
    from PIL import Image

    values = np.asarray(img, dtype=np.float32)
    top = 255.0 if values.max(initial=0) <= 255 else 65535.0
    gray = np.clip(values * (255.0 / top), 0, 255).round().astype(np.uint8)
    return Image.fromarray(gray).convert("RGB")


def _sniff(raw: bytes) -> str:
    """A name for a refused upload's type, for the error detail."""
    signatures = {
        b"GIF8": "GIF",
        b"BM": "BMP",
        b"II*\x00": "TIFF",
        b"MM\x00*": "TIFF",
        b"%PDF": "PDF",
        b"\x00\x00\x01\x00": "ICO",
    }
    for magic, name in signatures.items():
        if raw.startswith(magic):
            return name
    if raw[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypavif"):
        return "HEIC/AVIF"
    return "unknown"
