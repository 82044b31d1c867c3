"""Bad images on every route that takes one: a 4xx with a code, never a 5xx, and nothing stored.

The classes the face tests (tests/e2e/test_faces.py) already cover one by one (not base64, over
5 MB, a decompression bomb, a GIF, text, no face, two faces, a small or blurred face, a duplicate)
are not repeated; these are the others, each made from a real photo where a photo is needed, and
sent to enrolment, marking and search (the routes of the OpenAPI document whose body has
``image_base64``). An organisation of its own holds a student without a face and a session; after
all of them, nothing of that organisation is stored beyond what was there before.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.e2e.conftest import LocalStack
from tests.security.conftest import MONDAY, Route, b64, changed, snapshot

ORG = "images"


def jpeg(image: Image.Image, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90, **options)
    return out.getvalue()


def encoded(image: Image.Image, kind: str) -> bytes:
    out = io.BytesIO()
    image.save(out, format=kind)
    return out.getvalue()


def png(image: Image.Image) -> bytes:
    return encoded(image, "PNG")


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width`` × ``height`` 8-bit RGB pixels, with one tiny IDAT."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def jpeg_huge_dimensions(photo: bytes) -> bytes:
    """A real JPEG whose frame header (SOF0) claims 65,000 × 65,000 pixels."""
    at = photo.index(b"\xff\xc0")
    return photo[: at + 5] + struct.pack(">HH", 65_000, 65_000) + photo[at + 9 :]


def exif_only() -> bytes:
    """SOI, an APP1 EXIF segment, EOI: metadata and no image."""
    exif = b"Exif\0\0" + b"II*\0\x08\0\0\0\0\0"
    return b"\xff\xd8" + b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif + b"\xff\xd9"


def animated_gif(face: Image.Image) -> bytes:
    frames = [face.convert("P"), face.rotate(10).convert("P")]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def bad_images(face_bytes: bytes) -> dict[str, str]:
    """Name → the ``image_base64`` text sent (4xx expected for every one)."""
    face = Image.open(io.BytesIO(face_bytes)).convert("RGB")
    raw: dict[str, bytes] = {
        "zero bytes": b"",
        "truncated JPEG (first half)": face_bytes[: len(face_bytes) // 2],
        "JPEG header only": face_bytes[:600],
        "JPEG claiming 65,000 × 65,000 pixels": jpeg_huge_dimensions(jpeg(face)),
        "PNG header claiming 100,000 × 100,000 pixels": png_header_only(100_000, 100_000),
        "PNG header claiming 1 × 4,000,000,000 pixels": png_header_only(1, 4_000_000_000),
        "PNG with a broken checksum": png(face)[:40] + b"\0\0\0\0" + png(face)[44:],
        "EXIF only": exif_only(),
        "1 × 1 JPEG": jpeg(Image.new("RGB", (1, 1), (200, 150, 120))),
        "1 × 1 PNG": png(Image.new("RGB", (1, 1))),
        "animated GIF of the face": animated_gif(face),
        "BMP of the face": encoded(face, "BMP"),
        "TIFF of the face": encoded(face, "TIFF"),
        "SVG": b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect/></svg>',
        "PDF": b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
        "a JPEG's magic then text": b"\xff\xd8\xff\xe0" + b"not really a jpeg" * 20,
        "a PNG's magic then nothing": b"\x89PNG\r\n\x1a\n",
        "random bytes": bytes(range(256)) * 16,
    }
    texts = {name: b64(data) for name, data in raw.items()}
    texts |= {
        "base64 with a bad padding": b64(face_bytes)[:-3],
        "base64 with a character outside the alphabet": "/9j/" + "*" * 40,
        "a data: URL": "data:image/jpeg;base64," + b64(face_bytes[:2000]),
        "unicode": "é" * 64,
        "empty": "",
    }
    return texts


@pytest.fixture(scope="module")
def teacher(stack: LocalStack) -> httpx.Client:
    client = stack.client("teacher", org=ORG, sub="mr-black")
    assert client.post("/v1/students", json={"student_id": "faceless", "name": "F"}).status_code == 201
    made = client.post("/v1/sessions", json={"session_id": "pics", "class_id": "c", **MONDAY})
    assert made.status_code == 201, made.text
    return client


def image_routes(routes: list[Route], openapi: dict[str, Any]) -> list[tuple[Route, str]]:
    """The routes whose JSON body takes ``image_base64``, with the ids of ORG in their path."""
    ids = {"student_id": "faceless", "session_id": "pics"}
    found = []
    for route in routes:
        operation = openapi["paths"][route.path][route.method.lower()]
        content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
        ref = content.get("schema", {}).get("$ref", "")
        schema = openapi["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
        if "image_base64" in schema.get("properties", {}):
            url = route.path
            for name in route.params:
                url = url.replace("{" + name + "}", ids[name])
            found.append((route, url))
    return found


def test_every_bad_image_is_a_4xx_with_a_code_and_stores_nothing(
    stack: LocalStack,
    teacher: httpx.Client,
    routes: list[Route],
    openapi: dict[str, Any],
    faces_dir: Path,
) -> None:
    # Given the routes that take a photo, and a real face photo to spoil
    targets = image_routes(routes, openapi)
    assert {str(route) for route, _ in targets} >= {
        "POST /v1/students/{student_id}/faces",
        "POST /v1/sessions/{session_id}/attendance",
        "POST /v1/faces/search",
    }
    images = bad_images((faces_dir / "people/barack_obama/obama.jpg").read_bytes())
    before = snapshot(stack, ORG)

    # When each bad image is sent to each of them
    wrong = []
    for name, text in images.items():
        for route, url in targets:
            response = teacher.request(route.method, url, json={"image_base64": text}, timeout=120)
            body = response.json()
            # Then a 4xx with a code and a request id, never a 2xx or a 5xx
            if not (400 <= response.status_code < 500 and body.get("code") and body.get("request_id")):
                wrong.append((name, str(route), response.status_code, response.text[:200]))
    assert wrong == [], wrong

    # and nothing of the organisation was stored: no face, no attendance, no photo, no event
    assert changed(before, snapshot(stack, ORG)) == {}
    assert teacher.get("/v1/students/faceless/faces").json() == []
    assert teacher.get("/v1/students/faceless").json()["face_count"] == 0


@pytest.mark.parametrize("mode", ["CMYK", "I;16", "L"])
def test_an_unusual_but_valid_encoding_of_a_face_is_enrolled_once_or_refused_with_a_code(
    stack: LocalStack, faces_dir: Path, mode: str
) -> None:
    # Given a real face photo as a CMYK JPEG, a 16-bit greyscale PNG or an 8-bit greyscale PNG
    face = Image.open(faces_dir / "people/joe_biden/biden.jpg").convert("RGB")
    if mode == "CMYK":
        data = jpeg(face.convert("CMYK"))
    elif mode == "I;16":
        grey = face.convert("L")
        data = png(Image.frombytes("I;16", grey.size, bytes(b for v in grey.tobytes() for b in (0, v))))
    else:
        data = png(face.convert("L"))
    admin = stack.client("admin", org=f"{ORG}-{mode.replace(';', '')}".lower(), sub="root")
    assert admin.post("/v1/students", json={"student_id": "biden", "name": "Biden"}).status_code == 201

    # When it is enrolled
    response = admin.post("/v1/students/biden/faces", json={"image_base64": b64(data)})

    # Then it is enrolled (one face stored) or refused with a code (none stored); never a 5xx
    assert response.status_code in (201, 400, 413, 415, 422), response.text
    stored = admin.get("/v1/students/biden/faces").json()
    if response.status_code == 201:
        assert [f["face_id"] for f in stored] == [response.json()["face_id"]]
    else:
        assert response.json()["code"] and stored == []
