"""Predictions on moto: the model, its cache and integrity check, champion/challenger routing,
and every degraded path (no model, registry, artifact store, history or session unreadable)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from rollcall.domain import AttendanceRecord, Session, Source, Status, Student
from rollcall.platform.auth import Principal, Role
from rollcall.platform.errors import NotFound
from rollcall.services.prediction import Ask, Caches, PredictionService, TtlCache
from rollcall.services.training import JobMessage
from rollcall.store.artifacts import ArtifactStore
from rollcall.store.attendance import AttendanceRepo
from rollcall.store.model_versions import ModelRegistry
from rollcall.store.prediction_log import HistoryReader, PredictionRepo
from rollcall.store.roster import RosterRepo
from rollcall.store.table import OrgRecords
from testkit.synthetic import SyntheticHistory
from tests.integration.models.conftest import NOW, Outbox, Stores, recent_history, store

ORG = "pred-a"
TEACHER = Principal("alice", ORG, Role.TEACHER)


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def history(stores: Stores) -> SyntheticHistory:
    history = recent_history(ORG, students=16, seed=8)
    store(stores.records(ORG), history)
    assert stores.trainer(ORG, Outbox()).run(JobMessage(ORG, "job-p1")).result["activated"]
    return history


@pytest.fixture(scope="module")
def session(history: SyntheticHistory) -> Session:
    return history.sessions[-1]


@pytest.fixture(scope="module")
def student(history: SyntheticHistory, session: Session) -> str:
    return next(s.student_id for s in history.students if session.class_id in s.class_ids)


def service(
    stores: Stores, clock: Clock | None = None, outbox: Outbox | None = None, **parts: Any
) -> PredictionService:
    clock = clock or Clock()
    caches = Caches(*(TtlCache(60, clock=clock) for _ in range(5)))
    made = PredictionService(
        records=stores.records(ORG),
        registry=stores.registry(ORG),
        artifacts=stores.artifacts(),
        caches=caches,
        alert=(outbox or Outbox()).alerts.append,
        retention=timedelta(days=365),
        now=NOW,
    )
    return replace(made, **parts)


def test_the_model_answers_and_is_kept_by_the_container_for_its_ttl(
    stores: Stores, history: SyntheticHistory, session: Session, student: str
) -> None:
    clock = Clock()
    predictions = service(stores, clock)
    (first,) = predictions.predict(TEACHER, [Ask(student, session.session_id)])
    assert (first["method"], first["model_version"], first["variant"]) == ("model", "v0001", "champion")

    # While the entry lives, the artifact store is not read again
    predictions.artifacts = ArtifactStore("no-such-bucket", client=stores.aws.client("s3"))
    again = predictions.predict(TEACHER, [Ask(student, session.session_id)])[0]
    assert (again["method"], again["probability"]) == ("model", first["probability"])

    # After it, the model is read again: the store is down, so the fallbacks answer
    clock.t = 61
    later = predictions.predict(TEACHER, [Ask(student, session.session_id)])[0]
    assert later["method"] == "similarity"
    assert later["fallback_reason"] == "the model artifact could not be read"


def test_predictions_are_recorded_with_version_and_variant(
    stores: Stores, history: SyntheticHistory, session: Session, student: str
) -> None:
    (answer,) = service(stores).predict(TEACHER, [Ask(student, session.session_id)])
    stored = {p.prediction_id: p for p in PredictionRepo(stores.records(ORG)).made_between(NOW, NOW)}
    mine = stored[answer["prediction_id"]]
    assert (mine.model_version, mine.variant, mine.method, mine.made_by) == (
        "v0001",
        "champion",
        "model",
        "alice",
    )
    assert mine.probability == answer["probability"] and mine.session_id == session.session_id


def test_a_tampered_artifact_is_refused_once_per_container_and_alerted(
    stores: Stores, history: SyntheticHistory, session: Session, student: str
) -> None:
    registry = stores.registry(ORG)
    v1 = registry.require("attendance", "v0001")
    good = stores.artifacts().get("models/attendance/pred-a/v0001/model.npz")
    registry.register(replace(v1, version="v0009", job_id=None, status="candidate"))
    stores.artifacts().put("models/attendance/pred-a/v0009/", {"model.npz": good + b"tampered"})
    registry.activate("attendance", registry.require("attendance", "v0009"), actor="root", at=NOW)
    outbox = Outbox()
    try:
        predictions = service(stores, outbox=outbox)
        answers = [predictions.predict(TEACHER, [Ask(student, session.session_id)])[0] for _ in range(2)]
    finally:
        registry.activate("attendance", v1, actor="root", at=NOW)

    assert {(a["method"], a["model_version"]) for a in answers} == {("similarity", None)}
    assert answers[0]["fallback_reason"] == "the artifact of v0009 failed its integrity check"
    (alert,) = outbox.alerts  # one alert: the refusal is remembered
    assert (alert.org, alert.subject, alert.severity) == (ORG, "model:attendance:v0009", "critical")
    assert (alert.evidence["reason"], alert.evidence["expected_sha256"]) == ("sha256 mismatch", v1.sha256)


def test_a_challenger_gets_a_stable_share_of_students(
    stores: Stores, history: SyntheticHistory, session: Session
) -> None:
    registry = stores.registry(ORG)
    v1 = registry.require("attendance", "v0001")
    good = stores.artifacts().get("models/attendance/pred-a/v0001/model.npz")
    stores.artifacts().put("models/attendance/pred-a/v0008/", {"model.npz": good})
    registry.register(replace(v1, version="v0008", job_id=None))
    registry.set_traffic("attendance", registry.require("attendance", "v0008"), 0.5, actor="root", at=NOW)
    try:
        asks = [
            Ask(s.student_id, class_id=session.class_id, starts_at=session.starts_at)
            for s in history.students
        ]
        first = service(stores).predict(TEACHER, asks)
        second = service(stores).predict(TEACHER, asks)
    finally:
        registry.set_traffic("attendance", None, 0.0, actor="root", at=NOW)

    routed = {(a["variant"], a["model_version"]) for a in first}
    assert routed == {("champion", "v0001"), ("challenger", "v0008")}
    assert [a["variant"] for a in first] == [a["variant"] for a in second]
    # The same model under two names: the same answers
    assert [a["probability"] for a in first] == [a["probability"] for a in second]


def test_without_an_active_model_similarity_or_the_heuristic_answers(
    stores: Stores, history: SyntheticHistory, session: Session, student: str
) -> None:
    predictions = service(stores, registry=stores.registry("pred-nothing-active"))
    RosterRepo(stores.records(ORG)).put_profile(
        Student("brand-new", "New", ()), created_by="t", created_at=NOW
    )  # a student with no history yet
    seen, new = predictions.predict(
        TEACHER,
        [
            Ask(student, session.session_id),
            Ask("brand-new", class_id=session.class_id, starts_at=session.starts_at),
        ],
    )
    assert (seen["method"], seen["fallback_reason"]) == ("similarity", "no active model")
    assert [f["name"] for f in seen["factors"]][:1] == ["rate_similar_sessions"]
    assert (new["method"], new["fallback_reason"]) == ("heuristic", "no active model")


def test_store_failures_degrade_and_never_fail_the_request(
    stores: Stores, history: SyntheticHistory, session: Session, student: str
) -> None:
    client = stores.aws.client("dynamodb")
    ask = Ask(student, class_id=session.class_id, starts_at=session.starts_at)

    registry_down = service(stores, registry=ModelRegistry(ORG, "no-such-table", client=client))
    (answer,) = registry_down.predict(TEACHER, [ask])
    assert (answer["method"], answer["fallback_reason"]) == (
        "similarity",
        "the model registry could not be read",
    )

    records_down = service(stores, records=OrgRecords(ORG, "no-such-table", client=client))
    (answer,) = records_down.predict(TEACHER, [ask])
    assert (answer["method"], answer["fallback_reason"]) == (
        "heuristic",
        "the attendance history could not be read",
    )

    (answer,) = records_down.predict(TEACHER, [Ask(student, session.session_id)])
    assert (answer["method"], answer["fallback_reason"]) == ("heuristic", "the session could not be read")
    assert (answer["session_id"], answer["class_id"], answer["starts_at"]) == (session.session_id, None, None)


def test_a_student_who_does_not_exist_or_was_erased_gets_no_prediction_stored(
    stores: Stores, history: SyntheticHistory, session: Session, student: str
) -> None:
    records = stores.records(ORG)
    for ghost in ("nobody-at-all", "erased-one"):
        if ghost == "erased-one":  # a profile being erased counts as gone
            RosterRepo(records).create(Student(ghost, "E", ("elsewhere",)), created_by="t", created_at=NOW)
            RosterRepo(records).mark_erasing(ghost)
        with pytest.raises(NotFound) as refused:
            service(stores).predict(TEACHER, [Ask(student), Ask(ghost, session.session_id)])
        assert (refused.value.status, refused.value.code) == (404, "STUDENT_NOT_FOUND")
        assert refused.value.detail["student_ids"] == [ghost]
        stored = records.query(records.key("STUDENT", ghost), sk_prefix="PRED#", consistent=True)
        assert list(stored) == []


def test_a_whole_session_is_predicted_and_a_student_asks_about_itself(
    stores: Stores, history: SyntheticHistory, session: Session, student: str
) -> None:
    predictions = service(stores)
    answers = predictions.predict_session(TEACHER, session.session_id)
    members = sorted(s.student_id for s in history.students if session.class_id in s.class_ids)
    assert sorted(a["student_id"] for a in answers) == members
    assert {a["method"] for a in answers} == {"model"}

    with pytest.raises(NotFound) as unknown:
        predictions.predict(TEACHER, [Ask(student, "no-such-session")])
    assert unknown.value.code == "SESSION_NOT_FOUND"
    itself = Principal(student, ORG, Role.STUDENT)
    assert predictions.predict(itself, [Ask(student, session.session_id)])[0]["student_id"] == student
    # (a student asking about another, or for a whole class, is refused by the routes:
    # tests/unit/test_access.py)


def test_a_students_history_is_kept_with_the_last_week_always_read_again(
    stores: Stores, history: SyntheticHistory, session: Session, student: str
) -> None:
    # Given a container, a day after the student's latest session, that has read their history once
    # (a day after: the history ends where this week began, so on a Friday evening NOW itself can
    # lie more than a week after the student's latest session)
    mine = [r for r in history.records if r.student_id == student]
    recent = max(mine, key=lambda r: r.starts_at)
    clock = Clock()
    predictions = service(stores, clock, now=recent.starts_at + timedelta(days=1))
    reader_calls: list[tuple[str, Any]] = []
    read = predictions.history.student_records
    first = read(_Counting(reader_calls, stores.records(ORG)), student, NOW)
    assert [kind for kind, _ in reader_calls] == ["whole"]
    assert len(first) == len(mine)

    # When a record of the last week is corrected and one of a month ago too
    attendance = AttendanceRepo(stores.records(ORG))
    old = next(r for r in mine if r.starts_at < NOW - timedelta(days=30))
    flipped = {Status.PRESENT: Status.ABSENT, Status.LATE: Status.ABSENT}
    for r in (recent, old):
        corrected = replace(r, status=flipped.get(r.status, Status.PRESENT), source=Source.CORRECTION)
        attendance.write(corrected, mode="replace")

    def status_of(records: list[AttendanceRecord], of: AttendanceRecord) -> Status:
        return next(r.status for r in records if r.session_id == of.session_id)

    # Then the same request (a job's service) reads nothing again: its answers are as of its start
    reader_calls.clear()
    again = read(_Counting(reader_calls, stores.records(ORG)), student, NOW)
    assert reader_calls == [] and again == first
    # And the next request (a new service, the container's caches) sees the recent correction at
    # once, reading only the last week
    read = replace(predictions).history.student_records
    second = read(_Counting(reader_calls, stores.records(ORG)), student, NOW)
    assert [kind for kind, _ in reader_calls] == ["since"]
    assert status_of(second, recent) != recent.status
    assert status_of(second, old) == old.status
    # And the old one once the refresh is due
    clock.t = 61
    read = replace(predictions).history.student_records
    third = read(_Counting(reader_calls, stores.records(ORG)), student, NOW)
    assert status_of(third, old) != old.status
    assert len(third) == len(mine)


class _Counting(HistoryReader):
    """A HistoryReader that notes whether each student read was whole or since a time."""

    def __init__(self, calls: list[tuple[str, Any]], records: OrgRecords) -> None:
        super().__init__(records)
        self.calls = calls

    def student(
        self, student_id: str, *, before: datetime, since: datetime | None = None
    ) -> list[AttendanceRecord]:
        self.calls.append(("since" if since else "whole", {"before": before, "since": since}))
        return super().student(student_id, before=before, since=since)
