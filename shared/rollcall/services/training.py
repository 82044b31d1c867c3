"""Training jobs: asking for one, running one, the weekly retrain and the daily retention.

**Asking** (``POST /v1/models/{type}/train``, admin): answered 422 INSUFFICIENT_DATA at once
when the organisation clearly has too little to learn from (fewer than 200 usable records in the
training window: counting stops at 200, so the check costs one page of reads); otherwise a job is
stored ``queued`` and its message sent to the training queue (202 with the job id).

**Running** (the train function's SQS consumer, one message per job; a message may be delivered
more than once): the job is claimed with a conditional write (``rollcall.store.job_log``), so a
redelivery of a job that is done, or that another attempt holds, trains nothing. Then:

1. read the organisation's attendance of the ``TRAINING_WINDOW_DAYS`` that end at the window's
   end: the job's ``until`` when the request gave one, else the start of the latest session with a
   record (not after now), so an imported history of any age trains;
2. weekly jobs (``mode`` if_needed) first decide with the retrain rules (``rollcall.ml.policy
   .retrain``: no active model, active older than 30 days, usable data grew 20 %, or drift
   reported by the anomaly scan since the last training) and finish ``succeeded`` with
   ``trained: false`` and the reason when none holds;
3. build the dataset (fewer than 200 usable records: the job fails with INSUFFICIENT_DATA and
   the counts), train (``rollcall.ml.train``);
4. evaluate the active version's model on the *same* holdout, and decide activation with
   ``rollcall.ml.policy.activation`` (the floor is the ``MIN_USEFUL_AUC`` setting); the result's
   ``activation`` says why, with the candidate's and the active version's ROC-AUC side by side;
5. register the version (candidate; the name is taken with a conditional write, so concurrent
   jobs cannot share one), then store its files in S3;
6. activate it if it won, conditionally on the active version being the one it was compared with;
7. archive all but the newest five versions and the active one (their files are kept).

Each step is logged and noted on the job (``progress``), and the read of step 1 is counted on it
in week slices as they are read (``counts``: a total known before the read, for a rate and a time
left; each count renews the lease). A job that fails is not retried by the queue (its message is
consumed): the failure and its reason are on the job; ask again. A message that can never succeed
(not JSON, not a job message, an organisation with no data) is consumed at once too, failing the
job it names when there is one.

**Weekly** (``WeeklyRetrain``): one ``if_needed`` job per organisation in the directory, so the
decision and its reason are in each organisation's job list. **Daily** (``DailyRetention``):
prediction history older than ``PREDICTION_RETENTION_DAYS`` is deleted and counted per
organisation (DynamoDB's TTL deletes it too, within days; this makes it prompt and counted).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from rollcall.domain import AttendanceRecord, iso, parse_time
from rollcall.ml import policy as rules
from rollcall.platform.auth import Principal
from rollcall.platform.auth.principal import ID_PATTERN
from rollcall.platform.errors import (
    InsufficientData,
    InvalidInput,
    RollcallError,
)
from rollcall.platform.observability import count, logger
from rollcall.platform.settings import TrainSettings
from rollcall.services.alerts import Alert, send_alert
from rollcall.services.registry import VersionPublisher
from rollcall.store.artifacts import ArtifactStore
from rollcall.store.attendance import AttendanceRepo, week_slices
from rollcall.store.job_log import FAILED, SUCCEEDED, Job, JobRepo
from rollcall.store.model_versions import ATTENDANCE, ModelRegistry
from rollcall.store.model_versions import check_model_type as checked_type
from rollcall.store.prediction_log import PredictionRepo
from rollcall.store.queues import send_json
from rollcall.store.table import OrgDirectory, OrgRecords, check_id

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord


ALWAYS, IF_NEEDED = "always", "if_needed"
RETENTION_SCAN_MONTHS = 12  # months before the cutoff the daily job looks in (older: TTL did it)
SLICES = "week slices"  # what a training job's progress counts (the window's reads)


def new_job_id() -> str:
    return f"job-{uuid.uuid4().hex[:16]}"


@dataclass(frozen=True)
class JobMessage:
    """The body of a training queue message."""

    org: str
    job_id: str
    model_type: str = ATTENDANCE
    mode: str = ALWAYS
    reason: str = "manual"
    requested_by: str = "unknown"
    until: str | None = None  # the training window's end (ISO-8601); None: the latest record

    @classmethod
    def parse(cls, body: Any, message_id: str) -> JobMessage:
        """A message body (JSON object); a message without a job id is the job ``job-<message id>``."""
        if not isinstance(body, dict) or not isinstance(body.get("org"), str):
            raise InvalidInput("a training message is a JSON object with at least 'org'")
        mode = body.get("mode", ALWAYS)
        if mode not in (ALWAYS, IF_NEEDED):
            raise InvalidInput(f"mode must be {ALWAYS} or {IF_NEEDED}")
        until = body.get("until")
        if until is not None:
            try:
                until = iso(parse_time(str(until)))
            except ValueError:
                raise InvalidInput("until must be an ISO-8601 time") from None
        return cls(
            org=check_id(body["org"], "org"),
            job_id=check_id(str(body.get("job_id") or f"job-{message_id}"), "job_id"),
            model_type=checked_type(str(body.get("model_type", ATTENDANCE))),
            mode=mode,
            reason=str(body.get("reason", "manual"))[:200],
            requested_by=str(body.get("requested_by", "unknown"))[:64],
            until=until,
        )

    def body(self) -> dict[str, str]:
        out = {
            "org": self.org,
            "job_id": self.job_id,
            "model_type": self.model_type,
            "mode": self.mode,
            "reason": self.reason,
            "requested_by": self.requested_by,
        }
        if self.until is not None:
            out["until"] = self.until
        return out

    def job(self, created_at: datetime) -> Job:
        return Job(
            job_id=self.job_id,
            model_type=self.model_type,
            status="queued",
            reason=self.reason,
            requested_by=self.requested_by,
            created_at=created_at,
            mode=self.mode,
        )


@dataclass
class Trainer:
    """Training for one organisation, with the stores and settings it uses."""

    records: OrgRecords
    registry: ModelRegistry
    artifacts: ArtifactStore
    send: Callable[[dict[str, Any]], str]  # a message onto the training queue
    alert: Callable[[Alert], Any]
    window: timedelta
    lease: timedelta
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    min_useful_auc: float = rules.MIN_USEFUL_AUC

    @classmethod
    def of(cls, settings: TrainSettings, org: str) -> Trainer:
        return cls(
            records=OrgRecords(org, settings.records_table),
            registry=ModelRegistry(org, settings.registry_table),
            artifacts=ArtifactStore(settings.model_bucket),
            send=lambda body: send_json(settings.training_queue_url, body),
            alert=lambda alert: send_alert(alert, settings.alert_queue_url),
            window=timedelta(days=settings.training_window_days),
            lease=timedelta(seconds=settings.job_lease_seconds),
            min_useful_auc=settings.min_useful_auc,
        )

    @property
    def org(self) -> str:
        return self.records.org

    @property
    def publisher(self) -> VersionPublisher:
        return VersionPublisher(self.records, self.registry, self.artifacts, self.alert, self.clock)

    # --- asking ------------------------------------------------------------------------------------

    def request(self, who: Principal, model_type: str, *, until: datetime | None = None) -> Job:
        """A queued job (POST .../train); InsufficientData when there is clearly too little data.

        The window ends at ``until`` when given, else at the latest record (see the module doc)."""
        from rollcall.ml.train import MIN_RECORDS

        checked_type(model_type)
        now = self.clock()
        end = self.window_end(now, until)
        found = 0
        if end is not None:
            found = _count_usable(AttendanceRepo(self.records).between(end - self.window, end), MIN_RECORDS)
        if found < MIN_RECORDS:
            raise InsufficientData(
                {
                    "reason": f"fewer than {MIN_RECORDS} usable records in the training window",
                    "usable_records": found,
                    "required_records": MIN_RECORDS,
                    "window_days": self.window.days,
                    "window_end": iso(end) if end is not None else None,
                }
            )
        message = JobMessage(
            self.org, new_job_id(), model_type, ALWAYS, "manual", who.sub, iso(until) if until else None
        )
        return self.enqueue(message, now)

    def window_end(self, now: datetime, until: datetime | None) -> datetime | None:
        """Where the training window ends: ``until`` (not after now), else the latest record's start
        (None when the organisation has no record at all)."""
        if until is not None:
            return min(until, now)
        return AttendanceRepo(self.records).latest_start(now)

    def enqueue(self, message: JobMessage, now: datetime) -> Job:
        """Store the job (queued) and send its message; the job."""
        jobs = JobRepo(self.records)
        job = message.job(now)
        jobs.create(job)
        try:
            self.send(message.body())
        except RollcallError:
            jobs.finish(
                jobs.claim(job.job_id, now=now, lease=self.lease) or job,
                FAILED,
                at=now,
                error={"code": "QUEUE_UNAVAILABLE", "detail": "the job could not be queued"},
            )
            raise
        logger.info("training job queued", extra={"job_id": job.job_id, "mode": job.mode})
        return job

    # --- running -----------------------------------------------------------------------------------

    def run(self, message: JobMessage) -> Job:
        """Run a job once, however often its message is delivered; the job as it ends."""
        jobs = JobRepo(self.records)
        jobs.create(message.job(self.clock()))  # a message sent by hand has no job yet
        job = jobs.claim(message.job_id, now=self.clock(), lease=self.lease)
        if job is None:
            current = jobs.require(message.job_id)
            logger.info("training job already done or held: nothing to do", extra={"status": current.status})
            count("TrainingJobRedelivered")
            return current
        logger.info("training job started", extra={"job_id": job.job_id, "attempt": job.attempts})
        try:
            result = self._train(jobs, job, message.until)
        except RollcallError as e:
            logger.warning("training job failed", extra={"code": e.code, "detail": e.detail})
            count("TrainingJobFailed")
            return jobs.finish(job, FAILED, at=self.clock(), error={"code": e.code, "detail": e.detail})
        except Exception as e:
            logger.exception("training job crashed")
            count("TrainingJobFailed")
            error = {"code": "INTERNAL_ERROR", "detail": f"{type(e).__name__}: training failed unexpectedly"}
            return jobs.finish(job, FAILED, at=self.clock(), error=error)
        count("TrainingJobSucceeded")
        return jobs.finish(job, SUCCEEDED, at=self.clock(), result=result)

    def _step(self, jobs: JobRepo, job: Job, step: str) -> None:
        logger.info(f"training: {step}", extra={"job_id": job.job_id})
        jobs.progress(job, step)

    def _read_window(self, jobs: JobRepo, job: Job, end: datetime) -> list[AttendanceRecord]:
        """The window's records: its week slices on a few threads, projected to what a record holds.

        Each slice read is reported on the job (``counts`` ``{done, total, unit: "week slices"}``,
        each report renewing the lease), so GET /v1/jobs/{id} shows how far the read is. Slices,
        not records: their number is known before the read begins, which a rate and a time left
        need; the records' count is known only at its end (the result's ``counts``)."""
        since = end - self.window
        total = len(week_slices(since, end))
        lock = threading.Lock()  # the slices are read on several threads; reports go out in order
        done = 0

        def report(_items: int) -> None:
            nonlocal done
            with lock:
                done += 1
                jobs.advance(job, done=done, total=total, unit=SLICES, now=self.clock(), lease=self.lease)

        jobs.advance(job, done=0, total=total, unit=SLICES, now=self.clock(), lease=self.lease)
        return AttendanceRepo(self.records).window(since, end, on_query=report)

    def _train(self, jobs: JobRepo, job: Job, until: str | None = None) -> dict[str, Any]:
        from rollcall.ml.features import usable
        from rollcall.ml.train import build_dataset, train

        now, model_type = self.clock(), job.model_type
        self._step(jobs, job, "reading attendance")
        end = self.window_end(now, parse_time(until) if until else None)
        records = self._read_window(jobs, job, end) if end else []
        rows = usable(records)
        stats = {"usable_records": len(rows), "attended": sum(r.attended for r in rows), "as_of": iso(now)}
        if end is not None:
            stats["window"] = {"from": iso(end - self.window), "until": iso(end)}
        state = self.registry.note(model_type, data_stats=stats)
        active = self.registry.version(model_type, state.active) if state.active else None
        if job.mode == IF_NEEDED:
            decision = rules.retrain(
                now, active.rule_view(state) if active else None, len(rows), state.drift_pending
            )
            check = {"at": iso(now), "retrain": decision.yes, "reason": decision.reason, "job_id": job.job_id}
            self.registry.note(model_type, last_retrain_check=check)
            logger.info("retrain decision", extra=check)
            if not decision.yes:
                return {"trained": False, "reason": decision.reason, "usable_records": len(rows)}
        self._step(jobs, job, "building features")
        data = build_dataset(records)
        self._step(jobs, job, f"training on {data.counts['fit_records']} records")
        trained = train(data, now=now)
        self._step(jobs, job, "evaluating the active version on the same holdout")
        active_metrics = self.publisher.active_on(data, active)
        decision = rules.activation(trained.metrics, active_metrics, min_auc=self.min_useful_auc)
        evaluation = {
            "activated": decision.yes,
            "reason": decision.reason,
            "candidate": _headline(trained.metrics),
            "active_version": state.active,
            "active_on_same_holdout": _headline(active_metrics) if active_metrics else None,
            "min_useful_auc": self.min_useful_auc,
        }
        self._step(jobs, job, "storing the artifact")
        entry = self.publisher.register(job, trained, state, evaluation)
        self.registry.note(model_type, last_trained_at=now)
        activated = decision.yes and self.publisher.activate(job, entry, state, decision.reason, now)
        if decision.yes and not activated:
            evaluation |= {
                "activated": False,
                "reason": "another version was activated while this one trained",
            }
            self.registry.update_version(model_type, entry.version, evaluation=evaluation)
        archived = self.publisher.archive(job, model_type, now)
        return {
            "trained": True,
            "version": entry.version,
            "activated": evaluation["activated"],
            "decision": evaluation["reason"],
            "activation": {
                "activated": evaluation["activated"],
                "reason": evaluation["reason"],
                "roc_auc": _headline(trained.metrics)["roc_auc"],
                "min_useful_auc": self.min_useful_auc,
                "active_version": state.active,
                "active_roc_auc": (_headline(active_metrics)["roc_auc"] if active_metrics else None),
            },
            "metrics": _headline(trained.metrics),
            "active_on_same_holdout": evaluation["active_on_same_holdout"],
            "counts": data.counts,
            "window": stats.get("window"),
            "archived": archived,
            "sha256": entry.sha256,
        }


# --- schedules -----------------------------------------------------------------------------------


def weekly_retrain(
    directory: OrgDirectory, trainer_for: Callable[[str], Trainer], now: datetime
) -> dict[str, Any]:
    """One ``if_needed`` job per organisation (the job decides, and records why it did not train)."""
    queued = {}
    for org in directory.organisations():
        trainer = trainer_for(org)
        message = JobMessage(org, new_job_id(), ATTENDANCE, IF_NEEDED, "weekly", "schedule")
        queued[org] = trainer.enqueue(message, now).job_id
    logger.info("weekly retrain: checks queued", extra={"organisations": len(queued)})
    return {"queued": queued}


def remove_expired_predictions(
    directory: OrgDirectory, records_for: Callable[[str], OrgRecords], now: datetime, retention: timedelta
) -> dict[str, Any]:
    """Delete prediction history past its retention, per organisation; the counts."""
    cutoff = now - retention
    removed = {}
    for org in directory.organisations():
        removed[org] = PredictionRepo(records_for(org)).delete_made_before(
            cutoff, months=RETENTION_SCAN_MONTHS
        )
        logger.info("retention: predictions removed", extra={"org": org, "removed": removed[org]})
    total = sum(removed.values())
    count("PredictionsExpired", total)
    logger.info("retention done", extra={"removed": total, "cutoff": iso(cutoff)})
    return {"removed": total, "by_organisation": removed, "cutoff": iso(cutoff)}


def consumer(settings: TrainSettings) -> Callable[[SQSRecord], dict[str, str]]:
    """The training queue's record handler (wrap it with rollcall.platform.handlers.sqs_batch)."""

    def handle(record: SQSRecord) -> dict[str, str]:
        body: Any = None
        try:
            body = json.loads(record.body or "")
            message = JobMessage.parse(body, record.message_id)
        except ValueError:  # not JSON at all
            return _poison(settings, body, "INVALID_MESSAGE", "the message body is not JSON")
        except RollcallError as e:  # not a training message: a bad org, job id, mode or model type
            if e.status >= 500:
                raise
            return _poison(settings, body, e.code, str(e))
        if not OrgDirectory(settings.records_table).knows(message.org):
            return _poison(settings, None, "ORG_NOT_FOUND", "the organisation has no data")
        job = Trainer.of(settings, message.org).run(message)
        return {"job_id": job.job_id, "status": job.status}

    return handle


def _poison(settings: TrainSettings, body: Any, code: str, reason: str) -> dict[str, str]:
    """A message that can never succeed: its job (if it names one of a known organisation) fails
    now, and the record is consumed, not retried (it would reach the DLQ only after every receive's
    visibility timeout, hours later). Store errors still raise: those are worth retrying."""
    logger.error("training message rejected", extra={"code": code, "reason": reason})
    count("TrainingMessageRejected")
    org = body.get("org") if isinstance(body, dict) else None
    job_id = body.get("job_id") if isinstance(body, dict) else None
    if not (
        isinstance(org, str)
        and isinstance(job_id, str)
        and ID_PATTERN.match(org)
        and ID_PATTERN.match(job_id)
    ):
        return {"job_id": "", "status": "rejected", "code": code}
    if not OrgDirectory(settings.records_table).knows(org):
        return {"job_id": "", "status": "rejected", "code": code}
    trainer = Trainer.of(settings, org)
    jobs = JobRepo(trainer.records)
    job = jobs.claim(job_id, now=trainer.clock(), lease=trainer.lease)
    if job is not None:
        jobs.finish(job, FAILED, at=trainer.clock(), error={"code": code, "detail": {"message": reason}})
    return {"job_id": job_id, "status": "rejected", "code": code}


def scheduled(settings: TrainSettings) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The schedule handler: the rule that fired (its name ends with the task) says which task."""

    def on_schedule(event: dict[str, Any], context: Any) -> dict[str, Any]:
        rule = str((event.get("resources") or [""])[0]).rsplit("/", 1)[-1]
        directory = OrgDirectory(settings.records_table)
        now = datetime.now(UTC)
        if rule.endswith("weekly-retrain"):
            return weekly_retrain(directory, lambda org: Trainer.of(settings, org), now)
        if rule.endswith("daily-retention"):
            retention = timedelta(days=settings.prediction_retention_days)
            return remove_expired_predictions(
                directory, lambda org: OrgRecords(org, settings.records_table), now, retention
            )
        raise InvalidInput(f"no task for the schedule {rule!r}")

    return on_schedule


# --- helpers -------------------------------------------------------------------------------------


def _count_usable(records: Iterable[AttendanceRecord], enough: int) -> int:
    """Usable records (distinct session and student), counting no further than ``enough``."""
    from rollcall.ml.features import USABLE

    seen: set[tuple[str, str]] = set()
    for r in records:
        if r.status in USABLE:
            seen.add((r.session_id, r.student_id))
            if len(seen) >= enough:
                break
    return len(seen)


HEADLINE = ("roc_auc", "ece", "brier", "log_loss", "n", "observed_rate", "predicted_rate")


def _headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """The metrics a version is judged by (finite numbers only: JSON and DynamoDB have no NaN)."""
    out = {}
    for name in HEADLINE:
        value = metrics.get(name)
        out[name] = value if isinstance(value, int) or (isinstance(value, float) and value == value) else None
    return out
