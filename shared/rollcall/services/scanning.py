"""The anomaly scan of an organisation, and the review of what it found.

A scan (:func:`scan`):

1. gathers the organisation's data with a few org-wide reads, never one per student: attendance
   of the history window (:func:`read_attendance`: the previous scan's window from the cache and
   what changed since, or the whole window, projected, week slices in parallel), marking events
   (``MarkingRepo.between``), corrections (``AuditLog.between``), and the active model;
2. runs every detector (``rollcall.anomaly.detect``);
3. records each finding under the dedupe rule (:func:`decide`): the same (type, subject) is not
   raised again within ``anomaly_dedupe_hours``; after that, a finding whose anomaly is still open
   or acknowledged refreshes it (evidence, last seen, count) instead of raising a second one; once
   resolved, a recurring condition is raised anew, but an event already raised (a session, a
   photo, a record) never is;
4. alerts each newly raised high or critical anomaly (one SQS message each; the alert id is the
   anomaly id), and an open one whose severity rose to high or critical;
5. reports model drift to the registry (``report_drift``) for the weekly retrain trigger.

The schedule scans every organisation of the directory (:func:`scan_all`). Reviews
(:func:`review`) move an anomaly through open → acknowledged → resolved (and back to open),
audit-logged with who, when and the note.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, cast

from rollcall.anomaly.detect import detect
from rollcall.anomaly.findings import (
    ACKNOWLEDGED,
    ALERTED,
    MODEL_DRIFT,
    OPEN,
    RESOLVED,
    SEVERITIES,
    TYPES,
    Finding,
    Severity,
    rank,
)
from rollcall.anomaly.inputs import ActiveModel, Correction, ScanInputs, windows
from rollcall.domain import AttendanceRecord, iso, parse_time
from rollcall.platform.auth import Principal
from rollcall.platform.errors import ArtifactIntegrityError, Conflict, InvalidCursor, NotFound, RollcallError
from rollcall.platform.observability import count, count_by, logger
from rollcall.platform.settings import AnomalyScanSettings
from rollcall.services.alerts import Alert, send_alert
from rollcall.services.registry import load_version
from rollcall.store.anomalies import Anomaly, AnomalyRepo, Mark, is_anomaly_id, new_anomaly_id
from rollcall.store.attendance import AttendanceRepo, record_from_item
from rollcall.store.audit import ATTENDANCE_CORRECTED, SESSION_DELETED, STUDENT_ERASED, AuditEntry, AuditLog
from rollcall.store.photo_events import MarkingRepo
from rollcall.store.table import OrgDirectory, OrgRecords
from rollcall.store.window_cache import WindowCache, WindowSnapshot

if TYPE_CHECKING:
    from rollcall.services.jobs import JobContext
    from rollcall.store.job_log import Job

ModelSource = Callable[[str], ActiveModel | None]  # organisation -> its active attendance model
DriftReporter = Callable[[str, str, dict[str, Any], datetime], Any]  # (org, model type, evidence, at)
AlertSender = Callable[[Alert], Any]


@dataclass(frozen=True)
class ScanWiring:
    """How a scan reaches the world beyond the records table (tests pass fakes)."""

    alert: AlertSender
    models: ModelSource | None = None  # None: model drift is skipped ("no active model")
    report_drift: DriftReporter | None = None
    window_cache: Callable[[str], WindowCache] | None = None  # None: every scan reads the whole window


def wiring(settings: AnomalyScanSettings) -> ScanWiring:
    """The function's wiring: alerts to ``ALERT_QUEUE_URL``; the active model from the registry,
    loaded and checked as prediction loads it; drift reported on the registry's state item, where
    the weekly retrain reads it."""
    from rollcall.store import model_versions
    from rollcall.store.artifacts import ArtifactStore

    queue_url = settings.alert_queue_url

    def active(org: str) -> ActiveModel | None:
        state = model_versions.ModelRegistry(org, settings.registry_table).state(model_versions.ATTENDANCE)
        if state.active is None:
            return None
        artifacts = ArtifactStore(settings.model_bucket)
        try:
            model = load_version(artifacts, org, model_versions.ATTENDANCE, state.active, state.active_sha256)
        except ArtifactIntegrityError:
            # Prediction alerts a refused artifact; drift is judged again once a good one is active.
            logger.exception("the active model failed its check: model drift skipped", extra={"org": org})
            return None
        return ActiveModel(state.active, model)

    def report(org: str, model_type: str, evidence: dict[str, Any], at: datetime) -> None:
        model_versions.report_drift(org, model_type, evidence=evidence, at=at, table=settings.registry_table)

    bucket = settings.scan_cache_bucket
    return ScanWiring(
        alert=lambda a: send_alert(a, queue_url),
        models=active,
        report_drift=report,
        window_cache=(lambda org: WindowCache(org, bucket)) if bucket else None,
    )


SOURCE = "anomaly-scan"
TRANSITIONS: dict[str, tuple[str, ...]] = {
    OPEN: (ACKNOWLEDGED, RESOLVED),
    ACKNOWLEDGED: (RESOLVED, OPEN),
    RESOLVED: (OPEN,),
}


# --- the dedupe rule -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    action: Literal["raise", "refresh", "suppress"]
    reason: str


def decide(
    finding: Finding, mark: Mark | None, current: Anomaly | None, now: datetime, dedupe: timedelta
) -> Decision:
    """What to do with a finding, given the (type, subject)'s dedupe mark and the anomaly it names."""
    if mark is None:
        return Decision("raise", "new")
    if now - mark.seen_at < dedupe:
        return Decision("suppress", f"raised or refreshed within {dedupe.total_seconds() / 3600:g} h")
    if current is not None and current.status != RESOLVED:
        return Decision("refresh", f"anomaly {current.anomaly_id} is still {current.status}")
    if finding.occurrences and set(finding.occurrences) <= mark.occurrences:
        return Decision("suppress", "its events were raised before and resolved")
    return Decision("raise", "recurred after it was resolved")


# --- a scan ------------------------------------------------------------------------------------------


@dataclass
class ScanResult:
    org: str
    scanned_at: datetime
    read: dict[str, int]
    attendance_read: str  # "cache" or "full (<why the cache could not serve>)"
    raised: list[Anomaly] = field(default_factory=list)
    refreshed: list[Anomaly] = field(default_factory=list)
    suppressed: list[dict[str, str]] = field(default_factory=list)
    found: dict[str, int] = field(default_factory=dict)  # per detector
    skipped: dict[str, str] = field(default_factory=dict)  # detector -> why it judged nothing
    alerts_sent: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)

    def by_type(self) -> dict[str, dict[str, int]]:
        """Per anomaly type: how many were raised, refreshed and suppressed by this scan."""
        out: dict[str, dict[str, int]] = {t: {"raised": 0, "refreshed": 0, "suppressed": 0} for t in TYPES}
        for a in self.raised:
            out[a.type]["raised"] += 1
        for a in self.refreshed:
            out[a.type]["refreshed"] += 1
        for s in self.suppressed:
            out[s["type"]]["suppressed"] += 1
        return out


CHANGE_OVERLAP = timedelta(minutes=15)  # the change index is eventually consistent: read back this far
HORIZON = timedelta(days=35)  # a full read also keeps records of sessions up to this far ahead


def gather(
    records: OrgRecords,
    now: datetime,
    settings: AnomalyScanSettings,
    model: ActiveModel | None,
    cache: WindowCache | None = None,
) -> tuple[ScanInputs, str]:
    """The organisation's data a scan at ``now`` reads (see the module docstring), and how its
    attendance was read (:func:`read_attendance`)."""
    w = windows(settings, now)
    attendance, how = read_attendance(records, w.attendance, now, settings, cache=cache)
    events = list(MarkingRepo(records).between(w.markings, now))
    corrections = [c for e in AuditLog(records).between(w.corrections, now) if (c := correction_of(e))]
    return ScanInputs(records.org, now, attendance, events, corrections, model), how


def correction_of(entry: AuditEntry) -> Correction | None:
    """The correction an audit entry records, or None for any other entry."""
    kind, _, rest = entry.subject.partition(":")
    session_id, _, student_id = rest.partition(":")
    if entry.action != ATTENDANCE_CORRECTED or kind != "attendance" or not student_id:
        return None
    d = entry.details
    return Correction(
        student_id,
        session_id,
        parse_time(entry.at),
        entry.actor,
        d.get("from"),
        d.get("from_source"),
        d["to"],
    )


def read_attendance(
    records: OrgRecords,
    since: datetime,
    now: datetime,
    settings: AnomalyScanSettings,
    *,
    cache: WindowCache | None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> tuple[list[AttendanceRecord], str]:
    """Every record whose session starts in [since, now], in time order, and how they were read:
    ``"cache"`` or ``"full"`` (with the reason the cache could not serve).

    With a usable cached window (covering [since, now], at most ``anomaly_cache_max_age_hours``
    old), the records are the cached rows, less the students erased since (the audit log), with the
    records written since laid over them (the change index, read back ``CHANGE_OVERLAP`` before the
    cache's time). Otherwise the whole window is read, up to ``HORIZON`` ahead. Either way the
    result is cached for the next scan; a cache that cannot be read or written only costs time.
    ``clock`` is the store's clock (the writers' ``changed_at``), not the scan's ``now``.
    """
    repo = AttendanceRepo(records)
    started = clock()
    snapshot = _load(cache)
    why_not = _unusable(snapshot, since, now, started, settings)
    if snapshot is not None and why_not is None:
        erased, deleted = _erased_since(records, snapshot.as_of - CHANGE_OVERLAP, started)
        merged = {
            (i["session_id"], i["student_id"]): i
            for i in snapshot.items
            if i["student_id"] not in erased and i["session_id"] not in deleted
        }
        for item in repo.changed_items(snapshot.as_of - CHANGE_OVERLAP, started):
            merged[(item["session_id"], item["student_id"])] = item
        lo = iso(since)
        items = sorted(
            (i for i in merged.values() if i["starts_at"] >= lo),
            key=lambda i: (i["starts_at"], i["session_id"], i["student_id"]),
        )
        horizon, how = snapshot.horizon, "cache"
    else:
        horizon, how = now + HORIZON, f"full ({why_not})"
        items = repo.window_items(since, horizon, workers=settings.anomaly_read_workers)
    if cache is not None:
        try:
            cache.save(WindowSnapshot(records.org, since, horizon, started, items))
        except RollcallError:
            logger.exception("the scan's window cache could not be written", extra={"org": records.org})
    hi = iso(now) + "~"
    return [record_from_item(i) for i in items if i["starts_at"] <= hi], how


def _load(cache: WindowCache | None) -> WindowSnapshot | None:
    if cache is None:
        return None
    try:
        return cache.load()
    except RollcallError:
        logger.exception("the scan's window cache could not be read")
        return None


def _unusable(
    snapshot: WindowSnapshot | None,
    since: datetime,
    now: datetime,
    wall: datetime,
    settings: AnomalyScanSettings,
) -> str | None:
    """Why the cached window cannot serve this scan, or None when it can."""
    if snapshot is None:
        return "no cached window"
    if snapshot.since > since or snapshot.horizon < now:
        return "the cached window does not cover this scan's"
    age = wall - snapshot.as_of
    if age > timedelta(hours=settings.anomaly_cache_max_age_hours) or age < -CHANGE_OVERLAP:
        return "the cached window is too old"
    return None


def _erased_since(records: OrgRecords, since: datetime, until: datetime) -> tuple[set[str], set[str]]:
    """The students erased and the sessions deleted in [since, until] (their records must leave
    the cached window)."""
    entries = list(AuditLog(records).between(since, until))

    def subjects(action: str, kind: str) -> set[str]:
        return {
            e.subject.partition(":")[2] for e in entries if e.action == action and e.subject.startswith(kind)
        }

    return subjects(STUDENT_ERASED, "student:"), subjects(SESSION_DELETED, "session:")


def scan(records: OrgRecords, now: datetime, settings: AnomalyScanSettings, wiring: ScanWiring) -> ScanResult:
    """Scan one organisation now: gather, detect, record under the dedupe rule, alert."""
    clock = time.perf_counter()
    model = wiring.models(records.org) if wiring.models else None
    cache = wiring.window_cache(records.org) if wiring.window_cache else None
    inputs, attendance_read = gather(records, now, settings, model, cache)
    read = {
        "attendance_records": len(inputs.records),
        "marking_events": len(inputs.marking_events),
        "corrections": len(inputs.corrections),
    }
    timings = {"read": (time.perf_counter() - clock) * 1000}
    clock = time.perf_counter()
    detection = detect(inputs, settings)
    timings["detect"] = (time.perf_counter() - clock) * 1000
    result = ScanResult(
        records.org, now, read, attendance_read, found=detection.found, skipped=detection.skipped
    )
    clock = time.perf_counter()
    repo = AnomalyRepo(records)
    for finding in detection.findings:
        _record(repo, finding, now, settings, result=result, alert=wiring.alert)
        if finding.type == MODEL_DRIFT and wiring.report_drift is not None:
            wiring.report_drift(records.org, finding.evidence["model_type"], finding.evidence, now)
    timings["record"] = (time.perf_counter() - clock) * 1000
    result.timings_ms = {k: round(v, 1) for k, v in timings.items()}
    count("AnomalyScans")
    count("AnomaliesRaised", len(result.raised))
    for anomaly_type, n in Counter(a.type for a in result.raised).items():
        count_by("AnomaliesRaisedByType", "type", anomaly_type, n)
    logger.info(
        "anomaly scan",
        extra={
            "org": records.org,
            "read": read,
            "raised": len(result.raised),
            "refreshed": len(result.refreshed),
            "suppressed": len(result.suppressed),
            "alerts": result.alerts_sent,
            "skipped": result.skipped,
            "ms": result.timings_ms,
        },
    )
    return result


def _record(
    repo: AnomalyRepo,
    finding: Finding,
    now: datetime,
    settings: AnomalyScanSettings,
    *,
    result: ScanResult,
    alert: AlertSender,
) -> None:
    mark = repo.mark(finding.type, finding.subject, now)
    current = repo.in_home(finding.subject, mark.anomaly_id) if mark else None
    decision = decide(finding, mark, current, now, timedelta(hours=settings.anomaly_dedupe_hours))
    seen = set(mark.occurrences if mark else ()) | set(finding.occurrences)
    ttl = settings.anomaly_history_days * 86_400
    suppressed = {"type": finding.type, "subject": finding.subject, "reason": decision.reason}
    if decision.action == "suppress":
        result.suppressed.append(suppressed)
        return
    anomaly_id = current.anomaly_id if decision.action == "refresh" and current else new_anomaly_id(now)
    if not repo.claim(
        finding.type,
        finding.subject,
        anomaly_id=anomaly_id,
        occurrences=seen,
        now=now,
        previous=mark,
        ttl_seconds=ttl,
    ):
        result.suppressed.append(suppressed | {"reason": "a concurrent scan recorded it"})
        return
    if decision.action == "refresh" and current is not None:
        updated = repo.refresh(
            current,
            replace(
                current,
                severity=finding.severity,
                summary=finding.summary,
                evidence=finding.evidence,
                occurrences=sorted(set(current.occurrences) | set(finding.occurrences)),
                last_seen_at=iso(now),
                seen_count=current.seen_count + 1,
            ),
        )
        if updated is None:
            result.suppressed.append(suppressed | {"reason": "resolved while the scan ran"})
            return
        result.refreshed.append(updated)
        if updated.severity in ALERTED and rank(updated.severity) > rank(current.severity):
            _alert(repo.records.org, updated, now, alert, result)
        return
    anomaly = Anomaly(
        anomaly_id=anomaly_id,
        type=finding.type,
        severity=finding.severity,
        subject=finding.subject,
        summary=finding.summary,
        evidence=finding.evidence,
        occurrences=sorted(finding.occurrences),
        status=OPEN,
        detected_at=iso(now),
        last_seen_at=iso(now),
    )
    repo.put(anomaly)
    result.raised.append(anomaly)
    if anomaly.severity in ALERTED:
        _alert(repo.records.org, anomaly, now, alert, result)


def _alert(org: str, anomaly: Anomaly, now: datetime, alert: AlertSender, result: ScanResult) -> None:
    evidence = {**anomaly.evidence, "summary": anomaly.summary}
    severity = cast(Severity, anomaly.severity)
    alert(Alert(org, anomaly.type, severity, anomaly.subject, evidence, now, SOURCE, anomaly.anomaly_id))
    result.alerts_sent += 1


def scan_all(table: str, now: datetime, settings: AnomalyScanSettings, wiring: ScanWiring) -> dict[str, Any]:
    """Scan every organisation of the directory; one failing organisation does not stop the others.

    Raises after the last organisation when any failed, so that the invocation counts as failed
    (and EventBridge retries it: the dedupe rule makes a rescan raise nothing twice).
    """
    orgs = OrgDirectory(table).organisations()
    totals: Counter[str] = Counter()
    failed = []
    for org in orgs:
        try:
            result = scan(OrgRecords(org, table), now, settings, wiring)
        except Exception:
            logger.exception("anomaly scan failed", extra={"org": org})
            count("AnomalyScanFailed")
            failed.append(org)
            continue
        totals.update(raised=len(result.raised), refreshed=len(result.refreshed), alerts=result.alerts_sent)
    summary = {"organisations": len(orgs), **{k: totals[k] for k in ("raised", "refreshed", "alerts")}}
    if failed:
        raise RuntimeError(f"anomaly scan failed for {len(failed)} of {len(orgs)} organisations: {failed}")
    return summary


def on_schedule(settings: AnomalyScanSettings, wiring: ScanWiring) -> Callable[[dict[str, Any], Any], Any]:
    """The schedule part of the function: scan every organisation as of the event's time."""

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        now = parse_time(event["time"]) if event.get("time") else datetime.now(UTC)
        return scan_all(settings.records_table, now, settings, wiring)

    return handle


# --- reviews and reads ------------------------------------------------------------------------------


# --- a scan as a job -----------------------------------------------------------------------------

SCAN_JOB = "anomaly_scan"
MAX_IDS_IN_SUMMARY = 100


def request_scan(records: OrgRecords, who: Principal, settings: AnomalyScanSettings, now: datetime) -> Job:
    """Queue a scan of the caller's organisation (POST /v1/anomalies/scan: 202 with the job)."""
    from rollcall.platform.errors import ConfigurationError
    from rollcall.services import jobs

    if not settings.jobs_queue_url:
        raise ConfigurationError("JOBS_QUEUE_URL is needed to queue a scan")
    return jobs.enqueue(
        records, kind=SCAN_JOB, requested_by=who.sub, queue_url=settings.jobs_queue_url, now=now
    )


def scan_summary(result: ScanResult) -> dict[str, Any]:
    """What a scan job keeps as its result: the counts and the ids of what it raised."""
    return {
        "org": result.org,
        "scanned_at": iso(result.scanned_at),
        "read": result.read,
        "attendance_read": result.attendance_read,
        "raised": len(result.raised),
        "refreshed": len(result.refreshed),
        "suppressed": len(result.suppressed),
        "raised_ids": [a.anomaly_id for a in result.raised[:MAX_IDS_IN_SUMMARY]],
        "by_type": result.by_type(),
        "found": result.found,
        "skipped": result.skipped,
        "alerts_sent": result.alerts_sent,
        "timings_ms": result.timings_ms,
    }


def scan_runner(settings: AnomalyScanSettings, wiring: ScanWiring) -> Callable[[JobContext], dict[str, Any]]:
    """The ``anomaly_scan`` kind for the jobs consumer. A scan started again after its worker died
    raises nothing twice: the dedupe marks of what the first attempt recorded hold."""

    def run(context: JobContext) -> dict[str, Any]:
        context.advance(0, 1, "scans")
        summary = scan_summary(scan(context.records, context.clock(), settings, wiring))
        context.advance(1, 1, "scans")
        return summary

    return run


def require(records: OrgRecords, anomaly_id: str) -> Anomaly:
    anomaly = AnomalyRepo(records).get(anomaly_id)
    if anomaly is None:
        raise NotFound(f"no anomaly {anomaly_id}", code="ANOMALY_NOT_FOUND")
    return anomaly


def review(
    records: OrgRecords, who: Principal, anomaly_id: str, *, status: str, note: str | None, now: datetime
) -> Anomaly:
    """Move an anomaly to ``status`` (legal transitions only), audit-logged with who, when, the note."""
    current = require(records, anomaly_id)
    allowed = TRANSITIONS[current.status]
    if status not in allowed:
        raise Conflict(
            {"detail": f"an {current.status} anomaly cannot become {status}", "allowed": list(allowed)},
            code="INVALID_TRANSITION",
        )
    updated = AnomalyRepo(records).set_status(current, status, who=who.sub, note=note, now=now)
    AuditLog(records).append(
        actor=who.sub,
        action="anomaly.reviewed",
        subject=f"anomaly:{anomaly_id}",
        at=now,
        details={"from": current.status, "to": status, "note": note, "type": current.type},
    )
    count("AnomalyReviewed")
    return updated


def list_anomalies(
    records: OrgRecords,
    *,
    status: str | None,
    type_: str | None,
    severity: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Anomaly], str | None]:
    """A page of anomalies; 400 INVALID_CURSOR for a cursor that no page ever answered."""
    if cursor is not None and not is_anomaly_id(cursor):
        raise InvalidCursor({"message": "cursor is not the next_cursor of a page", "parameter": "cursor"})
    return AnomalyRepo(records).list(
        status=status,
        type_=type_,
        severity=severity,
        types=TYPES,
        severities=SEVERITIES,
        limit=limit,
        before=cursor,
    )


def summary(records: OrgRecords) -> dict[str, Any]:
    """Open and acknowledged anomalies counted by type and severity (a dashboard's first view)."""
    out: dict[str, Any] = {}
    for status, counts in AnomalyRepo(records).counts((OPEN, ACKNOWLEDGED)).items():
        by_type: dict[str, dict[str, int]] = {}
        for (type_, severity), n in sorted(counts.items()):
            by_type.setdefault(type_, {})[severity] = n
        out[status] = {"total": sum(counts.values()), "by_type": by_type}
    return out
