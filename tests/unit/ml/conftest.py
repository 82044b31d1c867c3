"""Shared, session-scoped material for the ml unit tests (made once: generation and training take seconds)."""

from __future__ import annotations

import pytest

from rollcall.ml import train
from rollcall.ml.features import History
from rollcall.ml.train import Dataset, TrainedModel
from testkit import synthetic
from testkit.synthetic import SyntheticHistory


@pytest.fixture(scope="session")
def clean_org() -> SyntheticHistory:
    """A clean organisation: 80 students over 10 weeks (about 22,000 records)."""
    return synthetic.generate("clean", students=80, weeks=10, seed=11, anomalies=False)


@pytest.fixture(scope="session")
def anomalous_org() -> SyntheticHistory:
    """The same size with every kind of anomaly injected."""
    return synthetic.generate("anomalous", students=80, weeks=10, seed=12, anomalies=True)


@pytest.fixture(scope="session")
def dataset(clean_org: SyntheticHistory) -> Dataset:
    return train.build_dataset(clean_org.records)


@pytest.fixture(scope="session")
def trained(dataset: Dataset) -> TrainedModel:
    return train.train(dataset)


@pytest.fixture(scope="session")
def clean_history(clean_org: SyntheticHistory) -> History:
    return History.from_records(clean_org.records)
