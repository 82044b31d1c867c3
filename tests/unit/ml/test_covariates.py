"""Covariates (lead time, reminders, attributes): parsed, learnt, stored with the model, predicted
with, named as factors; first-timers predicted from priors plus covariates, and said so."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest

from rollcall.domain import class_id_for
from rollcall.ml import artifact, train
from rollcall.ml import history_csv as importer
from rollcall.ml.covariates import MISSING, Covariates, CovariateSpec
from rollcall.ml.features import FEATURES, History
from rollcall.ml.predictor import OrgStats, Predictor, Query
from rollcall.ml.train import Dataset, TrainedModel
from rollcall.platform import errors
from testkit.synthetic.appointments import AppointmentHistory, generate_appointments

COVARIATES = ("lead_days", "reminder_sent", "attr_age", "attr_area", "attr_chronic")


@pytest.fixture(scope="module")
def clinic() -> AppointmentHistory:
    return generate_appointments("clinic", people=4000, weeks=26, seed=21)


@pytest.fixture(scope="module")
def data(clinic: AppointmentHistory) -> Dataset:
    return train.build_dataset(clinic.records)


@pytest.fixture(scope="module")
def trained(data: Dataset) -> TrainedModel:
    return train.train(data)


def test_the_csv_accepts_lead_time_reminders_and_attributes() -> None:
    header = (
        "student_id,class_id,session_id,starts_at,ends_at,status,"
        + "scheduled_at,reminder_sent,attr_age,attr_area"
    )
    rows = [
        "p1,CENTRO,a1,2016-04-29T00:00:00Z,2016-04-29T00:30:00Z,absent,2016-04-20T10:00:00Z,yes,62,south",
        "p2,CENTRO,a2,2016-04-29T00:00:00Z,2016-04-29T00:30:00Z,present,2016-04-29T08:15:00Z,0,,north",
        "p3,CENTRO,a3,2016-04-29T00:00:00Z,2016-04-29T00:30:00Z,present,,,7.5,",
    ]
    parsed = importer.parse(("\n".join([header, *rows]) + "\n").encode())
    a, b, c = parsed.records
    assert (a.reminder_sent, a.attributes) == (True, (("age", 62.0), ("area", "south")))
    assert (a.starts_at - a.scheduled_at).days == 8  # type: ignore[operator]
    assert b.scheduled_at is not None and b.scheduled_at > b.starts_at  # same day, at midnight: accepted
    assert (b.reminder_sent, b.attributes) == (False, (("area", "north"),))
    assert (c.scheduled_at, c.reminder_sent, c.attributes) == (None, None, (("age", 7.5),))
    # the covariates are part of the content: the same attendance without them is another file
    plain = importer.parse(
        ("\n".join([header, *(r.rsplit(",", 4)[0] + ",,,," for r in rows)]) + "\n").encode()
    )
    assert plain.content_hash != parsed.content_hash

    bad = rows[0].replace(",yes,", ",perhaps,").replace("2016-04-20T10", "2016-05-20T10")
    with pytest.raises(errors.InvalidCsv) as caught:
        importer.parse(("\n".join([header, bad]) + "\n").encode())
    assert caught.value.detail["errors"] == [
        {"line": 2, "reason": "scheduled_at is more than a day after starts_at"}
    ]
    many = ",".join(f"attr_a{i}" for i in range(21))
    with pytest.raises(errors.InvalidCsv) as caught:
        importer.parse(f"student_id,class_id,session_id,starts_at,ends_at,status,{many}\n".encode())
    assert {"line": 1, "reason": "at most 20 attr_ columns (found 21)"} in caught.value.detail["errors"]


def test_missing_values_are_coded_apart_and_categories_by_their_rate() -> None:
    start = generate_appointments("tiny", 3, 1, 1).records[0].starts_at
    rows = [
        Covariates(start, start - timedelta(days=3), True, (("area", "south"), ("age", 30.0))),
        Covariates(start, None, None, (("area", "north"),)),
        Covariates(start, start + timedelta(hours=8), False, (("area", "north"),)),
    ]
    spec = CovariateSpec.fit(rows, np.array([False, True, True]))
    assert spec.names == ("lead_days", "reminder_sent", "attr_age", "attr_area")
    assert spec.categories == {"attr_area": ["south", "north"]}  # the lower rate first
    X = spec.matrix([*rows, Covariates(start, attributes=(("area", "unseen"),))])
    assert X.tolist() == [
        [3.0, 1.0, 30.0, 0.0],
        [MISSING, MISSING, MISSING, 1.0],
        [0.0, 0.0, MISSING, 1.0],  # booked after the (midnight) start: lead 0
        [MISSING, MISSING, MISSING, MISSING],
    ]
    assert CovariateSpec.from_json(spec.to_json()) == spec


def test_training_uses_the_covariates_present_and_they_carry_the_model(
    clinic: AppointmentHistory, data: Dataset, trained: TrainedModel
) -> None:
    # The features are the history's, then the covariates the data has
    assert data.features == (*FEATURES, *COVARIATES) == trained.features == trained.model.features
    assert data.counts["covariates"] == 5

    # They are used: without them the same records are predicted far worse
    without = train.train(train.build_dataset(clinic.without_covariates()))
    assert without.features == FEATURES
    assert trained.metrics["roc_auc"] > without.metrics["roc_auc"] + 0.1

    # The stored model codes covariates as training did; the metadata lists the features
    art = artifact.dump(trained, model_type="attendance", scope="clinic", version="v0001")
    loaded = artifact.load(art.files[artifact.MODEL_FILE], art.sha256)
    assert loaded.covariates == trained.model.covariates
    assert art.metadata["features"][-5:] == list(COVARIATES)
    assert art.metadata["covariates"]["names"] == list(COVARIATES)
    holdout = data.X[data.holdout]
    assert np.allclose(loaded.probability(holdout), trained.model.probability(holdout))

    # A model without covariates is compared on the same dataset (its own columns)
    assert data.X_for(without.model) is not None and data.X_for(without.model).shape[1] == len(FEATURES)  # type: ignore[union-attr]
    assert train.evaluate_model(without.model, data)["roc_auc"] == pytest.approx(
        without.metrics["roc_auc"], abs=0.02
    )


def test_predictions_read_the_query_covariates_and_name_them_as_factors(
    clinic: AppointmentHistory, trained: TrainedModel
) -> None:
    history = History.from_records(clinic.records)
    known = clinic.records[-1]
    starts = known.starts_at + timedelta(days=30)
    centro = class_id_for("CENTRO")
    queries = [
        Query(
            known.student_id,
            known.class_id,
            starts,
            scheduled_at=starts - timedelta(days=90),
            reminder_sent=False,
        ),
        Query(known.student_id, known.class_id, starts, scheduled_at=starts, reminder_sent=False),
        Query(
            "newcomer", centro, starts, scheduled_at=starts - timedelta(days=60), attributes=(("age", 30.0),)
        ),
        Query("nobody", centro, starts),
    ]
    predictor = Predictor(trained.model, "v0001", OrgStats.from_records(clinic.records))
    far, same_day, newcomer, nobody = predictor.predict(history, queries).items()

    # Booked 90 days ahead is predicted lower than booked the same day, and the lead time is named
    assert far["probability"] < same_day["probability"] - 0.1
    assert "lead_days" in [f["name"] for f in far["factors"]]
    lead = next(f for f in far["factors"] if f["name"] == "lead_days")
    assert (lead["value"], lead["effect"] < 0) == (90.0, True)
    assert any("Booked 90 days ahead" in text for text in far["recommendations"])
    # A known person's attributes are their latest recorded ones: their history plus covariates
    assert (far["method"], far["basis"]) == ("model", "history+covariates")

    # A first-timer: the class's and organisation's priors plus what the query says
    assert (newcomer["method"], newcomer["basis"]) == ("model", "priors+covariates")
    assert (nobody["method"], nobody["basis"]) == ("model", "priors")
    assert any("No history for this student yet" in text for text in newcomer["recommendations"])


def test_without_a_model_a_first_timer_gets_the_class_prior(clinic: AppointmentHistory) -> None:
    records = clinic.records
    history = History.from_records(records)
    starts = records[-1].starts_at + timedelta(days=1)
    org = OrgStats.from_records(records)
    centro = class_id_for("CENTRO")
    in_class = [r for r in records if r.class_id == centro]
    rate = (sum(r.attended for r in in_class) + 5 * (org.attended + 1) / (org.records + 2)) / (
        len(in_class) + 5
    )

    first, regular = (
        Predictor(None, None, org)
        .predict(
            history,
            [Query("newcomer", centro, starts), replace(Query(records[-1].student_id, centro, starts))],
        )
        .items()
    )
    assert (first["method"], first["basis"]) == ("heuristic", "priors")
    assert first["probability"] == pytest.approx(rate, abs=1e-4)
    assert first["factors"][0]["name"] == "rate_class_prior"
    assert regular["basis"] == "history"
