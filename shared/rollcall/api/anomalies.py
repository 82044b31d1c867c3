"""/v1/anomalies: scan now, list, summarise, read and review the caller's organisation's anomalies.

Staff only (admin, teacher). Every route reads and writes through the caller's organisation's
store view, so an organisation never sees, nor reviews, another's anomalies (another's id is a
404 ANOMALY_NOT_FOUND). The app's ``state.scan_wiring`` (``rollcall.services.scanning.ScanWiring``) says
where alerts go and where the active model comes from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from rollcall.anomaly.findings import AnomalyType, ReviewStatus, Severity
from rollcall.api.access import Staff
from rollcall.api.deps import now, records_of, settings_of
from rollcall.api.schemas import Id
from rollcall.domain import iso
from rollcall.platform.settings import AnomalyScanSettings
from rollcall.services.scanning import ScanResult, list_anomalies, request_scan, require, review, summary

if TYPE_CHECKING:
    from rollcall.store.anomalies import Anomaly

router = APIRouter(prefix="/v1/anomalies", tags=["anomalies"])


class AnomalyOut(BaseModel):
    anomaly_id: str
    type: AnomalyType
    severity: Severity
    subject: str = Field(description="student:<id>, session:<id>, class:<id>, model:<type> or org:<org>")
    summary: str = Field(description="what was found, in one sentence")
    evidence: dict[str, Any] = Field(description="the numbers behind it (windows, rates, counts, ids)")
    status: ReviewStatus
    detected_at: str
    last_seen_at: str = Field(description="the last scan that found it again while it was open")
    seen_count: int = Field(description="how many scans found it (once raised, at most one a day)")
    status_changed_at: str | None = None
    status_changed_by: str | None = None
    note: str | None = None

    @classmethod
    def of(cls, a: Anomaly) -> AnomalyOut:
        return cls.model_validate(a.fields())


class Suppressed(BaseModel):
    type: AnomalyType
    subject: str
    reason: str


class ScanOut(BaseModel):
    org: str
    scanned_at: str
    read: dict[str, int] = Field(
        description="what the scan read: attendance records, marking events, corrections"
    )
    attendance_read: str = Field(
        description="how attendance was read: cache (the previous scan's window and what was written "
        "since) or full (and why the cache could not serve)"
    )
    raised: list[AnomalyOut] = Field(description="new anomalies")
    refreshed: list[AnomalyOut] = Field(description="open anomalies found again (evidence updated)")
    suppressed: list[Suppressed] = Field(description="found, but not raised again (the dedupe rule)")
    by_type: dict[str, dict[str, int]]
    found: dict[str, int] = Field(description="findings per detector, before merging")
    skipped: dict[str, str] = Field(description="detectors that judged nothing, and why")
    alerts_sent: int
    timings_ms: dict[str, float]

    @classmethod
    def of(cls, r: ScanResult) -> ScanOut:
        return cls(
            org=r.org,
            scanned_at=iso(r.scanned_at),
            read=r.read,
            attendance_read=r.attendance_read,
            raised=[AnomalyOut.of(a) for a in r.raised],
            refreshed=[AnomalyOut.of(a) for a in r.refreshed],
            suppressed=[Suppressed.model_validate(s) for s in r.suppressed],
            by_type=r.by_type(),
            found=r.found,
            skipped=r.skipped,
            alerts_sent=r.alerts_sent,
            timings_ms=r.timings_ms,
        )


class AnomalyPage(BaseModel):
    items: list[AnomalyOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last")


class ReviewIn(BaseModel):
    status: ReviewStatus = Field(
        description="open → acknowledged | resolved; acknowledged → resolved | open; resolved → open"
    )
    note: str | None = Field(default=None, max_length=1000)


class CountsOut(BaseModel):
    total: int
    by_type: dict[str, dict[str, int]] = Field(description="type → severity → count")


class ScanQueued(BaseModel):
    job_id: str
    kind: str
    status: str = Field(description="queued: follow it at GET /v1/jobs/{job_id}")


@router.post(
    "/scan",
    status_code=202,
    summary="Queue a scan of the caller's organisation; its summary is the job's result (teacher, admin)",
)
def post_scan(request: Request, who: Staff) -> ScanQueued:
    settings = settings_of(request, AnomalyScanSettings)
    job = request_scan(records_of(request, who), who, settings, now())
    return ScanQueued(job_id=job.job_id, kind=job.kind, status=job.status)


@router.get("", summary="The organisation's anomalies, newest first, filtered (teacher, admin)")
def get_anomalies(
    request: Request,
    who: Staff,
    *,
    status: ReviewStatus | None = None,
    type: AnomalyType | None = None,
    severity: Severity | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[Id | None, Query(description="next_cursor of the previous page")] = None,
) -> AnomalyPage:
    items, next_cursor = list_anomalies(
        records_of(request, who), status=status, type_=type, severity=severity, limit=limit, cursor=cursor
    )
    return AnomalyPage(items=[AnomalyOut.of(a) for a in items], next_cursor=next_cursor)


@router.get(
    "/summary", summary="Open and acknowledged anomalies counted by type and severity (teacher, admin)"
)
def get_summary(request: Request, who: Staff) -> dict[str, CountsOut]:
    """Keys: ``open`` and ``acknowledged``."""
    return {k: CountsOut.model_validate(v) for k, v in summary(records_of(request, who)).items()}


@router.get("/{anomaly_id}", summary="One anomaly (teacher, admin)")
def get_anomaly(anomaly_id: Id, request: Request, who: Staff) -> AnomalyOut:
    return AnomalyOut.of(require(records_of(request, who), anomaly_id))


@router.patch(
    "/{anomaly_id}", summary="Acknowledge, resolve or reopen an anomaly (audit-logged; teacher, admin)"
)
def patch_anomaly(anomaly_id: Id, body: ReviewIn, request: Request, who: Staff) -> AnomalyOut:
    updated = review(records_of(request, who), who, anomaly_id, status=body.status, note=body.note, now=now())
    return AnomalyOut.of(updated)
