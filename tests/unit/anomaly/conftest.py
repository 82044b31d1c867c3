"""Synthetic organisations for the anomaly unit tests (made once per session: about a second each)."""

from __future__ import annotations

import pytest

from testkit import synthetic
from testkit.synthetic import SyntheticHistory


@pytest.fixture(scope="session")
def injected_org() -> SyntheticHistory:
    """60 students over 8 weeks with one anomaly of every kind injected (about 28,000 records)."""
    return synthetic.generate("injected", students=60, weeks=8, seed=21)


@pytest.fixture(scope="session")
def clean_org() -> SyntheticHistory:
    return synthetic.generate("clean", students=60, weeks=8, seed=22, anomalies=False)
