"""Model registry rules, as pure functions: versions, activation, retention, routing, retraining.

The registry's storage (one DynamoDB item per version) lives in ``rollcall.store``; these are the
decisions it applies, in the spirit of MLflow's and SageMaker's registries:

- Versions are ``v0001``, ``v0002``, ... per (type, scope): sortable as text and as numbers.
- A version's status is ``candidate``, ``active`` or ``archived``; at most one is active.
- Activation (:func:`activation`): a candidate is activated when nothing is active, or when it
  *beats* the active version on the same holdout: a higher ROC-AUC (by more than
  ``AUC_MIN_GAIN``) and an ECE no worse than the active one's plus ``ECE_TOLERANCE``. A candidate
  with ROC-AUC below the useful minimum (``MIN_USEFUL_AUC`` by default; the train function's
  ``MIN_USEFUL_AUC`` setting) is never activated, and the reason says so beside the active
  version's ROC-AUC on the same holdout. A manual activation (rollback)
  bypasses this.
- Retention (:func:`to_archive`): the newest ``KEEP_VERSIONS`` versions and the active one stay;
  older ones are archived (their files may then be moved to colder storage).
- Champion/challenger (:func:`route`): a student goes to the challenger when a hash of
  (challenger version, student id) falls below the share: stable for a student while the traffic
  setting stays, independent between challengers, and close to the share over many students.
- Retraining (:func:`retrain`): when nothing is active, the active model is older than
  ``MAX_AGE``, the usable data grew by ``GROWTH`` since it was trained, or drift was reported.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

CANDIDATE, ACTIVE, ARCHIVED = "candidate", "active", "archived"
KEEP_VERSIONS = 5
AUC_MIN_GAIN = 0.0
ECE_TOLERANCE = 0.01
MIN_USEFUL_AUC = 0.55
MAX_AGE = timedelta(days=30)
GROWTH = 0.20


@dataclass(frozen=True)
class Version:
    """What the rules need to know about a registered version."""

    version: str
    status: str
    created_at: datetime
    metrics: dict[str, Any]
    trained_records: int = 0


@dataclass(frozen=True)
class Decision:
    yes: bool
    reason: str


def version_name(number: int) -> str:
    return f"v{number:04d}"


def version_number(name: str) -> int:
    if not (name.startswith("v") and name[1:].isdigit()):
        raise ValueError(f"not a version name: {name!r}")
    return int(name[1:])


def next_version(existing: Iterable[str]) -> str:
    """The name after the highest existing version (``v0001`` for the first)."""
    return version_name(max((version_number(v) for v in existing), default=0) + 1)


def activation(
    candidate: dict[str, Any], active: dict[str, Any] | None, *, min_auc: float = MIN_USEFUL_AUC
) -> Decision:
    """Whether a candidate with these holdout metrics replaces the active version's (same holdout)."""
    auc, ece = candidate["roc_auc"], candidate["ece"]
    if not auc >= min_auc:  # also refuses NaN
        beside = "no version is active"
        if active is not None:
            beside = f"the active version scores {active['roc_auc']:.4f} on the same holdout"
        return Decision(False, f"ROC-AUC {auc:.4f} is below the useful minimum {min_auc} ({beside})")
    if active is None:
        return Decision(True, "no active version")
    if not auc > active["roc_auc"] + AUC_MIN_GAIN:
        return Decision(False, f"ROC-AUC {auc:.4f} does not beat the active {active['roc_auc']:.4f}")
    if ece > active["ece"] + ECE_TOLERANCE:
        return Decision(
            False, f"ECE {ece:.4f} is worse than the active {active['ece']:.4f} by more than {ECE_TOLERANCE}"
        )
    return Decision(
        True, f"ROC-AUC {auc:.4f} beats {active['roc_auc']:.4f}; ECE {ece:.4f} vs {active['ece']:.4f}"
    )


def to_archive(versions: Sequence[Version]) -> list[str]:
    """Versions to archive: all but the newest KEEP_VERSIONS and the active one."""
    newest = sorted(versions, key=lambda v: version_number(v.version), reverse=True)
    keep = {v.version for v in newest[:KEEP_VERSIONS]} | {v.version for v in versions if v.status == ACTIVE}
    return [v.version for v in newest if v.version not in keep and v.status != ARCHIVED]


def route(student_id: str, champion: str, challenger: str | None, share: float) -> str:
    """The version that answers for this student under a champion/challenger split."""
    if not challenger or share <= 0:
        return champion
    digest = hashlib.sha256(f"{challenger}:{student_id}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
    return challenger if position < share else champion


def retrain(now: datetime, active: Version | None, usable_records: int, drift_reported: bool) -> Decision:
    """Whether the weekly schedule should train now, and why (or why not)."""
    if active is None:
        return Decision(True, "no active model")
    age = now - active.created_at
    if age > MAX_AGE:
        return Decision(True, f"active {active.version} is {age.days} days old (over {MAX_AGE.days})")
    growth = (usable_records - active.trained_records) / max(active.trained_records, 1)
    if growth >= GROWTH:
        return Decision(
            True, f"usable records grew {growth:.1%} since {active.version} (at least {GROWTH:.0%})"
        )
    if drift_reported:
        return Decision(True, "the anomaly scan reported drift")
    return Decision(
        False,
        f"active {active.version} is {age.days} days old, data grew {growth:.1%} "
        f"(under {GROWTH:.0%}), no drift reported",
    )
