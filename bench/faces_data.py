"""The shared face photos and what the benchmarks and the tests both need to read them.

- :data:`FACES`: the photos (``../shared/data/faces`` beside the repository, or
  ``ROLLCALL_FACES_DIR``); never copied into the repository.
- :func:`face_settings`: FaceSettings with the defaults under test, whatever ``FACE_*`` the
  environment has (both sides of a benchmark, and the tests, run on the shipped defaults).
- :func:`annotated_faces` and :func:`found`: the true face boxes of the PASCAL VOC photos and
  how many of them a detector found (detection recall).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from rollcall.face.detect import Box
from rollcall.platform.settings import FaceSettings
from testkit.class_photos import annotated_faces

__all__ = ["FACES", "IOU_MATCH", "ROOT", "annotated_faces", "face_settings", "found"]

ROOT = Path(__file__).resolve().parents[1]
FACES = Path(os.environ.get("ROLLCALL_FACES_DIR", ROOT.parent / "shared" / "data" / "faces"))
IOU_MATCH = 0.3  # a detection is a ground-truth face when their boxes overlap at least this much


def face_settings(**overrides: object) -> FaceSettings:
    """FaceSettings with the shipped defaults (and ``overrides``); placeholder auth and resources."""
    values: dict[str, object] = {
        "stage": "test",
        "records_table": "records",
        "photo_bucket": "photos",
        "auth_issuer": "https://issuer.test",
        "auth_audience": "rollcall",
        "auth_hs256_secret": "s" * 32,
    }
    defaults = {name: f.default for name, f in FaceSettings.model_fields.items() if name.startswith("face_")}
    return FaceSettings(**(values | defaults | overrides))  # type: ignore[arg-type]


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
