"""Decoding uploads: every refusal from a real bad input, every accepted form made upright RGB."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from rollcall.face.image import DecodedImage, decode_image
from rollcall.platform.errors import ImageTooLarge, InvalidImageEncoding, UnsupportedImage

from .support import image_bytes, pil, png_declaring

pytestmark = pytest.mark.face

MB = 1024 * 1024
OBAMA = "people/barack_obama/obama.jpg"


def decode(data: str | bytes, **limits: int) -> DecodedImage:
    return decode_image(data, **({"max_bytes": 5 * MB, "max_pixels": 40_000_000} | limits))


def test_invalid_base64_is_400() -> None:
    # Given text that is not base64
    # When it is decoded / Then INVALID_IMAGE_ENCODING (400)
    with pytest.raises(InvalidImageEncoding) as e:
        decode("this is not base64!!")
    assert e.value.status == 400


def test_base64_with_data_url_prefix_and_line_breaks_is_accepted(photo: Callable[[str], bytes]) -> None:
    # Given a portrait as a data URL, wrapped at 76 characters as MIME does
    text = base64.b64encode(photo(OBAMA)).decode()
    wrapped = "data:image/jpeg;base64," + "\n".join(text[i : i + 76] for i in range(0, len(text), 76))
    # When decoded / Then the same photo, hashed on its bytes
    decoded = decode(wrapped)
    assert (decoded.width, decoded.height, decoded.format) == (910, 1137, "JPEG")
    assert decoded.sha256 == hashlib.sha256(photo(OBAMA)).hexdigest()


def test_six_megabytes_is_413_before_and_after_base64() -> None:
    # Given a 6 MB PNG of noise (incompressible), as bytes and as base64
    noise = np.random.default_rng(0).integers(0, 256, (1450, 1450, 3), dtype=np.uint8)
    png = image_bytes(Image.fromarray(noise), "PNG", compress_level=1)
    assert 6 * MB <= len(png) < 7 * MB
    # When decoded / Then IMAGE_TOO_LARGE (413), as Rekognition over 5 MB
    for upload in (png, base64.b64encode(png).decode()):
        with pytest.raises(ImageTooLarge) as e:
            decode(upload)
        assert e.value.status == 413


def test_text_file_is_415() -> None:
    with pytest.raises(UnsupportedImage) as e:
        decode(b"name,class\nada,7B\n")
    assert e.value.status == 415


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
def test_other_image_formats_are_415_and_named(photo: Callable[[str], bytes], fmt: str) -> None:
    # Given a real portrait saved as GIF, BMP or TIFF
    data = image_bytes(pil(photo(OBAMA)), fmt)
    # When decoded / Then UNSUPPORTED_IMAGE, saying what it found
    with pytest.raises(UnsupportedImage) as e:
        decode(data)
    assert e.value.detail["found"] == fmt


def test_truncated_jpeg_is_415(photo: Callable[[str], bytes]) -> None:
    with pytest.raises(UnsupportedImage):
        decode(photo(OBAMA)[:20_000])


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("side", [10_000, 100_000])
def test_decompression_bomb_is_413_from_the_header(side: int) -> None:
    # Given a tiny PNG (well under 1 KB) declaring side x side pixels (100 MP and 10 GP)
    bomb = png_declaring(side, side)
    assert len(bomb) < 1024
    # When decoded / Then IMAGE_TOO_LARGE, without decoding a pixel (Pillow's own bomb error too)
    with pytest.raises(ImageTooLarge):
        decode(bomb)


def test_pixel_limit_is_configurable(photo: Callable[[str], bytes]) -> None:
    # Given a 910x1137 portrait and a 1 MP limit / Then refused; with 2 MP accepted
    with pytest.raises(ImageTooLarge):
        decode(photo(OBAMA), max_pixels=1_000_000)
    assert decode(photo(OBAMA), max_pixels=2_000_000).width == 910


def test_exif_orientation_is_applied(photo: Callable[[str], bytes]) -> None:
    # Given the portrait stored sideways (as a phone held upright stores it) with EXIF orientation 6
    upright = pil(photo(OBAMA))
    sideways = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    data = image_bytes(sideways, "JPEG", exif=exif.tobytes(), quality=95)
    # When decoded / Then upright again: the original's size and nearly its pixels
    decoded = decode(data)
    assert (decoded.width, decoded.height) == upright.size
    assert np.abs(decoded.rgb.astype(int) - np.asarray(upright).astype(int)).mean() < 3


def test_rgba_is_composited_on_white() -> None:
    # Given an RGBA PNG, left half transparent, right half opaque red
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[:, 20:] = (255, 0, 0, 255)
    decoded = decode(image_bytes(Image.fromarray(rgba, "RGBA"), "PNG"))
    # Then transparent is white, opaque stays red
    assert decoded.rgb.shape == (40, 40, 3)
    assert (decoded.rgb[:, :20] == 255).all()
    assert (decoded.rgb[:, 20:] == (255, 0, 0)).all()


@pytest.mark.parametrize(
    ("mode", "fmt"), [("L", "PNG"), ("P", "PNG"), ("LA", "PNG"), ("CMYK", "JPEG"), ("RGB", "WEBP")]
)
def test_modes_and_formats_become_rgb(photo: Callable[[str], bytes], mode: str, fmt: str) -> None:
    # Given the portrait converted to another mode and saved as JPEG/PNG/WebP
    img = pil(photo(OBAMA)).convert(mode)
    decoded = decode(image_bytes(img, fmt, quality=95) if fmt != "PNG" else image_bytes(img, fmt))
    # Then 8-bit RGB of the same size, close to the original's gray levels
    assert decoded.rgb.dtype == np.uint8
    assert decoded.rgb.shape == (1137, 910, 3)
    original = np.asarray(pil(photo(OBAMA)).convert("L"), np.float32)
    assert abs(decoded.rgb.mean() - original.mean()) < 12


def test_sixteen_bit_grayscale_is_scaled_not_clipped() -> None:
    # Given a 16-bit gray gradient (0..65535)
    gradient = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (8, 1))
    decoded = decode(image_bytes(Image.fromarray(gradient), "PNG"))
    # Then 0..255 across, not white from 256 on
    row = decoded.rgb[0, :, 0].astype(int)
    assert (row[0], row[-1]) == (0, 255)
    assert 120 <= row[128] <= 135


def test_large_photos_are_downscaled_to_max_side(photo: Callable[[str], bytes]) -> None:
    decoded = decode(photo(OBAMA), max_side=500)
    assert max(decoded.rgb.shape[:2]) == 500
    assert (decoded.width, decoded.height) == (910, 1137)  # the photo's own size, for boxes
    assert decoded.scale == pytest.approx(decoded.rgb.shape[1] / 910)


def test_empty_upload_is_refused() -> None:
    with pytest.raises(UnsupportedImage):
        decode(b"")
    with pytest.raises(InvalidImageEncoding, match="empty"):
        decode(" \n")


def test_heic_from_an_iphone_is_decoded_like_the_jpeg(photo: Callable[[str], bytes]) -> None:
    import io

    import pillow_heif

    # Given the portrait saved as HEIC (as an iPhone takes it), made here from the real JPEG
    jpeg = pil(photo(OBAMA))
    heic = io.BytesIO()
    pillow_heif.from_pillow(jpeg).save(heic, quality=90)
    data = heic.getvalue()
    assert data[4:12] == b"ftypheic"
    # When it is decoded
    decoded = decode(data)
    # Then an upright RGB array of the photo's size, close to the JPEG's pixels, hashed on its bytes
    assert (decoded.format, decoded.width, decoded.height) == ("HEIF", jpeg.width, jpeg.height)
    assert decoded.rgb.shape == (jpeg.height, jpeg.width, 3) and decoded.rgb.dtype == np.uint8
    difference = np.abs(decoded.rgb.astype(np.int16) - np.asarray(jpeg.convert("RGB"), np.int16))
    assert difference.mean() < 4
    assert decoded.sha256 == hashlib.sha256(data).hexdigest()


def test_a_rotated_heic_is_made_upright(photo: Callable[[str], bytes]) -> None:
    import io

    import pillow_heif

    # Given the portrait as HEIC stored sideways with EXIF orientation 6 (rotate 90° clockwise)
    jpeg = pil(photo(OBAMA)).convert("RGB")
    sideways = jpeg.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    pillow_heif.register_heif_opener()  # for Pillow's save(format="HEIF") here
    heic = io.BytesIO()
    sideways.save(heic, format="HEIF", quality=90, exif=exif.tobytes())
    # When it is decoded / Then it is upright: the JPEG's size and nearly its pixels
    decoded = decode(heic.getvalue())
    assert (decoded.width, decoded.height) == jpeg.size
    assert np.abs(decoded.rgb.astype(np.int16) - np.asarray(jpeg, np.int16)).mean() < 4
