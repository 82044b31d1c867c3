"""Attendance predictions: resolve the queries, pick the model, read the history, predict, record.

A request (one query or a batch) goes through five steps:

1. Queries: ``{student_id, session_id}`` takes the class and the start from the session;
   ``{student_id, class_id, starts_at}`` is used as given. (Who may ask about whom is decided by
   the routes: ``rollcall.api.predictions``.)
2. Model: the registry state names the active version (the champion) and, optionally, a
   challenger with a share of students; each student is routed to one of the two, stably
   (``rollcall.ml.policy.route``). A version's ``model.npz`` is read from S3 and checked against
   the sha256 the registry recorded before it is parsed, then kept by this warm container for
   ``MODEL_CACHE_TTL_SECONDS`` (:class:`Caches`). An artifact that fails the check is refused:
   logged, counted (``ModelArtifactRejected``), alerted on the alert queue, and remembered as
   refused for the same time (one alert per container, not one per request).
3. History: each student's own records before the start, and the class's records of the four
   weeks before it (``class_rate_4w``; cached ``HISTORY_CACHE_TTL_SECONDS``). A warm container
   keeps each student's records: every request reads again only the last week of them (where new,
   late and corrected markings land; a batch job's chunks read each student once, all as of the
   job's start), the whole history is read again every
   ``STUDENT_HISTORY_REFRESH_SECONDS`` (a year of records is ~75 read units on DynamoDB; a week
   is 2). A change to a record older than a week reaches predictions within that refresh.
4. Predict (``rollcall.ml.predictor``): the model, else similarity, else the heuristic. ``method``
   says which answered and ``fallback_reason`` why the model did not.
5. Record each prediction (``rollcall.store.prediction_log``) with the version and the variant.

Failures degrade instead of failing the request: a registry, artifact or model failure answers
with the fallbacks; a history that cannot be read answers with the heuristic; a session that
cannot be read answers with the heuristic (its class and start unknown); a prediction that
cannot be recorded is logged and counted (``PredictionNotRecorded``). While a circuit breaker is
open (``rollcall.platform.breaker``: DynamoDB, S3, the model loader) its calls are refused at once,
so the fallbacks answer at once, their ``fallback_reason`` ending "circuit breaker open (<dependency>)".
An unknown session is 404;
a whole-session batch whose session or roster cannot be read is 503 (no one to answer for).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache, partial
from typing import TYPE_CHECKING, Any

from rollcall.domain import AttendanceRecord, Session
from rollcall.ml.features import CLASS_WINDOW_DAYS, History
from rollcall.ml.policy import route
from rollcall.ml.predictor import MODEL, OrgStats, Predictor, Query
from rollcall.platform.auth import Principal
from rollcall.platform.breaker import CircuitOpen
from rollcall.platform.errors import ArtifactIntegrityError, NotFound, RollcallError
from rollcall.platform.observability import count, count_by, logger
from rollcall.platform.settings import PredictSettings
from rollcall.services.alerts import Alert, send_alert
from rollcall.services.registry import load_version, report_integrity
from rollcall.store.artifacts import ArtifactStore
from rollcall.store.attendance import SessionRepo
from rollcall.store.model_versions import ATTENDANCE, ModelRegistry, RegistryState
from rollcall.store.prediction_log import HistoryReader, PredictionRepo, StoredPrediction
from rollcall.store.roster import RosterRepo
from rollcall.store.table import OrgRecords

if TYPE_CHECKING:
    from rollcall.ml.model import AttendanceModel

CHAMPION, CHALLENGER = "champion", "challenger"
MAX_READERS = 8  # concurrent history reads of a batch
RECENT = timedelta(days=7)  # a student's records read again on every request
FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)
MAX_STUDENTS_KEPT = 2000  # students whose history a warm container keeps (about 35 KB each)
WRITE_CHUNK = 500  # predictions per concurrent batch write

NO_MODEL = "no active model"
REGISTRY_DOWN = "the model registry could not be read"
STORE_DOWN = "the model artifact could not be read"
SCORING_FAILED = "the model failed while scoring"
HISTORY_DOWN = "the attendance history could not be read"
SESSION_DOWN = "the session could not be read"
CIRCUIT_OPEN = "circuit breaker open"
UNRESOLVED = ""  # the group of queries whose session could not be read (no version is named "")


@dataclass(frozen=True, slots=True)
class Ask:
    """One query as asked: a session, or a class and a start."""

    student_id: str
    session_id: str | None = None
    class_id: str | None = None
    starts_at: datetime | None = None
    scheduled_at: datetime | None = None  # covariates (rollcall.ml.covariates), when the model uses them
    reminder_sent: bool | None = None
    attributes: tuple[tuple[str, float | str], ...] = ()

    def covariates(self) -> dict[str, Any]:
        return {
            "scheduled_at": self.scheduled_at,
            "reminder_sent": self.reminder_sent,
            "attributes": self.attributes,
        }


class TtlCache:
    """Values kept ``ttl`` seconds after they were put; at most ``max_entries`` (oldest dropped)."""

    def __init__(self, ttl: float, *, max_entries: int = 4096, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> tuple[bool, Any]:
        """(found, value)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or self.clock() - entry[0] >= self.ttl:
                return False, None
            return True, entry[1]

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._entries.pop(key, None)
            if len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries)))
            self._entries[key] = (self.clock(), value)


@dataclass(frozen=True)
class Caches:
    """What a warm container keeps between requests."""

    models: TtlCache  # (org, type, version, sha256) → AttendanceModel | ArtifactIntegrityError
    sessions: TtlCache  # (org, session_id) → Session
    class_sessions: TtlCache  # (org, class_id, since, before) → [session_id]
    session_records: TtlCache  # (org, session_id) → [AttendanceRecord]
    students: TtlCache  # (org, student_id) → [AttendanceRecord], all of them as last read whole

    @classmethod
    @cache
    def shared(cls, model_ttl: float, history_ttl: float, student_ttl: float) -> Caches:
        """The caches of this container (one set per TTL triple: in practice, one)."""
        return cls(
            models=TtlCache(model_ttl, max_entries=64),
            sessions=TtlCache(history_ttl),
            class_sessions=TtlCache(history_ttl),
            session_records=TtlCache(history_ttl),
            students=TtlCache(student_ttl, max_entries=MAX_STUDENTS_KEPT),
        )


@dataclass(frozen=True)
class ModelChoice:
    """Step 2: the registry's state, the version each student is routed to, and that version's
    model, loaded, checked against its sha256 and kept by this container (or why it cannot answer)."""

    org: str
    registry: ModelRegistry
    artifacts: ArtifactStore
    cache: TtlCache  # (org, type, version, sha256) → AttendanceModel | ArtifactIntegrityError
    alert: Callable[[Alert], Any]
    now: datetime
    model_type: str = ATTENDANCE

    def state(self) -> tuple[RegistryState, str | None]:
        try:
            return self.registry.state(self.model_type), None
        except RollcallError as e:
            logger.exception("registry read failed: answering with the fallbacks")
            count("PredictionRegistryFailed")
            return RegistryState(), _why(REGISTRY_DOWN, e)

    @staticmethod
    def route(state: RegistryState, student_id: str) -> tuple[str | None, str]:
        if state.active is None:
            return None, CHAMPION
        version = route(student_id, state.active, state.challenger, state.share)
        return version, CHALLENGER if version != state.active else CHAMPION

    def model(self, state: RegistryState, version: str) -> tuple[Any, str | None]:
        """The verified model of ``version`` (cached), or None and why not."""
        sha = state.active_sha256 if version == state.active else state.challenger_sha256
        key = (self.org, self.model_type, version, sha)
        found, cached = self.cache.get(key)
        if found:
            if isinstance(cached, ArtifactIntegrityError):
                return None, f"the artifact of {version} failed its integrity check"
            return cached, None
        loaded: AttendanceModel | ArtifactIntegrityError
        try:
            loaded = load_version(self.artifacts, self.org, self.model_type, version, sha)
        except ArtifactIntegrityError as e:
            loaded = e
        except RollcallError as e:
            logger.exception(
                "model artifact read failed: answering with the fallbacks", extra={"version": version}
            )
            count("ModelLoadFailed")
            return None, _why(STORE_DOWN, e)
        self.cache.put(key, loaded)
        if isinstance(loaded, ArtifactIntegrityError):
            report_integrity(
                self.org,
                self.model_type,
                version,
                sha,
                loaded,
                now=self.now,
                source="predict",
                alert=self.alert,
            )
            return None, f"the artifact of {version} failed its integrity check"
        logger.info("model loaded", extra={"version": version})
        return loaded, None


@dataclass(frozen=True)
class HistoryReads:
    """Step 3: the records the queries' features read. A warm container keeps each student's
    older records and reads only their last week per request; sessions and the class's last four
    weeks are kept ``HISTORY_CACHE_TTL_SECONDS``."""

    records: OrgRecords
    caches: Caches
    now: datetime
    # students already read by the service that made this (one request, or one whole job): a job's
    # chunks read each student once, all "as of" the job's creation
    read_by_service: dict[str, list[AttendanceRecord]] = field(default_factory=dict)

    def read(self, queries: Sequence[Query]) -> tuple[list[AttendanceRecord], str | None]:
        """The records the queries' features read (and None), or none and why they could not."""
        if not queries:
            return [], None
        reader = HistoryReader(self.records)
        latest: dict[str, datetime] = {}
        windows: dict[str, tuple[datetime, datetime]] = {}
        for q in queries:
            latest[q.student_id] = max(latest.get(q.student_id, q.starts_at), q.starts_at)
            lo, hi = windows.get(q.class_id, (q.starts_at, q.starts_at))
            windows[q.class_id] = (min(lo, q.starts_at), max(hi, q.starts_at))
        tasks: list[Callable[[], list[AttendanceRecord]]] = [
            partial(self.student_records, reader, s, t) for s, t in latest.items()
        ]
        tasks += [
            partial(self.class_records, reader, c, lo - timedelta(days=CLASS_WINDOW_DAYS), hi)
            for c, (lo, hi) in windows.items()
        ]
        try:
            return [r for part in _run(tasks) for r in part], None
        except RollcallError as e:
            logger.exception("history read failed: answering with the heuristic")
            count("PredictionHistoryFailed")
            return [], _why(HISTORY_DOWN, e)

    def student_records(
        self, reader: HistoryReader, student_id: str, before: datetime
    ) -> list[AttendanceRecord]:
        """The student's records before ``before``: those older than a week as kept by this
        container (read whole at most ``STUDENT_HISTORY_REFRESH_SECONDS`` ago), the last week now."""
        records = self.read_by_service.get(student_id)
        if records is None:
            key = (self.records.org, student_id)
            found, kept = self.caches.students.get(key)
            if found:
                cutoff = self.now - RECENT
                fresh = reader.student(student_id, since=cutoff, before=FAR_FUTURE)
                records = [r for r in kept if r.starts_at < cutoff] + fresh
            else:
                records = reader.student(student_id, before=FAR_FUTURE)
                self.caches.students.put(key, records)
            self.read_by_service[student_id] = records
        return [r for r in records if r.starts_at < before]

    def class_records(
        self, reader: HistoryReader, class_id: str, since: datetime, before: datetime
    ) -> list[AttendanceRecord]:
        org = self.records.org
        key = (org, class_id, since, before)
        found, session_ids = self.caches.class_sessions.get(key)
        if not found:
            session_ids = [s.session_id for s in reader.class_sessions(class_id, since=since, before=before)]
            self.caches.class_sessions.put(key, session_ids)
        out: list[AttendanceRecord] = []
        for session_id in session_ids:
            found, records = self.caches.session_records.get((org, session_id))
            if not found:
                records = reader.session_records(session_id)
                self.caches.session_records.put((org, session_id), records)
            out.extend(records)
        return out


@dataclass
class PredictionService:
    """Predictions for one organisation, with the stores and caches they use."""

    records: OrgRecords
    registry: ModelRegistry
    artifacts: ArtifactStore
    caches: Caches
    alert: Callable[[Alert], Any]
    retention: timedelta
    now: datetime
    model_type: str = ATTENDANCE
    # each student's records as this service read them (an API request's service, or a whole job's)
    _students_read: dict[str, list[AttendanceRecord]] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def of(cls, settings: PredictSettings, org: str, now: datetime) -> PredictionService:
        return cls(
            records=OrgRecords(org, settings.records_table),
            registry=ModelRegistry(org, settings.registry_table),
            artifacts=ArtifactStore(settings.model_bucket),
            caches=Caches.shared(
                settings.model_cache_ttl_seconds,
                settings.history_cache_ttl_seconds,
                settings.student_history_refresh_seconds,
            ),
            alert=lambda alert: send_alert(alert, settings.alert_queue_url),
            retention=timedelta(days=settings.prediction_retention_days),
            now=now,
        )

    @property
    def models(self) -> ModelChoice:
        return ModelChoice(
            self.records.org,
            self.registry,
            self.artifacts,
            self.caches.models,
            self.alert,
            self.now,
            self.model_type,
        )

    @property
    def history(self) -> HistoryReads:
        return HistoryReads(self.records, self.caches, self.now, self._students_read)

    # --- entry points -----------------------------------------------------------------------------

    def predict(
        self, who: Principal, asks: Sequence[Ask], *, ids: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Predictions for ``asks``, in order (``who``: recorded as who asked). ``ids``: the
        predictions' ids (a job's, fixed by its position, so that a repeated step rewrites the
        same history items); by default new random ones."""
        queries, unresolved = self._resolve(asks)
        return self._answer(who, queries, unresolved, ids)

    def predict_session(self, who: Principal, session_id: str) -> list[dict[str, Any]]:
        """Predictions for every student of the class of ``session_id``."""
        session = self._session(session_id)
        if session is None:
            raise NotFound(f"no session {session_id}", code="SESSION_NOT_FOUND")
        students = RosterRepo(self.records).members(session.class_id)
        queries = [Query(s, session.class_id, session.starts_at, session.session_id) for s in students]
        return self._answer(who, queries, {}) if queries else []

    # --- step 1: queries ---------------------------------------------------------------------------

    def _resolve(self, asks: Sequence[Ask]) -> tuple[list[Query], dict[int, str]]:
        """The queries, and the positions of those whose session could not be read (with why)."""
        sessions: dict[str, Session | None] = {}
        unreadable: dict[str, str] = {}
        for session_id in sorted({a.session_id for a in asks if a.session_id}):
            try:
                sessions[session_id] = self._session(session_id)
            except RollcallError as e:
                logger.exception("session read failed: answering with the heuristic")
                unreadable[session_id] = _why(SESSION_DOWN, e)
        missing = sorted(s for s, found in sessions.items() if found is None and s not in unreadable)
        if missing:
            raise NotFound(
                {"reason": "unknown session(s)", "session_ids": missing[:20], "count": len(missing)},
                code="SESSION_NOT_FOUND",
            )
        self._require_students(sorted({a.student_id for a in asks}))
        queries: list[Query] = []
        unresolved: dict[int, str] = {}
        for i, ask in enumerate(asks):
            session = sessions.get(ask.session_id) if ask.session_id else None
            if session is not None:
                queries.append(
                    Query(
                        ask.student_id,
                        session.class_id,
                        session.starts_at,
                        session.session_id,
                        **ask.covariates(),
                    )
                )
            elif ask.session_id:  # unreadable: class and start unknown, the heuristic answers
                unresolved[i] = unreadable[ask.session_id]
                queries.append(Query(ask.student_id, "", self.now, ask.session_id))
            else:
                assert ask.class_id is not None and ask.starts_at is not None
                queries.append(Query(ask.student_id, ask.class_id, ask.starts_at, None, **ask.covariates()))
        return queries, unresolved

    def _require_students(self, student_ids: list[str]) -> None:
        """404 STUDENT_NOT_FOUND for a student who does not exist or is being erased: a prediction
        is recorded in the student's partition, where nothing may be written for no one."""
        try:
            live = RosterRepo(self.records).live(student_ids)
            unknown = [s for s in student_ids if s not in live]
        except RollcallError:  # the store is down: the answer degrades and nothing is recorded
            logger.exception("student lookup failed: answering without checking")
            return
        if unknown:
            raise NotFound(
                {"reason": "unknown student(s)", "student_ids": unknown[:20], "count": len(unknown)},
                code="STUDENT_NOT_FOUND",
            )

    def _session(self, session_id: str) -> Session | None:
        key = (self.records.org, session_id)
        found, session = self.caches.sessions.get(key)
        if not found:
            session = SessionRepo(self.records).get(session_id)
            if session is not None:
                self.caches.sessions.put(key, session)
        return session

    # --- steps 2 to 5 (2 and 3 are ModelChoice and HistoryReads) ---------------------------------

    def _answer(
        self,
        who: Principal,
        queries: list[Query],
        unresolved: dict[int, str],
        ids: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        resolved = [q for i, q in enumerate(queries) if i not in unresolved]
        models = self.models
        (state, registry_reason), (records, history_down) = _both(
            models.state, partial(self.history.read, resolved)
        )
        routed = [models.route(state, q.student_id) for q in queries]
        history = History.from_records(records)
        stats = _org_stats(state, records)
        groups: dict[str | None, list[int]] = {}
        for i, (version, _) in enumerate(routed):
            groups.setdefault(UNRESOLVED if i in unresolved else version, []).append(i)
        out: list[dict[str, Any]] = [{} for _ in queries]
        for version, positions in groups.items():
            reason: str | None
            if version == UNRESOLVED:
                model, reason, version = None, unresolved[positions[0]], None
            elif history_down:
                model, reason = None, history_down
            elif version is None:
                model, reason = None, registry_reason or NO_MODEL
            else:
                model, reason = models.model(state, version)
            answers = Predictor(model, version, stats).predict(history, [queries[i] for i in positions])
            for i, item in zip(positions, answers.items(), strict=True):
                item["fallback_reason"] = None if item["method"] == MODEL else (reason or SCORING_FAILED)
                if i in unresolved:
                    item["class_id"] = item["starts_at"] = None
                item["variant"] = routed[i][1]
                out[i] = item
        self._record(who, out, ids)
        count("PredictionsMade", len(out))
        for method, n in Counter(str(item["method"]) for item in out if item).items():
            count_by("PredictionsByMethod", "method", method, n)
        return out

    def _record(
        self, who: Principal, answers: list[dict[str, Any]], ids: Sequence[str] | None = None
    ) -> None:
        """Store the predictions (with their ids added to the answers); failures are only logged."""
        rows = []
        for i, a in enumerate(answers):
            a["prediction_id"] = ids[i] if ids is not None else uuid.uuid4().hex[:20]
            if a["starts_at"] is None:
                continue  # an unresolved session: nothing to compare with later
            stored = StoredPrediction(
                prediction_id=a["prediction_id"],
                student_id=a["student_id"],
                session_id=a["session_id"],
                class_id=a["class_id"],
                starts_at=datetime.fromisoformat(a["starts_at"].replace("Z", "+00:00")),
                probability=a["probability"],
                method=a["method"],
                model_type=self.model_type,
                model_version=a["model_version"],
                variant=a["variant"],
                made_at=self.now,
                made_by=who.sub,
            )
            rows.append((stored, {"interval": a["interval"], "risk_level": a["risk_level"]}))
        repo = PredictionRepo(self.records)
        chunks = [rows[i : i + WRITE_CHUNK] for i in range(0, len(rows), WRITE_CHUNK)]
        try:
            _run([partial(repo.put_many, c, retention=self.retention) for c in chunks])
        except RollcallError:
            logger.exception("predictions could not be recorded", extra={"count": len(rows)})
            count("PredictionNotRecorded", len(rows))


def _why(reason: str, error: BaseException) -> str:
    """A fallback's reason, saying so when a circuit breaker refused the call at once."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, CircuitOpen):
            return f"{reason}: {CIRCUIT_OPEN} ({seen.dependency})"
        seen = seen.__cause__ or seen.__context__
    return reason


def _org_stats(state: RegistryState, records: Iterable[AttendanceRecord]) -> OrgStats:
    """The heuristic's base rate: the organisation's usable records as last counted by training
    (the registry's ``data_stats``), else the records this request read."""
    stats = state.data_stats
    if stats.get("usable_records"):
        return OrgStats(int(stats["attended"]), int(stats["usable_records"]))
    return OrgStats.from_records(records)


def _both[A, B](first: Callable[[], A], second: Callable[[], B]) -> tuple[A, B]:
    """Two independent calls at once; their results."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        later = pool.submit(second)
        return first(), later.result()


def _run[T](tasks: Sequence[Callable[[], T]]) -> list[T]:
    """Run the tasks (concurrently when there are several); their results in order."""
    if len(tasks) <= 1:
        return [task() for task in tasks]
    with ThreadPoolExecutor(max_workers=min(MAX_READERS, len(tasks))) as pool:
        return list(pool.map(lambda task: task(), tasks))
