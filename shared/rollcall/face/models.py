"""The dlib model files: found by path, loaded once per process, on first use.

The files come from the ``face_recognition_models`` package, but that package is never
imported: its ``__init__`` imports ``pkg_resources`` (slow, and gone from setuptools 81), and
the deployed face layer deletes that ``__init__`` together with the two models encoding does
not use (the 68-point predictor and the CNN detector, 95 MB; see layers/face/Makefile).
``importlib.util.find_spec`` finds the package folder without running it, with or without its
``__init__``; ``FACE_MODELS_DIR`` points elsewhere when set.

Three models are used: dlib's HOG frontal face detector (shipped here, see DETECTOR_FILE), the
5-point shape predictor (face alignment) and the ResNet face descriptor, which
:mod:`rollcall.face.resnet` runs with numpy from dlib's own model file. dlib's own descriptor
is loaded only when jitter is asked for (:meth:`Models.dlib_descriptors`).
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rollcall.platform.errors import ModelUnavailable

if TYPE_CHECKING:
    from rollcall.face.resnet import FaceNet

SHAPE_PREDICTOR = "shape_predictor_5_face_landmarks.dat"
# dlib's HOG detector as dlib.get_frontal_face_detector().save() writes it (byte-identical: a test
# checks). get_frontal_face_detector() rebuilds it from a string compiled into dlib, which takes
# 0.25 s of every cold start; loading the saved file takes 1 ms.
DETECTOR_FILE = Path(__file__).with_name("frontal_face_detector.svm")
DESCRIPTOR = "dlib_face_recognition_resnet_model_v1.dat"


def models_dir(configured: str = "") -> Path:
    """The folder holding the model files: ``configured`` if given, else the installed package's."""
    if configured:
        folder = Path(configured)
    else:
        spec = importlib.util.find_spec("face_recognition_models")
        locations = list(spec.submodule_search_locations or []) if spec else []
        if not locations:
            raise ModelUnavailable(
                "face models not installed (face_recognition_models) and FACE_MODELS_DIR unset"
            )
        folder = Path(locations[0]) / "models"
    missing = [name for name in (SHAPE_PREDICTOR, DESCRIPTOR) if not (folder / name).is_file()]
    if missing:
        raise ModelUnavailable(f"face model files missing in {folder}: {', '.join(missing)}")
    return folder


@dataclass
class Models:
    """The loaded models of one folder. Made by :func:`get_models`; each loads on first use.

    Thread safety (requests may run on several threads of one process): dlib's detector
    releases the GIL while it scans and keeps scratch state in the object, so two threads
    running one detector crash the process (measured: ``munmap_chunk(): invalid pointer``); each
    thread gets its own detector (1 ms to load from DETECTOR_FILE). The shape predictor and the
    numpy network keep no state and are shared. dlib's own descriptor keeps its activations in
    the object: :meth:`dlib_descriptors` holds a lock.
    """

    folder: Path
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _dlib_encoder_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _per_thread: threading.local = field(default_factory=threading.local, repr=False)

    @property
    def detector(self) -> Any:
        """This thread's HOG frontal face detector."""
        detector = getattr(self._per_thread, "detector", None)
        if detector is None:
            import dlib

            if DETECTOR_FILE.is_file():
                detector = dlib.fhog_object_detector(str(DETECTOR_FILE))
            else:
                detector = dlib.get_frontal_face_detector()  # the same detector, 0.25 s slower to make
            self._per_thread.detector = detector
        return detector

    @cached_property
    def shape_predictor(self) -> Any:
        import dlib

        return dlib.shape_predictor(str(self.folder / SHAPE_PREDICTOR))

    @cached_property
    def net(self) -> FaceNet:
        from rollcall.face.resnet import FaceNet

        return FaceNet.from_dlib_file(self.folder / DESCRIPTOR)

    @cached_property
    def _dlib_encoder(self) -> Any:
        import dlib

        return dlib.face_recognition_model_v1(str(self.folder / DESCRIPTOR))

    def dlib_descriptors(self, rgb: Any, shapes: Any, num_jitters: int) -> list[Any]:
        """dlib's own descriptors, each averaged over ``num_jitters`` jittered copies (if > 1)."""
        with self._dlib_encoder_lock:
            return list(self._dlib_encoder.compute_face_descriptor(rgb, shapes, num_jitters))

    def load(self, *, jitter: bool = False) -> Models:
        """Load every model a request needs, once, under a lock (concurrent first calls wait)."""
        with self._lock:
            if "net" not in self.__dict__:
                from rollcall.face.blas import limit_blas_threads

                limit_blas_threads(1)
            _ = self.detector, self.shape_predictor, self.net
            if jitter:
                _ = self._dlib_encoder
        return self


_models: dict[Path, Models] = {}
_models_lock = threading.Lock()


def get_models(configured_dir: str = "", *, jitter: bool = False) -> Models:
    """The process-wide :class:`Models` of a folder, loaded on the first call."""
    folder = models_dir(configured_dir)
    with _models_lock:
        models = _models.setdefault(folder, Models(folder))
    return models.load(jitter=jitter)
