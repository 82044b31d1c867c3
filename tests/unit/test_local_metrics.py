"""make metrics: the EMF documents of the functions' logs, summarised per metric and dimension."""

from __future__ import annotations

import json

import pytest

from rollcall_local.commands.metrics import emf_documents, percentile, series, table

pytestmark = pytest.mark.unit


def emf(at_ms: int, values: dict[str, object], dimensions: list[str] | None = None, **extra: str) -> str:
    names = [{"Name": name, "Unit": "Count"} for name in values]
    directive = {"Namespace": "Rollcall", "Dimensions": [["service", *(dimensions or [])]], "Metrics": names}
    return json.dumps(
        {"_aws": {"Timestamp": at_ms, "CloudWatchMetrics": [directive]}, "service": "s", **values, **extra}
    )


def test_metrics_are_read_per_name_and_dimension_within_the_window() -> None:
    # Given a log with EMF documents, other lines, and one document older than the window
    lines = [
        "START RequestId: 1 Version: $LATEST",
        emf(2_000_000, {"FacesPerPhoto": 3, "MarkingTime": [120.0, 80.0]}),
        emf(2_000_500, {"PredictionsByMethod": 4}, ["method"], method="heuristic"),
        '{"level": "INFO", "message": "not a metric"}',
        emf(1_000_000, {"FacesPerPhoto": 99}),
    ]

    found = series(emf_documents(lines), since=1_500)

    assert found["FacesPerPhoto"] == [(2_000.0, 3.0)]
    assert [v for _, v in found["MarkingTime"]] == [120.0, 80.0]
    assert found["PredictionsByMethod method=heuristic"] == [(2_000.5, 4.0)]
    assert "PredictionsByMethod method=heuristic        " in table(found)


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.95)) == (50.0, 95.0)
    assert percentile([7.0], 0.95) == 7.0
