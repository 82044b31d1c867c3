"""Registry rules: version names, activation, retention, routing, retraining."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rollcall.ml import policy as registry
from rollcall.ml.policy import ACTIVE, ARCHIVED, CANDIDATE, Version

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def test_versions_are_numbered_in_order() -> None:
    assert registry.next_version([]) == "v0001"
    assert registry.next_version(["v0001", "v0010", "v0002"]) == "v0011"
    assert sorted(["v0010", "v0002", "v0100"]) == ["v0002", "v0010", "v0100"]  # text order is number order
    with pytest.raises(ValueError, match="not a version name"):
        registry.version_number("latest")


@pytest.mark.parametrize(
    ("candidate", "active", "activate", "why"),
    [
        ({"roc_auc": 0.80, "ece": 0.02}, None, True, "no active version"),
        ({"roc_auc": 0.81, "ece": 0.02}, {"roc_auc": 0.80, "ece": 0.015}, True, "beats"),
        ({"roc_auc": 0.81, "ece": 0.03}, {"roc_auc": 0.80, "ece": 0.015}, False, "ECE"),
        ({"roc_auc": 0.80, "ece": 0.01}, {"roc_auc": 0.80, "ece": 0.02}, False, "does not beat"),
        ({"roc_auc": 0.79, "ece": 0.01}, {"roc_auc": 0.80, "ece": 0.02}, False, "does not beat"),
        ({"roc_auc": 0.52, "ece": 0.01}, None, False, "useful minimum"),
        ({"roc_auc": float("nan"), "ece": 0.01}, None, False, "useful minimum"),
    ],
)
def test_activation_needs_a_better_auc_and_no_worse_calibration(
    candidate: dict[str, float], active: dict[str, float] | None, activate: bool, why: str
) -> None:
    decision = registry.activation(candidate, active)
    assert decision.yes is activate
    assert why in decision.reason


def _versions(n: int, active: int) -> list[Version]:
    return [
        Version(
            registry.version_name(i), ACTIVE if i == active else CANDIDATE, NOW - timedelta(days=n - i), {}
        )
        for i in range(1, n + 1)
    ]


def test_the_last_five_and_the_active_version_are_kept() -> None:
    # Given eight versions, the second one active (a rollback)
    versions = _versions(8, active=2)
    # Then the first and third are archived, the newest five and the active one are kept
    assert registry.to_archive(versions) == ["v0003", "v0001"]
    # and versions already archived are not archived again
    done = [
        Version(v.version, ARCHIVED, v.created_at, {}) if v.version in ("v0001", "v0003") else v
        for v in versions
    ]
    assert registry.to_archive(done) == []
    assert registry.to_archive(_versions(5, active=5)) == []


def test_challenger_routing_is_stable_per_student_and_close_to_the_share() -> None:
    students = [f"s{i:05d}" for i in range(20_000)]
    # When 20 % of the traffic goes to a challenger
    first = [registry.route(s, "v0003", "v0004", 0.2) for s in students]
    again = [registry.route(s, "v0003", "v0004", 0.2) for s in students]
    # Then each student always gets the same version, and about a fifth get the challenger
    assert first == again
    assert first.count("v0004") / len(students) == pytest.approx(0.2, abs=0.01)
    # and another challenger gets another fifth (not always the same students)
    other = {s for s in students if registry.route(s, "v0003", "v0005", 0.2) == "v0005"}
    chosen = {s for s, v in zip(students, first, strict=True) if v == "v0004"}
    assert len(other & chosen) / len(chosen) == pytest.approx(0.2, abs=0.03)
    # and without a challenger, or with no share, the champion answers
    assert registry.route("s1", "v0003", None, 0.5) == "v0003"
    assert registry.route("s1", "v0003", "v0004", 0.0) == "v0003"
    assert registry.route("s1", "v0003", "v0004", 1.0) == "v0004"


def test_retraining_when_stale_grown_drifted_or_missing() -> None:
    active = Version("v0004", ACTIVE, NOW - timedelta(days=10), {}, trained_records=10_000)
    assert registry.retrain(NOW, None, 500, drift_reported=False).reason == "no active model"
    old = Version("v0004", ACTIVE, NOW - timedelta(days=31), {}, trained_records=10_000)
    assert "31 days old" in registry.retrain(NOW, old, 10_100, drift_reported=False).reason
    grown = registry.retrain(NOW, active, 12_000, drift_reported=False)
    assert grown.yes
    assert "grew 20.0%" in grown.reason
    assert registry.retrain(NOW, active, 10_100, drift_reported=True).yes
    skip = registry.retrain(NOW, active, 11_500, drift_reported=False)
    assert not skip.yes
    assert skip.reason == "active v0004 is 10 days old, data grew 15.0% (under 20%), no drift reported"


def test_the_useful_minimum_is_a_setting_and_a_refusal_names_the_active_score() -> None:
    candidate = {"roc_auc": 0.549, "ece": 0.01}
    refused = registry.activation(candidate, {"roc_auc": 0.61, "ece": 0.02})
    assert not refused.yes
    assert refused.reason == (
        "ROC-AUC 0.5490 is below the useful minimum 0.55 "
        "(the active version scores 0.6100 on the same holdout)"
    )
    assert registry.activation(candidate, None, min_auc=0.54).yes
    lower = registry.activation(candidate, None, min_auc=0.6)
    assert lower.reason == "ROC-AUC 0.5490 is below the useful minimum 0.6 (no version is active)"
