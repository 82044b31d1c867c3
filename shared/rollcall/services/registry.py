"""The model registry as users see it: models, versions, activation (and rollback), traffic
splits, stage history, and comparing versions on the outcomes of their predictions.

What MLflow's and SageMaker's registries offer, for Rollcall's models:

- every version with its lineage (the training job, who asked, the data hash, the version that
  was active when it was trained), its metrics, params, features and library versions, its
  artifact's location and sha256, and the activation decision made after training;
- activation of any version by an admin (a rollback is the activation of an older version);
  the artifact is checked against its sha256 first, and a version whose artifact fails is
  refused (409 ARTIFACT_INTEGRITY);
- a champion/challenger split (``PUT .../traffic``), stable per student;
- the stage history: every registration, activation, archiving and traffic change, with who and
  when, in the organisation's audit log (subject ``model:<type>``);
- a comparison of versions (and of champion and challenger) on the attendance that followed the
  predictions they made.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from rollcall.ml import artifact
from rollcall.ml import policy as rules
from rollcall.ml.features import FEATURES
from rollcall.platform import breaker
from rollcall.platform.auth import Principal
from rollcall.platform.errors import (
    ArtifactIntegrityError,
    ConcurrentUpdate,
    Conflict,
    InvalidInput,
    NotFound,
    RollcallError,
)
from rollcall.platform.observability import MetricUnit, count, logger
from rollcall.platform.settings import ModelSettings
from rollcall.services.alerts import Alert, send_alert
from rollcall.store.artifacts import ArtifactStore
from rollcall.store.attendance import AttendanceRepo
from rollcall.store.audit import AuditEntry, AuditLog
from rollcall.store.model_versions import (
    MODEL_TYPES,
    ModelRegistry,
    ModelVersion,
    RegistryState,
    check_model_type,
)
from rollcall.store.prediction_log import PredictionRepo, StoredPrediction
from rollcall.store.table import OrgRecords

if TYPE_CHECKING:
    from rollcall.ml.model import AttendanceModel
    from rollcall.ml.train import Dataset, TrainedModel
    from rollcall.store.job_log import Job

MAX_COMPARE_DAYS = 90
REGISTER_ATTEMPTS = 5  # version names tried when concurrent jobs race for the next one


def audit_subject(model_type: str) -> str:
    return f"model:{model_type}"


def audit(
    records: OrgRecords, actor: str, action: str, model_type: str, at: datetime, **details: Any
) -> None:
    AuditLog(records).append(
        actor=actor, action=action, subject=audit_subject(model_type), at=at, details=details
    )


@dataclass
class RegistryService:
    """The registry of one organisation, with the stores it needs."""

    records: OrgRecords  # the audit log and the attendance outcomes
    registry: ModelRegistry
    artifacts: ArtifactStore
    alert: Callable[[Alert], Any]  # where an artifact that fails its check is reported

    @classmethod
    def of(cls, settings: ModelSettings, org: str) -> RegistryService:
        return cls(
            records=OrgRecords(org, settings.records_table),
            registry=ModelRegistry(org, settings.registry_table),
            artifacts=ArtifactStore(settings.model_bucket),
            alert=lambda alert: send_alert(alert, settings.alert_queue_url),
        )

    @property
    def bucket(self) -> str:
        """The model bucket (versions' artifacts are named relative to it)."""
        return self.artifacts.bucket

    def models(self) -> list[tuple[str, RegistryState, list[ModelVersion]]]:
        """Every model type with its state and versions (newest first)."""
        return [(t, *self.overview(t)) for t in MODEL_TYPES]

    def overview(self, model_type: str) -> tuple[RegistryState, list[ModelVersion]]:
        check_model_type(model_type)
        return self.registry.state(model_type), self.registry.versions(model_type)

    def version(self, model_type: str, version: str) -> tuple[RegistryState, ModelVersion]:
        """The registry state and one version (404 VERSION_NOT_FOUND)."""
        check_model_type(model_type)
        return self.registry.state(model_type), self.registry.require(model_type, version)

    def verify(self, entry: ModelVersion) -> None:
        """Check the stored artifact of ``entry`` against its sha256 (ArtifactIntegrityError if not)."""
        key = artifact.prefix(entry.model_type, self.registry.org, entry.version) + artifact.MODEL_FILE
        try:
            data = self.artifacts.get(key)
        except NotFound:
            raise ArtifactIntegrityError({"reason": "the artifact is missing", "key": key}) from None
        artifact.load(data, entry.sha256)

    def _verified(
        self, who: Principal, entry: ModelVersion, *, now: datetime, refused: str, reason: str | None = None
    ) -> None:
        """Check ``entry``'s artifact before it serves anyone; a refusal is alerted, audit-logged
        (so the model's history shows it) and answered 409 ARTIFACT_INTEGRITY."""
        try:
            self.verify(entry)
        except ArtifactIntegrityError as e:
            report_integrity(
                self.registry.org,
                entry.model_type,
                entry.version,
                entry.sha256,
                e,
                now=now,
                source="train",
                alert=self.alert,
            )
            detail = e.detail if isinstance(e.detail, dict) else {"reason": str(e.detail)}
            audit(
                self.records,
                who.sub,
                refused,
                entry.model_type,
                now,
                version=entry.version,
                reason=reason or "",
                integrity=str(detail.get("reason", "")),
            )
            raise Conflict(
                {"reason": "the version's artifact failed its integrity check", "version": entry.version},
                code="ARTIFACT_INTEGRITY",
            ) from e

    def activate(
        self,
        who: Principal,
        model_type: str,
        version: str,
        *,
        reason: str | None,
        now: datetime,
    ) -> tuple[RegistryState, str | None]:
        """Activate ``version`` (a rollback when it is older); the new state and the previous active."""
        check_model_type(model_type)
        entry = self.registry.require(model_type, version)
        self._verified(who, entry, now=now, refused="model.activation_refused", reason=reason)
        previous = self.registry.state(model_type).active
        state = self.registry.activate(model_type, entry, actor=who.sub, at=now)
        audit(
            self.records,
            who.sub,
            "model.activated",
            model_type,
            now,
            version=version,
            previous=previous,
            reason=reason or "manual activation",
            automatic=False,
        )
        count("ModelActivated")
        active_auc(entry)
        return state, previous

    def set_traffic(
        self, who: Principal, model_type: str, challenger: str | None, share: float, *, now: datetime
    ) -> RegistryState:
        """Route ``share`` of students to ``challenger`` (None or a share of 0 ends the split)."""
        check_model_type(model_type)
        if not 0.0 <= share <= 1.0:
            raise InvalidInput("share must be between 0 and 1", code="INVALID_SHARE")
        state = self.registry.state(model_type)
        entry = None
        if challenger and share > 0:
            if state.active is None:
                raise Conflict("there is no active version to split traffic with", code="NO_ACTIVE_MODEL")
            if challenger == state.active:
                raise InvalidInput("the challenger is the active version", code="INVALID_CHALLENGER")
            entry = self.registry.require(model_type, challenger)
            if entry.status == rules.ARCHIVED:
                raise Conflict(
                    f"{challenger} is archived: activate it or pick another", code="VERSION_ARCHIVED"
                )
            self._verified(
                who, entry, now=now, refused="model.traffic_refused", reason=f"challenger at {share}"
            )
        state = self.registry.set_traffic(model_type, entry, share, actor=who.sub, at=now)
        audit(
            self.records,
            who.sub,
            "model.traffic_changed",
            model_type,
            now,
            champion=state.active,
            challenger=state.challenger,
            share=state.share,
        )
        return state

    def history(self, model_type: str) -> list[AuditEntry]:
        check_model_type(model_type)
        return AuditLog(self.records).for_subject(audit_subject(model_type))

    def compare(self, model_type: str, *, days: int, now: datetime) -> list[dict[str, Any]]:
        """Per (version, variant, method): the predictions of the last ``days`` whose session has
        happened and has a record, scored against that record (Brier, log loss, ROC-AUC)."""
        check_model_type(model_type)
        if not 1 <= days <= MAX_COMPARE_DAYS:
            raise InvalidInput(f"days must be between 1 and {MAX_COMPARE_DAYS}", code="INVALID_WINDOW")
        latest: dict[tuple[str, str, str | None], StoredPrediction] = {}  # (session, student, version)
        for p in PredictionRepo(self.records).made_between(now - timedelta(days=days), now):
            if p.model_type == model_type and p.session_id and p.starts_at < now:
                latest[(p.session_id, p.student_id, p.model_version)] = p  # the latest of each
        outcomes = _outcomes(AttendanceRepo(self.records), {s for s, _, _ in latest})
        groups: dict[tuple[str | None, str, str], list[tuple[float, bool]]] = defaultdict(list)
        for p in latest.values():
            attended = outcomes.get((p.session_id or "", p.student_id))
            if attended is not None:
                groups[(p.model_version, p.variant, p.method)].append((p.probability, attended))
        return [
            {"model_version": v, "variant": variant, "method": method, **_scores(pairs)}
            for (v, variant, method), pairs in sorted(groups.items(), key=lambda kv: str(kv[0]))
        ]


def _outcomes(attendance: AttendanceRepo, session_ids: set[str]) -> dict[tuple[str, str], bool]:
    from rollcall.ml.features import USABLE

    out = {}
    for session_id in session_ids:
        for r in attendance.for_session(session_id):
            if r.status in USABLE:
                out[(r.session_id, r.student_id)] = r.attended
    return out


def _scores(pairs: list[tuple[float, bool]]) -> dict[str, Any]:
    import numpy as np

    from rollcall.ml.evaluate import metrics

    p = np.array([x for x, _ in pairs])
    y = np.array([a for _, a in pairs], dtype=bool)
    m = metrics(y, p)
    auc = m["roc_auc"]
    return {
        "predictions": len(pairs),
        "observed_rate": round(m["observed_rate"], 4),
        "mean_probability": round(m["predicted_rate"], 4),
        "brier": round(m["brier"], 4),
        "log_loss": round(m["log_loss"], 4),
        "roc_auc": None if auc != auc else round(auc, 4),  # NaN when only one outcome occurred
    }


@dataclass(frozen=True)
class VersionPublisher:
    """What a training job does to the registry once a model is trained: judge the active version
    on the same holdout, register the new version (the name taken with a conditional write) with
    its files, activate it if it won (conditionally on the active version it was compared with),
    and archive all but the newest versions. Every step is audit-logged with the job as actor."""

    records: OrgRecords
    registry: ModelRegistry
    artifacts: ArtifactStore
    alert: Callable[[Alert], Any]
    clock: Callable[[], datetime]

    def active_on(self, data: Dataset, active: ModelVersion | None) -> dict[str, Any] | None:
        """The active version's metrics on this holdout, or None (none active, or unusable)."""
        from rollcall.ml.train import evaluate_model

        if active is None:
            return None
        key = artifact.prefix(active.model_type, self.records.org, active.version) + artifact.MODEL_FILE
        try:
            model = artifact.load(self.artifacts.get(key), active.sha256)
        except (ArtifactIntegrityError, NotFound) as e:
            error = (
                e if isinstance(e, ArtifactIntegrityError) else ArtifactIntegrityError({"reason": "missing"})
            )
            report_integrity(
                self.records.org, active.model_type, active.version, active.sha256, error,
                now=self.clock(), source="train", alert=self.alert,
            )  # fmt: skip
            return None
        if data.X_for(model) is None:
            return None  # another feature set: not comparable, the candidate is judged alone
        return evaluate_model(model, data)

    def register(
        self, job: Job, trained: TrainedModel, state: RegistryState, evaluation: dict[str, Any]
    ) -> ModelVersion:
        """Take the next version name (conditional write), then store the files under it."""
        taken = [v.version for v in self.registry.versions(job.model_type)]
        for _ in range(REGISTER_ATTEMPTS):
            name = rules.next_version(taken)
            files = artifact.dump(trained, model_type=job.model_type, scope=self.records.org, version=name)
            prefix = artifact.prefix(job.model_type, self.records.org, name)
            entry = ModelVersion(
                model_type=job.model_type,
                version=name,
                status=rules.CANDIDATE,
                created_at=trained.created_at,
                created_by=job.requested_by,
                job_id=job.job_id,
                sha256=files.sha256,
                artifact={"bucket": self.artifacts.bucket, "prefix": prefix, "files": {}},
                metadata=_json(files.files[artifact.METADATA_FILE]),
                trained_records=int(trained.metrics["usable_records"]),
                parent_version=state.active,
                evaluation=evaluation,
            )
            if self.registry.register(entry):
                break
            taken.append(name)
        else:
            raise ConcurrentUpdate("no free version name after several attempts; retry the training")
        stored = self.artifacts.put(prefix, files.files)
        self.registry.update_version(
            job.model_type,
            name,
            artifact={"bucket": self.artifacts.bucket, "prefix": prefix, "files": stored},
        )
        audit(
            self.records,
            f"job:{job.job_id}",
            "model.registered",
            job.model_type,
            trained.created_at,
            version=name,
            sha256=files.sha256,
            requested_by=job.requested_by,
            parent_version=state.active,
        )
        logger.info("model version registered", extra={"version": name, "sha256": files.sha256})
        return entry

    def activate(
        self, job: Job, entry: ModelVersion, state: RegistryState, reason: str, now: datetime
    ) -> bool:
        try:
            self.registry.activate(
                job.model_type,
                entry,
                actor=f"job:{job.job_id}",
                at=now,
                only_if_active=state.active,
                conditional=True,
            )
        except ConcurrentUpdate:
            return False
        audit(
            self.records,
            f"job:{job.job_id}",
            "model.activated",
            job.model_type,
            now,
            version=entry.version,
            previous=state.active,
            reason=reason,
            automatic=True,
        )
        count("ModelActivated")
        active_auc(entry)
        return True

    def archive(self, job: Job, model_type: str, now: datetime) -> list[str]:
        state = self.registry.state(model_type)
        versions = self.registry.versions(model_type)
        archived = rules.to_archive([v.rule_view(state) for v in versions])
        for version in archived:
            self.registry.set_status(model_type, version, rules.ARCHIVED, now)
        if archived:
            audit(self.records, f"job:{job.job_id}", "model.archived", model_type, now, versions=archived)
        return archived


def report_integrity(
    org: str,
    model_type: str,
    version: str,
    expected_sha256: str | None,
    error: ArtifactIntegrityError,
    *,
    now: datetime,
    source: str,
    alert: Callable[[Alert], Any],
) -> None:
    """Log, count (``ModelArtifactRejected``) and alert a model artifact that failed its check."""
    detail = error.detail if isinstance(error.detail, dict) else {"reason": str(error.detail)}
    evidence = {"version": version, "expected_sha256": expected_sha256, **detail}
    logger.error("model artifact refused", extra={"model_type": model_type, **evidence})
    count("ModelArtifactRejected")
    try:
        alert(
            Alert(
                org=org,
                type="model_artifact_integrity",
                severity="critical",
                subject=f"model:{model_type}:{version}",
                evidence=evidence,
                detected_at=now,
                source=source,
            )
        )
    except RollcallError:
        logger.exception("the integrity alert could not be sent")


MODEL_BREAKER = "model"  # the model loader's circuit breaker


def load_version(
    artifacts: ArtifactStore, org: str, model_type: str, version: str, sha256: str | None
) -> AttendanceModel:
    """A registered version's model from the model bucket, checked against the sha256 the registry
    recorded and against this code's features: ArtifactIntegrityError when it is missing or fails.
    Through the model loader's circuit breaker: CircuitOpen at once while it is open."""
    return breaker.get(MODEL_BREAKER).call(lambda: _load_version(artifacts, org, model_type, version, sha256))


def _load_version(
    artifacts: ArtifactStore, org: str, model_type: str, version: str, sha256: str | None
) -> AttendanceModel:
    path = artifact.prefix(model_type, org, version) + artifact.MODEL_FILE
    try:
        data = artifacts.get(path)
    except NotFound:
        raise ArtifactIntegrityError({"reason": "the artifact is missing", "key": path}) from None
    loaded = artifact.load(data, sha256 or "")
    covariates = loaded.covariates.names if loaded.covariates else ()
    if tuple(loaded.features) != (*FEATURES, *covariates):
        raise ArtifactIntegrityError({"reason": "the model's features are not this code's features"})
    return loaded


def _json(data: bytes) -> dict[str, Any]:
    import json

    return dict(json.loads(data))


def active_auc(entry: ModelVersion) -> None:
    """The dashboard's "AUC of the active version": written when a version becomes active."""
    auc = entry.metrics.get("roc_auc")
    if isinstance(auc, int | float) and auc == auc:  # NaN: only one outcome in the holdout
        count("ActiveModelAuc", float(auc), MetricUnit.NoUnit)
