"""/v1/predictions: the probability that a student attends a session, one at a time or in batches."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any, Self

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, Field, StringConstraints, model_validator

from rollcall.api.access import AnyUser, ensure_self_or_staff, ensure_staff
from rollcall.api.deps import now, records_of, settings_of
from rollcall.api.schemas import Id
from rollcall.ml.covariates import MAX_ATTRIBUTES, attributes_of
from rollcall.platform.settings import PredictSettings
from rollcall.services.prediction import Ask, PredictionService
from rollcall.services.prediction_jobs import SYNC_LIMIT, request_batch

router = APIRouter(prefix="/v1/predictions", tags=["predictions"])

MAX_BATCH = 10_000
AttributeName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]


class PredictionIn(BaseModel):
    """A session, or a class and a start time."""

    student_id: Id
    session_id: Id | None = None
    class_id: Id | None = None
    starts_at: AwareDatetime | None = None
    scheduled_at: AwareDatetime | None = Field(
        default=None, description="when the session was booked or announced (lead time)"
    )
    reminder_sent: bool | None = None
    attributes: dict[AttributeName, float | str] | None = Field(
        default=None,
        max_length=MAX_ATTRIBUTES,
        description="the student's attributes (as the import's attr_ columns); default: the latest recorded",
    )

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        if any(isinstance(v, str) and len(v) > 64 for v in (self.attributes or {}).values()):
            raise ValueError("an attribute's text is at most 64 characters")
        if self.session_id is None and (self.class_id is None or self.starts_at is None):
            raise ValueError("give session_id, or class_id and starts_at")
        if self.session_id is not None and (self.class_id is not None or self.starts_at is not None):
            raise ValueError("give session_id, or class_id and starts_at, not both")
        return self

    def ask(self) -> Ask:
        return Ask(
            self.student_id,
            self.session_id,
            self.class_id,
            self.starts_at,
            self.scheduled_at,
            self.reminder_sent,
            attributes_of(self.attributes or {}),
        )


class BatchIn(BaseModel):
    """Up to 10,000 items, or a session (every student of its class)."""

    items: list[PredictionIn] | None = Field(default=None, min_length=1, max_length=MAX_BATCH)
    session_id: Id | None = None

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        if (self.items is None) == (self.session_id is None):
            raise ValueError("give items or session_id")
        return self


class Factor(BaseModel):
    name: str
    value: float
    effect: float = Field(description="signed change of the probability this factor accounts for")


class Arrival(BaseModel):
    p10: float
    p50: float
    p90: float


class PredictionOut(BaseModel):
    prediction_id: str
    student_id: str
    session_id: str | None
    class_id: str | None
    starts_at: str | None
    probability: float = Field(description="of attending (present or late)")
    interval: list[float] = Field(description="[low, high], 90 %")
    risk_level: str = Field(description="high (p < 0.6) | medium (p < 0.8) | low")
    expected_arrival: Arrival | None = Field(description="minutes relative to the start")
    factors: list[Factor]
    recommendations: list[str]
    method: str = Field(description="model | similarity | heuristic")
    basis: str = Field(
        description="history | priors (a first-timer: the class's and organisation's rates), "
        "with +covariates when the model used the query's or the student's covariates"
    )
    model_version: str | None = Field(description="the version that answered (method model)")
    variant: str = Field(description="champion | challenger: where the traffic split routed this student")
    fallback_reason: str | None = Field(description="why the model did not answer, when it did not")


class BatchJobOut(BaseModel):
    job_id: str
    kind: str
    status: str = Field(description="queued: follow it at GET /v1/jobs/{job_id}")


class BatchOut(BaseModel):
    count: int
    methods: dict[str, int]
    model_versions: dict[str, int]
    predictions: list[PredictionOut]


def _service(request: Request, org: str) -> PredictionService:
    return PredictionService.of(settings_of(request, PredictSettings), org, now())


@router.post("", summary="Predict one student's attendance (staff; a student: itself)")
def post_prediction(body: PredictionIn, request: Request, who: AnyUser) -> PredictionOut:
    ensure_self_or_staff(who, body.student_id)
    (answer,) = _service(request, who.org).predict(who, [body.ask()])
    return PredictionOut.model_validate(answer)


@router.post(
    "/batch",
    summary="Predict up to 1,000 queries at once, up to 10,000 as a job (202 {job_id}: JSON Lines "
    "results, GET /v1/jobs/{job_id}), or a whole session's class (staff; a student: itself)",
    response_model=None,
    responses={200: {"model": BatchOut}, 202: {"model": BatchJobOut}},
)
def post_batch(body: BatchIn, request: Request, who: AnyUser) -> JSONResponse:
    if body.session_id is not None:
        ensure_staff(who, "a student may only ask for predictions about itself, not a whole class")
        answers = _service(request, who.org).predict_session(who, body.session_id)
    else:
        assert body.items is not None
        for item in body.items:
            ensure_self_or_staff(who, item.student_id)
        if len(body.items) > SYNC_LIMIT:
            settings = settings_of(request, PredictSettings)
            items = [item.model_dump(mode="json", exclude_none=True) for item in body.items]
            job = request_batch(settings, records_of(request, who), who, items, now())
            return JSONResponse(
                {"job_id": job.job_id, "kind": job.kind, "status": job.status}, status_code=202
            )
        answers = _service(request, who.org).predict(who, [item.ask() for item in body.items])
    # The answers are already plain JSON values: validating 10,000 of them again costs ~0.1 s.
    content: dict[str, Any] = {
        "count": len(answers),
        "methods": dict(Counter(a["method"] for a in answers)),
        "model_versions": dict(Counter(a["model_version"] for a in answers if a["model_version"])),
        "predictions": answers,
    }
    return JSONResponse(content)
