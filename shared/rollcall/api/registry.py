"""/v1/models: the model registry (versions, activation and rollback, traffic, history,
comparison) and asking for a training job."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path, Query, Request, status
from pydantic import AwareDatetime, BaseModel, Field

from rollcall.api.access import AdminOnly, Staff
from rollcall.api.deps import now, settings_of
from rollcall.api.schemas import timestamp
from rollcall.platform.settings import ModelSettings, TrainSettings
from rollcall.services.registry import MAX_COMPARE_DAYS, RegistryService
from rollcall.services.training import Trainer

if TYPE_CHECKING:
    from rollcall.store.model_versions import ModelVersion, RegistryState

router = APIRouter(prefix="/v1/models", tags=["models"])

VERSION_PATTERN = r"^v[0-9]{4,}$"
Version = Annotated[str, Path(pattern=VERSION_PATTERN, examples=["v0001"])]


class TrafficIn(BaseModel):
    challenger: str | None = Field(default=None, pattern=VERSION_PATTERN, description="null ends the split")
    share: float = Field(ge=0, le=1, description="the share of students routed to the challenger")


class ActivateIn(BaseModel):
    reason: str | None = Field(default=None, max_length=500)


class StateOut(BaseModel):
    model_type: str
    active_version: str | None
    activated_at: str | None
    activated_by: str | None
    challenger: str | None
    share: float
    traffic_updated_at: str | None
    traffic_updated_by: str | None
    last_trained_at: str | None
    drift_reported_at: str | None
    last_retrain_check: dict[str, Any]
    data_stats: dict[str, Any]

    @classmethod
    def of(cls, model_type: str, s: RegistryState) -> StateOut:
        return cls(
            model_type=model_type,
            active_version=s.active,
            activated_at=timestamp(s.activated_at),
            activated_by=s.activated_by,
            challenger=s.challenger,
            share=s.share,
            traffic_updated_at=timestamp(s.traffic_updated_at),
            traffic_updated_by=s.traffic_updated_by,
            last_trained_at=timestamp(s.last_trained_at),
            drift_reported_at=timestamp(s.drift_reported_at),
            last_retrain_check=s.last_retrain_check,
            data_stats=s.data_stats,
        )


class VersionOut(BaseModel):
    version: str
    status: str = Field(description="candidate | active | archived")
    challenger: bool = Field(description="receives a share of the traffic")
    created_at: str
    created_by: str = Field(description="who asked for the training (a user, or 'schedule')")
    job_id: str | None
    parent_version: str | None = Field(description="the version that was active when this one was trained")
    sha256: str = Field(description="of model.npz; checked before every load")
    artifact: dict[str, Any] = Field(description="the S3 location and files")
    metrics: dict[str, Any] = Field(description="holdout metrics and the data counts")
    evaluation: dict[str, Any] = Field(description="the activation decision made after training")
    params: dict[str, Any]
    features: list[str]
    data_hash: str | None
    holdout_from: str | None
    libraries: dict[str, str]
    trained_records: int
    archived_at: str | None

    @classmethod
    def of(cls, v: ModelVersion, state: RegistryState, bucket: str) -> VersionOut:
        meta = v.metadata
        files = v.artifact.get("files") or {}
        return cls(
            version=v.version,
            status=v.status_given(state),
            challenger=state.challenger == v.version and state.share > 0,
            created_at=timestamp(v.created_at) or "",
            created_by=v.created_by,
            job_id=v.job_id,
            parent_version=v.parent_version,
            sha256=v.sha256,
            artifact={
                "uri": f"s3://{v.artifact.get('bucket', bucket)}/{v.artifact.get('prefix', '')}",
                "files": files,
            },
            metrics=v.metrics,
            evaluation=v.evaluation,
            params=meta.get("params", {}),
            features=list(meta.get("features", [])),
            data_hash=meta.get("data_hash"),
            holdout_from=meta.get("holdout_from"),
            libraries=meta.get("libraries", {}),
            trained_records=v.trained_records,
            archived_at=timestamp(v.archived_at),
        )


class VersionsOut(BaseModel):
    model_type: str
    active_version: str | None
    challenger: str | None
    share: float
    versions: list[VersionOut] = Field(description="newest first")


class ModelsOut(BaseModel):
    models: list[dict[str, Any]]


class ActivationOut(BaseModel):
    model_type: str
    active_version: str
    previous_version: str | None
    activated_at: str | None
    activated_by: str | None


class HistoryEntry(BaseModel):
    at: str
    actor: str
    action: str
    details: dict[str, Any]


class TrainIn(BaseModel):
    until: AwareDatetime | None = Field(
        default=None, description="where the training window ends; default: the latest record"
    )


class JobQueued(BaseModel):
    job_id: str
    status: str
    status_url: str


def _service(request: Request, org: str) -> RegistryService:
    return RegistryService.of(settings_of(request, ModelSettings), org)


@router.get("", summary="The organisation's models: active version, traffic, last training (staff)")
def get_models(request: Request, who: Staff) -> ModelsOut:
    models = []
    for model_type, state, versions in _service(request, who.org).models():
        models.append(
            {
                **StateOut.of(model_type, state).model_dump(),
                "versions": len(versions),
                "latest_version": versions[0].version if versions else None,
            }
        )
    return ModelsOut(models=models)


@router.get("/{model_type}/versions", summary="Every version with its lineage and metrics (staff)")
def get_versions(model_type: str, request: Request, who: Staff) -> VersionsOut:
    service = _service(request, who.org)
    state, versions = service.overview(model_type)
    bucket = service.bucket
    return VersionsOut(
        model_type=model_type,
        active_version=state.active,
        challenger=state.challenger,
        share=state.share,
        versions=[VersionOut.of(v, state, bucket) for v in versions],
    )


@router.get("/{model_type}/versions/{version}", summary="One version (staff)")
def get_version(model_type: str, version: Version, request: Request, who: Staff) -> VersionOut:
    service = _service(request, who.org)
    state, entry = service.version(model_type, version)
    return VersionOut.of(entry, state, service.bucket)


@router.post(
    "/{model_type}/versions/{version}/activate",
    summary="Activate a version (admin): a rollback when it is older; its artifact is checked first",
)
def post_activate(
    model_type: str, version: Version, request: Request, who: AdminOnly, body: ActivateIn | None = None
) -> ActivationOut:
    state, previous = _service(request, who.org).activate(
        who, model_type, version, reason=body.reason if body else None, now=now()
    )
    assert state.active is not None
    return ActivationOut(
        model_type=model_type,
        active_version=state.active,
        previous_version=previous,
        activated_at=timestamp(state.activated_at),
        activated_by=state.activated_by,
    )


@router.put(
    "/{model_type}/traffic", summary="Split traffic between the active version and a challenger (admin)"
)
def put_traffic(model_type: str, body: TrafficIn, request: Request, who: AdminOnly) -> StateOut:
    state = _service(request, who.org).set_traffic(who, model_type, body.challenger, body.share, now=now())
    return StateOut.of(model_type, state)


@router.get("/{model_type}/history", summary="Registrations, activations, archiving, traffic changes (staff)")
def get_history(model_type: str, request: Request, who: Staff) -> list[HistoryEntry]:
    entries = _service(request, who.org).history(model_type)
    return [HistoryEntry(at=e.at, actor=e.actor, action=e.action, details=e.details) for e in entries]


@router.get(
    "/{model_type}/comparison",
    summary="Versions (and champion vs challenger) scored on the attendance that followed their predictions",
)
def get_comparison(
    model_type: str,
    request: Request,
    who: Staff,
    days: int = Query(default=28, ge=1, le=MAX_COMPARE_DAYS),
) -> dict[str, Any]:
    groups = _service(request, who.org).compare(model_type, days=days, now=now())
    return {"model_type": model_type, "window_days": days, "groups": groups}


@router.post(
    "/{model_type}/train",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Queue a training job (admin); 422 INSUFFICIENT_DATA when there is clearly too little data",
)
def post_train(model_type: str, request: Request, who: AdminOnly, body: TrainIn | None = None) -> JobQueued:
    until = body.until if body is not None else None
    job = Trainer.of(settings_of(request, TrainSettings), who.org).request(who, model_type, until=until)
    return JobQueued(job_id=job.job_id, status=job.status, status_url=f"/v1/jobs/{job.job_id}")
