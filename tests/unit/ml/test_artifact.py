"""Artifacts: round trip, tamper detection, metadata, and loading without scikit-learn."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rollcall.ml import artifact
from rollcall.ml.train import Dataset, TrainedModel
from rollcall.platform import errors

ROOT = Path(__file__).resolve().parents[3]


def test_a_loaded_model_predicts_as_the_trained_one(trained: TrainedModel, dataset: Dataset) -> None:
    # Given a trained model's artifact
    art = artifact.dump(trained, model_type="attendance", scope="org-1", version="v0003")
    # When its model file is loaded with the recorded sha256
    model = artifact.load(art.files[artifact.MODEL_FILE], art.sha256)
    # Then it scores exactly as the trained model does
    rows = dataset.X[-500:]
    a, b = trained.model.score(rows), model.score(rows)
    assert np.array_equal(a.probability, b.probability)
    assert np.array_equal(a.effects, b.effects)
    assert a.arrival is not None
    assert b.arrival is not None
    assert np.array_equal(a.arrival, b.arrival)
    assert model.features == trained.model.features


def test_metadata_describes_the_version(trained: TrainedModel) -> None:
    art = artifact.dump(trained, model_type="attendance", scope="org-1", version="v0003")
    meta = json.loads(art.files[artifact.METADATA_FILE])
    # Then the metadata names the version, its features, metrics, data hash and libraries
    assert artifact.prefix("attendance", "org-1", "v0003") == "models/attendance/org-1/v0003/"
    assert (meta["model_type"], meta["scope"], meta["version"]) == ("attendance", "org-1", "v0003")
    assert meta["features"] == list(trained.features)
    assert meta["metrics"]["roc_auc"] == pytest.approx(trained.metrics["roc_auc"])
    assert meta["data_hash"] == trained.data_hash
    assert {"numpy", "scikit-learn", "python"} <= set(meta["libraries"])
    assert meta["sha256"] == art.sha256 == artifact.sha256(art.files[artifact.MODEL_FILE])


def test_a_tampered_or_unreadable_model_is_refused(trained: TrainedModel) -> None:
    art = artifact.dump(trained, model_type="attendance", scope="org-1", version="v0003")
    data = bytearray(art.files[artifact.MODEL_FILE])
    data[len(data) // 2] ^= 0x01
    # When one bit of the model file changes, it is refused before it is parsed
    with pytest.raises(errors.ArtifactIntegrityError) as caught:
        artifact.load(bytes(data), art.sha256)
    assert caught.value.detail["reason"] == "sha256 mismatch"
    assert caught.value.code == "ARTIFACT_INTEGRITY"
    # and bytes that match their hash but are no model are refused too
    junk = b"not a model"
    with pytest.raises(errors.ArtifactIntegrityError) as caught:
        artifact.load(junk, artifact.sha256(junk))
    assert caught.value.detail["reason"].startswith("unreadable model file")


def test_loading_and_predicting_need_no_scikit_learn(trained: TrainedModel, tmp_path: Path) -> None:
    # Given a model file on disk
    art = artifact.dump(trained, model_type="attendance", scope="org-1", version="v0003")
    path = tmp_path / "model.npz"
    path.write_bytes(art.files[artifact.MODEL_FILE])
    # When a fresh interpreter imports the predictor path, loads the model and predicts
    script = f"""
import sys
from datetime import datetime, UTC
from pathlib import Path
from rollcall.ml import artifact, predictor
from rollcall.ml.features import History
model = artifact.load(Path({str(path)!r}).read_bytes(), {art.sha256!r})
history = History.from_records([])
query = predictor.Query("s1", "c1", datetime(2026, 5, 4, 9, tzinfo=UTC))
out = predictor.Predictor(model, "v0003", predictor.OrgStats(0, 0)).predict(history, [query]).item(0)
assert out["method"] == "model", out
print(sorted(m for m in sys.modules if m.split(".")[0] in ("sklearn", "scipy", "joblib")))
"""
    env = {"PYTHONPATH": f"{ROOT / 'shared'}", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    # Then it works and neither scikit-learn, scipy nor joblib was imported
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
