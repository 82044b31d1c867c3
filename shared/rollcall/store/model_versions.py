"""The model registry (DynamoDB) of each organisation: its versions and its state.

Registry items, in the ModelRegistryTable, every key scoped by organisation (``o``) and model
type (``t``, only ``attendance`` exists)::

    version  pk ORG#o#MODEL#t  sk VERSION#<v>   one per trained version: status candidate |
                                                archived, the artifact's sha256 and S3 keys, the
                                                whole metadata.json (metrics, params, features,
                                                data hash, libraries, drift reference), lineage
                                                (job, parent version, who) and the activation
                                                decision made when it was trained
    state    pk ORG#o#MODEL#t  sk STATE         which version is active (and its sha256), the
                                                champion/challenger split, the last training, the
                                                anomaly scan's drift report, the usable data counts

The state item is the one source of truth for which version is active: a version's stored
status is ``candidate`` or ``archived``, and it *reads* ``active`` when the state names it. So an
activation is one conditional write of one item (``attribute_not_exists(active) OR active =
:expected`` for a training job's automatic activation: if another version was activated while
the job trained, the job's activation fails instead of overwriting it).

Artifacts (``model.npz``, ``metadata.json``) are in S3 (``rollcall.store.artifacts``); archived
versions keep their files (a rollback to an archived version stays possible). Whoever loads
``model.npz`` checks its sha256 against the version item before using it.

For the anomaly scan (drift): :func:`active_metadata` gives the active version's metadata.json as
a dict (``drift_reference`` holds the per-feature decile edges and shares of the latest training
weeks, see ``rollcall.ml.artifact``), and :func:`report_drift` records a drift report on the
state item, which the weekly retrain reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rollcall.domain import iso, parse_time
from rollcall.ml import policy as rules
from rollcall.platform.errors import NotFound
from rollcall.store.table import OrgRecords

ATTENDANCE = "attendance"
MODEL_TYPES = (ATTENDANCE,)
STATE_SK = "STATE"
VERSION_PREFIX = "VERSION#"


def check_model_type(model_type: str) -> str:
    if model_type not in MODEL_TYPES:
        raise NotFound(
            f"no model type {model_type!r}; the model types are: {', '.join(MODEL_TYPES)}",
            code="MODEL_TYPE_NOT_FOUND",
        )
    return model_type


@dataclass(frozen=True)
class ModelVersion:
    """One registered version (``status`` as stored: candidate or archived)."""

    model_type: str
    version: str
    status: str
    created_at: datetime
    created_by: str
    job_id: str | None
    sha256: str
    artifact: dict[str, Any]  # {"bucket", "prefix", "files": {name: {"key", "s3_version_id", "bytes"}}}
    metadata: dict[str, Any]  # the metadata.json of the artifact
    trained_records: int
    parent_version: str | None  # the version active when this one was trained
    evaluation: dict[str, Any]  # the activation decision made after training
    archived_at: datetime | None = None

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.metadata.get("metrics", {}))

    def status_given(self, state: RegistryState) -> str:
        return rules.ACTIVE if state.active == self.version else self.status

    def rule_view(self, state: RegistryState) -> rules.Version:
        """What the registry rules (rollcall.ml.policy) need of this version."""
        return rules.Version(
            self.version, self.status_given(state), self.created_at, self.metrics, self.trained_records
        )


@dataclass(frozen=True)
class RegistryState:
    """The state item: the active version, traffic split, training and drift bookkeeping."""

    active: str | None = None
    active_sha256: str | None = None
    activated_at: datetime | None = None
    activated_by: str | None = None
    challenger: str | None = None
    challenger_sha256: str | None = None
    share: float = 0.0
    traffic_updated_at: datetime | None = None
    traffic_updated_by: str | None = None
    last_trained_at: datetime | None = None
    drift_reported_at: datetime | None = None
    drift_evidence: dict[str, Any] = field(default_factory=dict)
    data_stats: dict[str, Any] = field(default_factory=dict)  # {"usable_records", "attended", "as_of"}
    last_retrain_check: dict[str, Any] = field(default_factory=dict)  # {"at", "retrain", "reason", "job_id"}

    @property
    def drift_pending(self) -> bool:
        """Drift was reported after the latest training (so retraining has not answered it yet)."""
        if self.drift_reported_at is None:
            return False
        return self.last_trained_at is None or self.drift_reported_at > self.last_trained_at


def _time(value: Any) -> datetime | None:
    return parse_time(value) if value else None


def _state_from_item(item: dict[str, Any] | None) -> RegistryState:
    if not item:
        return RegistryState()
    return RegistryState(
        active=item.get("active"),
        active_sha256=item.get("active_sha256"),
        activated_at=_time(item.get("activated_at")),
        activated_by=item.get("activated_by"),
        challenger=item.get("challenger"),
        challenger_sha256=item.get("challenger_sha256"),
        share=float(item.get("share") or 0.0),
        traffic_updated_at=_time(item.get("traffic_updated_at")),
        traffic_updated_by=item.get("traffic_updated_by"),
        last_trained_at=_time(item.get("last_trained_at")),
        drift_reported_at=_time(item.get("drift_reported_at")),
        drift_evidence=dict(item.get("drift_evidence") or {}),
        data_stats=dict(item.get("data_stats") or {}),
        last_retrain_check=dict(item.get("last_retrain_check") or {}),
    )


def _version_from_item(item: dict[str, Any]) -> ModelVersion:
    return ModelVersion(
        model_type=item["model_type"],
        version=item["version"],
        status=item["status"],
        created_at=parse_time(item["created_at"]),
        created_by=item.get("created_by", ""),
        job_id=item.get("job_id"),
        sha256=item["sha256"],
        artifact=dict(item.get("artifact") or {}),
        metadata=dict(item.get("metadata") or {}),
        trained_records=int(item.get("trained_records", 0)),
        parent_version=item.get("parent_version"),
        evaluation=dict(item.get("evaluation") or {}),
        archived_at=_time(item.get("archived_at")),
    )


class ModelRegistry:
    """The registry items of one organisation (keys checked by :class:`OrgRecords`)."""

    def __init__(self, org: str, table: str, *, client: Any = None) -> None:
        self.items = OrgRecords(org, table, client=client)
        self.org = self.items.org

    def _pk(self, model_type: str) -> str:
        return self.items.key("MODEL", check_model_type(model_type))

    # --- reads ---------------------------------------------------------------------------------

    def state(self, model_type: str) -> RegistryState:
        return _state_from_item(self.items.get(self._pk(model_type), STATE_SK, consistent=True))

    def version(self, model_type: str, version: str) -> ModelVersion | None:
        item = self.items.get(self._pk(model_type), VERSION_PREFIX + version, consistent=True)
        return _version_from_item(item) if item else None

    def require(self, model_type: str, version: str) -> ModelVersion:
        found = self.version(model_type, version)
        if found is None:
            raise NotFound(f"no version {version} of the {model_type} model", code="VERSION_NOT_FOUND")
        return found

    def versions(self, model_type: str) -> list[ModelVersion]:
        """Every version, newest first."""
        items = self.items.query(
            self._pk(model_type), sk_prefix=VERSION_PREFIX, newest_first=True, consistent=True
        )
        return [_version_from_item(i) for i in items]

    # --- writes --------------------------------------------------------------------------------

    def register(self, entry: ModelVersion) -> bool:
        """Store a new version; False when its name is taken (a concurrent job took it first)."""
        item: dict[str, Any] = {
            "pk": self._pk(entry.model_type),
            "sk": VERSION_PREFIX + entry.version,
            "kind": "model_version",
            "model_type": entry.model_type,
            "version": entry.version,
            "status": entry.status,
            "created_at": iso(entry.created_at),
            "created_by": entry.created_by,
            "sha256": entry.sha256,
            "artifact": entry.artifact,
            "metadata": entry.metadata,
            "trained_records": entry.trained_records,
            "evaluation": entry.evaluation,
        }
        for name in ("job_id", "parent_version"):
            if getattr(entry, name):
                item[name] = getattr(entry, name)
        return self.items.put(item, if_absent=True)

    def update_version(self, model_type: str, version: str, **fields: Any) -> None:
        """Set attributes of a registered version (its artifact files, its evaluation)."""
        self.items.update(
            self._pk(model_type), VERSION_PREFIX + version, fields, condition="attribute_exists(pk)"
        )

    def set_status(self, model_type: str, version: str, status: str, at: datetime) -> None:
        """Mark a version candidate or archived (the state decides which one is active)."""
        changes: dict[str, Any] = {"status": status}
        remove: tuple[str, ...] = ()
        if status == rules.ARCHIVED:
            changes["archived_at"] = iso(at)
        else:
            remove = ("archived_at",)
        self.items.update(
            self._pk(model_type),
            VERSION_PREFIX + version,
            changes,
            remove=remove,
            condition="attribute_exists(pk)",
        )

    def activate(
        self,
        model_type: str,
        entry: ModelVersion,
        *,
        actor: str,
        at: datetime,
        only_if_active: str | None = None,
        conditional: bool = False,
    ) -> RegistryState:
        """Make ``entry`` the active version; the new state.

        ``conditional``: only if ``only_if_active`` is still the active version (None: if none is
        active); ConcurrentUpdate otherwise. A challenger equal to the new active one is cleared;
        an archived version becomes a candidate again (it is in use).
        """
        condition, values = None, {}
        if conditional and only_if_active is None:
            condition = "attribute_not_exists(active)"
        elif conditional:
            condition, values = "active = :expected", {":expected": only_if_active}
        item = self.items.update(
            self._pk(model_type),
            STATE_SK,
            {
                "kind": "model_state",
                "active": entry.version,
                "active_sha256": entry.sha256,
                "activated_at": iso(at),
                "activated_by": actor,
            },
            condition=condition,
            values=values,
        )
        state = _state_from_item(item)
        if state.challenger == entry.version:
            state = self.set_traffic(model_type, None, 0.0, actor=actor, at=at)
        if entry.status != rules.CANDIDATE:
            self.set_status(model_type, entry.version, rules.CANDIDATE, at)
        return state

    def set_traffic(
        self, model_type: str, challenger: ModelVersion | None, share: float, *, actor: str, at: datetime
    ) -> RegistryState:
        """Send ``share`` of students (stable per student) to ``challenger``; None clears the split."""
        changes: dict[str, Any] = {
            "kind": "model_state",
            "share": share if challenger else 0.0,
            "traffic_updated_at": iso(at),
            "traffic_updated_by": actor,
        }
        remove: tuple[str, ...] = ()
        if challenger is None:
            remove = ("challenger", "challenger_sha256")
        else:
            changes |= {"challenger": challenger.version, "challenger_sha256": challenger.sha256}
        item = self.items.update(self._pk(model_type), STATE_SK, changes, remove=remove)
        return _state_from_item(item)

    def note(self, model_type: str, **fields: Any) -> RegistryState:
        """Record bookkeeping on the state item: ``last_trained_at`` (a datetime), ``data_stats``,
        ``last_retrain_check``, ``drift_reported_at`` (a datetime) with ``drift_evidence``."""
        changes = {"kind": "model_state"}
        changes |= {k: iso(v) if isinstance(v, datetime) else v for k, v in fields.items()}
        return _state_from_item(self.items.update(self._pk(model_type), STATE_SK, changes))


# --- what the anomaly scan calls -------------------------------------------------------------------


def active_metadata(
    org: str, model_type: str = ATTENDANCE, *, table: str, client: Any = None
) -> dict[str, Any] | None:
    """The active version's metadata.json as a dict, or None when no version is active.

    It carries ``version``, ``created_at``, ``features`` (the column order), ``metrics``,
    ``data_hash``, ``holdout_from`` and ``drift_reference``: ``{"features": [...], "edges":
    [[9 inner decile edges] per feature], "shares": [[10 shares] per feature], "window": ...}``,
    the distribution of each feature over the latest training weeks. Compare the features of
    recent records (``rollcall.ml.features.History``) with
    ``rollcall.ml.model.feature_drift(reference, X)`` (PSI per feature; above 0.2 reads as drift).
    """
    registry = ModelRegistry(org, table, client=client)
    state = registry.state(model_type)
    if state.active is None:
        return None
    entry = registry.version(model_type, state.active)
    return dict(entry.metadata) if entry else None


def report_drift(
    org: str,
    model_type: str = ATTENDANCE,
    *,
    evidence: dict[str, Any],
    at: datetime,
    table: str,
    client: Any = None,
) -> None:
    """Record that the anomaly scan found drift (the weekly retrain then retrains the model).

    ``evidence``: the numbers behind the report (e.g. PSI per feature, the window); stored as is.
    """
    ModelRegistry(org, table, client=client).note(model_type, drift_reported_at=at, drift_evidence=evidence)
