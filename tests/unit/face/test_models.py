"""Model files found by path, loaded once; the numpy ResNet equal to dlib's own."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from rollcall.face.detect import detect_faces
from rollcall.face.encode import face_chips
from rollcall.face.models import DESCRIPTOR, DETECTOR_FILE, SHAPE_PREDICTOR, Models, get_models, models_dir
from rollcall.face.resnet import FaceNet
from rollcall.platform.errors import ModelUnavailable
from rollcall.platform.settings import FaceSettings

from .support import pil

pytestmark = pytest.mark.face

ROOT = Path(__file__).resolve().parents[3]


def run_python(code: str, *paths: Path, site: bool = True, env: dict[str, str] | None = None) -> str:
    """Run ``code`` in a fresh interpreter, ``paths`` and shared/ first; ``site=False``: no site-packages."""
    path = ":".join(str(p) for p in (*paths, ROOT / "shared"))
    command = [sys.executable, *([] if site else ["-S"]), "-c", code]
    environment = {"PYTHONPATH": path, **(env or {})}
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=environment)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_models_are_found_without_importing_the_models_package() -> None:
    # Given a fresh process / When the folder is looked up
    out = run_python(
        "import sys; from rollcall.face.models import models_dir; d = models_dir(); "
        "print('face_recognition_models' in sys.modules, 'pkg_resources' in sys.modules, d.name)"
    )
    # Then found, and neither the package nor pkg_resources was imported
    assert out == "False False models"


def test_models_are_found_in_the_trimmed_layer_without_init(tmp_path: Path) -> None:
    # Given the face layer as built: the package without __init__ and with only the two models used
    source = models_dir()
    models = tmp_path / "face_recognition_models" / "models"
    models.mkdir(parents=True)
    for name in (SHAPE_PREDICTOR, DESCRIPTOR):
        (models / name).symlink_to(source / name)
    # When looked up from a process that has that layer and not the full package installed
    out = run_python("from rollcall.face.models import models_dir; print(models_dir())", tmp_path, site=False)
    # Then that folder is used
    assert out == str(models)


def test_configured_folder_without_models_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match=SHAPE_PREDICTOR):
        models_dir(str(tmp_path))


def test_models_load_once_per_process_even_when_first_calls_race(tmp_path: Path) -> None:
    # Given a folder of models not loaded yet
    for name in (SHAPE_PREDICTOR, DESCRIPTOR):
        (tmp_path / name).symlink_to(models_dir() / name)
    folder = str(tmp_path)
    # When eight threads ask for its models at once
    results: list[Models] = []
    threads = [threading.Thread(target=lambda: results.append(get_models(folder))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then one Models object, with one network, for all of them
    assert len({id(m) for m in results}) == 1
    assert len({id(m.net) for m in results}) == 1


def test_numpy_resnet_equals_dlibs_descriptor(
    photo: Callable[[str], bytes], settings: FaceSettings, models: Models
) -> None:
    # Given the 24 aligned faces of bald_guys.jpg
    rgb = np.asarray(pil(photo("groups/bald_guys.jpg")).convert("RGB"))
    shapes, chips = face_chips(rgb, detect_faces(rgb, models, settings), models)
    assert len(chips) == 24
    # When encoded by dlib's own network and by ours
    expected = np.array(models.dlib_descriptors(rgb, shapes, num_jitters=1))
    ours = models.net(chips)
    # Then the same embeddings (to float32 rounding)
    assert ours.dtype == np.float32
    assert np.abs(ours - expected).max() < 1e-4


def test_another_dlib_file_is_refused(tmp_path: Path) -> None:
    # Given the shape predictor file, or a cut model file, offered as the descriptor
    cut = tmp_path / "cut.dat"
    cut.write_bytes((models_dir() / DESCRIPTOR).read_bytes()[:100_000])
    for path in (models_dir() / SHAPE_PREDICTOR, cut):
        with pytest.raises(ModelUnavailable):
            FaceNet.from_dlib_file(path)


def test_shipped_detector_is_dlibs_own(tmp_path: Path) -> None:
    # Given dlib's built-in frontal face detector saved by this dlib
    import dlib

    dlib.get_frontal_face_detector().save(str(tmp_path / "builtin.svm"))
    # Then the file shipped for fast loading is byte for byte the same detector
    assert DETECTOR_FILE.read_bytes() == (tmp_path / "builtin.svm").read_bytes()


def test_importing_the_pipeline_and_the_face_routers_loads_nothing_heavy() -> None:
    # Given a fresh process / When the pipeline and the face functions' routers are imported (what
    # their handlers import at cold start)
    out = run_python(
        "import sys, rollcall.face.pipeline, rollcall.api.faces, rollcall.api.marking; "
        "import rollcall.api.students; "
        "print(sorted(m for m in ('numpy', 'dlib', 'PIL', 'ctypes') if m in sys.modules))"
    )
    # Then numpy, dlib and Pillow wait for the first call
    assert out == "[]"


def test_openblas_is_kept_to_one_thread_unless_the_operator_says_otherwise() -> None:
    # Given fresh processes, one without OPENBLAS_NUM_THREADS / When the limit is applied
    code = (
        "import numpy; from threadpoolctl import threadpool_info; "
        "from rollcall.face.blas import limit_blas_threads; done = limit_blas_threads(1); "
        "print(done, [i['num_threads'] for i in threadpool_info() if i['internal_api'] == 'openblas'])"
    )
    # Then OpenBLAS runs one thread; with OPENBLAS_NUM_THREADS set, that is left alone
    assert run_python(code) == "True [1]"
    assert run_python(code, env={"OPENBLAS_NUM_THREADS": "2"}) == "False [2]"
