"""128-d face embeddings: 5-point landmarks, aligned 150x150 chips, dlib's ResNet.

face_recognition finds 68 landmarks per face (a 95 MB model, 2.8 ms a face) and calls dlib's
descriptor one face at a time. dlib's descriptor aligns its chip from five points only (eye
corners and nose), which its 9 MB 5-point predictor gives in 0.7 ms; the chips of all the faces
of a photo then go through the network (:mod:`rollcall.face.resnet`) as one batch per core: numpy
releases the GIL in its matrix products and loops, so two threads encode 24 faces in about half
the time of one (numbers in rollcall.face.blas).

``num_jitters`` > 1 (``FACE_NUM_JITTERS``) averages that many randomly jittered copies of each
chip, as dlib and face_recognition do; that path uses dlib's own network (about 75 ms per face
per jitter) because the jitter is dlib's. 1, the default, encodes each chip once, as
face_recognition's default (``num_jitters=1``) does.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

from rollcall.face.resnet import CHIP_PADDING, CHIP_SIZE

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from rollcall.face.detect import Detection
    from rollcall.face.models import Models
    from rollcall.face.resnet import FaceNet

EMBEDDING_SIZE = 128


@cache
def _pool() -> tuple[ThreadPoolExecutor, int]:
    workers = min(
        4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )
    return ThreadPoolExecutor(max(1, workers), thread_name_prefix="face-encode"), workers


def embed_chips(net: FaceNet, chips: NDArray[np.uint8]) -> NDArray[np.float32]:
    """The network over the chips, split across one thread per core (see rollcall.face.blas for why)."""
    pool, workers = _pool()
    if workers < 2 or len(chips) < 2:
        return net(chips)
    parts = np.array_split(chips, min(workers, len(chips)))
    futures = [pool.submit(net, part) for part in parts[1:]]
    first = net(parts[0])
    return np.concatenate([first, *(f.result() for f in futures)])


def face_chips(
    rgb: NDArray[np.uint8], detections: Sequence[Detection], models: Models
) -> tuple[Any, NDArray[np.uint8]]:
    """The landmarks (dlib's full_object_detections) and the aligned chips (N, 150, 150, 3) of the faces."""
    import dlib

    shapes = dlib.full_object_detections()
    for detection in detections:
        shapes.append(models.shape_predictor(rgb, dlib.rectangle(*detection.rect)))
    if not detections:
        return shapes, np.zeros((0, CHIP_SIZE, CHIP_SIZE, 3), np.uint8)
    chips = dlib.get_face_chips(rgb, shapes, size=CHIP_SIZE, padding=CHIP_PADDING)
    return shapes, np.stack(chips)


def encode(
    rgb: NDArray[np.uint8], shapes: Any, chips: NDArray[np.uint8], models: Models, num_jitters: int = 1
) -> NDArray[np.float32]:
    """The (N, 128) float32 embeddings of the faces whose landmarks and chips are given."""
    if num_jitters <= 1 or len(chips) == 0:
        return embed_chips(models.net, chips)
    descriptors = models.dlib_descriptors(rgb, shapes, num_jitters)
    return np.array(descriptors, dtype=np.float32).reshape(-1, EMBEDDING_SIZE)
