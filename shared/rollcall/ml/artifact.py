"""Model artifacts: the files a trained model is stored as, and loading them back safely.

A version is two files under ``models/{type}/{scope}/{version}/``:

- ``model.npz``: the model's numpy arrays (``rollcall.ml.model``), written with ``numpy.savez`` and
  read with ``allow_pickle=False``: loading runs no code from the file (unlike pickle/joblib) and
  needs neither scikit-learn nor joblib (~1.3 s of imports a predict cold start does not pay).
- ``metadata.json``: type, scope, version, created_at, features, params, metrics, the training
  data hash, library versions, the sha256 of ``model.npz``, and ``drift_reference``: each
  feature's decile edges (9) and shares (10) over the latest training weeks, the baseline a drift
  check compares recent features with (``rollcall.ml.model.feature_drift``) without loading the
  model.

:func:`load` checks the model bytes against the sha256 the registry recorded *before* parsing
them; a mismatch, or bytes that do not parse as a model, raise ``ArtifactIntegrityError``.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import platform
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rollcall.domain import iso
from rollcall.platform.errors import ArtifactIntegrityError

if TYPE_CHECKING:
    from rollcall.ml.model import AttendanceModel, TreeEnsemble
    from rollcall.ml.train import TrainedModel

MODEL_FILE = "model.npz"
METADATA_FILE = "metadata.json"
FORMAT = "rollcall-trees-npz/1"
_TREE_PARTS = ("feature", "threshold", "value", "baseline")


def prefix(model_type: str, scope: str, version: str) -> str:
    """The S3 key prefix of a version's files."""
    return f"models/{model_type}/{scope}/{version}/"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Artifact:
    files: dict[str, bytes]  # file name -> bytes (MODEL_FILE, METADATA_FILE)
    sha256: str  # of the model file
    metadata: dict[str, Any]


def dump(trained: TrainedModel, *, model_type: str, scope: str, version: str) -> Artifact:
    """The files of a trained model (keys are relative to :func:`prefix`)."""
    model_bytes = model_to_bytes(trained.model)
    digest = sha256(model_bytes)
    metadata = {
        "format": FORMAT,
        "model_type": model_type,
        "scope": scope,
        "version": version,
        "created_at": iso(trained.created_at),
        "holdout_from": iso(trained.holdout_from),
        "features": list(trained.features),
        "params": trained.params,
        "metrics": trained.metrics,
        "data_hash": trained.data_hash,
        "libraries": {**trained.libraries, "python": platform.python_version()},
        "drift_reference": {
            "features": list(trained.model.features),
            "edges": trained.model.reference_edges.tolist(),
            "shares": trained.model.reference_shares.tolist(),
            "window": "the calibration slice: the latest training weeks before the holdout",
        },
        "covariates": json.loads(trained.model.covariates.to_json()) if trained.model.covariates else None,
        "model_file": MODEL_FILE,
        "sha256": digest,
    }
    text = json.dumps(_finite(metadata), indent=2, sort_keys=True) + "\n"
    return Artifact({MODEL_FILE: model_bytes, METADATA_FILE: text.encode()}, digest, metadata)


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def model_to_bytes(model: AttendanceModel) -> bytes:
    import numpy as np

    arrays: dict[str, Any] = {
        "format": np.array(FORMAT),
        "features": np.array(model.features),
        "calibrator.kind": np.array(model.calibrator.kind),
        "calibrator.x": model.calibrator.x,
        "calibrator.y": model.calibrator.y,
        "intervals.edges": model.intervals.edges,
        "intervals.gap": model.intervals.gap,
        "intervals.half": model.intervals.half,
        "reference.edges": model.reference_edges,
        "reference.shares": model.reference_shares,
        **_trees("classifier", model.classifier),
    }
    if model.covariates is not None:
        arrays["covariates"] = np.array(model.covariates.to_json())
    for q, trees in enumerate(model.arrival or ()):
        arrays.update(_trees(f"arrival{q}", trees))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _trees(name: str, trees: TreeEnsemble) -> dict[str, Any]:
    import numpy as np

    return {f"{name}.{part}": np.asarray(getattr(trees, part)) for part in _TREE_PARTS}


def load(model_bytes: bytes, expected_sha256: str) -> AttendanceModel:
    """The model in ``model_bytes`` if their sha256 is ``expected_sha256``, else ArtifactIntegrityError."""
    actual = sha256(model_bytes)
    if actual != expected_sha256:
        raise ArtifactIntegrityError(
            {"reason": "sha256 mismatch", "expected": expected_sha256, "actual": actual}
        )
    try:
        return model_from_bytes(model_bytes)
    except (ValueError, KeyError, OSError, TypeError) as e:
        raise ArtifactIntegrityError({"reason": f"unreadable model file: {type(e).__name__}"}) from e


def model_from_bytes(model_bytes: bytes) -> AttendanceModel:
    import numpy as np

    from rollcall.ml.covariates import CovariateSpec
    from rollcall.ml.model import AttendanceModel, Calibrator, Intervals, TreeEnsemble

    with np.load(io.BytesIO(model_bytes), allow_pickle=False) as npz:
        a = {k: npz[k] for k in npz.files}
    if str(a["format"]) != FORMAT:
        raise ValueError(f"unknown model format {a['format']}")

    def trees(name: str) -> TreeEnsemble:
        return TreeEnsemble(
            feature=a[f"{name}.feature"],
            threshold=a[f"{name}.threshold"],
            value=a[f"{name}.value"],
            baseline=float(a[f"{name}.baseline"]),
        )

    arrival = None
    if "arrival0.value" in a:
        arrival = (trees("arrival0"), trees("arrival1"), trees("arrival2"))
    return AttendanceModel(
        features=tuple(str(f) for f in a["features"]),
        classifier=trees("classifier"),
        calibrator=Calibrator(str(a["calibrator.kind"]), a["calibrator.x"], a["calibrator.y"]),
        intervals=Intervals(a["intervals.edges"], a["intervals.gap"], a["intervals.half"]),
        reference_edges=a["reference.edges"],
        reference_shares=a["reference.shares"],
        arrival=arrival,
        covariates=CovariateSpec.from_json(str(a["covariates"])) if "covariates" in a else None,
    )
