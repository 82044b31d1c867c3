"""The drift reference in metadata.json: what the anomaly scan reads instead of the model."""

from __future__ import annotations

import json

from rollcall.ml import artifact
from rollcall.ml.features import FEATURES, History
from rollcall.ml.history_csv import parse
from rollcall.ml.model import feature_drift
from rollcall.ml.train import TrainedModel
from testkit.synthetic import SyntheticHistory


def test_metadata_carries_the_feature_deciles_and_drift_reads_the_same_from_it(
    trained: TrainedModel, anomalous_org: SyntheticHistory
) -> None:
    stored = artifact.dump(trained, model_type="attendance", scope="o", version="v0001")
    metadata = json.loads(stored.files[artifact.METADATA_FILE])
    reference = metadata["drift_reference"]
    assert reference["features"] == list(FEATURES)
    assert reference["edges"] == trained.model.reference_edges.tolist()
    assert reference["shares"] == trained.model.reference_shares.tolist()

    # The PSI from the metadata alone equals the model's own, on drifted records
    recent = anomalous_org.records[-3000:]
    X = History.from_records(anomalous_org.records).features(
        [r.student_id for r in recent], [r.class_id for r in recent], [r.starts_at for r in recent]
    )
    assert feature_drift(reference, X) == trained.model.drift(X)
    assert max(feature_drift(reference, X).values()) > 0.2  # the evening classes of the drift anomaly


def test_an_import_names_the_first_line_of_each_session() -> None:
    parsed = parse(
        "student_id,class_id,session_id,starts_at,ends_at,status\n"
        "a,m,s1,2026-09-07T09:00:00Z,2026-09-07T10:00:00Z,present\n"
        "a,m,s2,2026-09-08T09:00:00Z,2026-09-08T10:00:00Z,present\n"
        "b,m,s1,2026-09-07T09:00:00Z,2026-09-07T10:00:00Z,absent\n"
    )
    assert parsed.session_lines == {"s1": 2, "s2": 3}
