"""Fixtures of the model tests: the template's tables, bucket and queues on moto, a stored
synthetic organisation, and the services wired to them (with fakes for the queues)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rollcall.domain import Student
from rollcall.services.alerts import Alert
from rollcall.services.training import Trainer
from rollcall.store.artifacts import ArtifactStore
from rollcall.store.attendance import AttendanceRepo, SessionRepo
from rollcall.store.model_versions import ModelRegistry
from rollcall.store.photos import PhotoStore
from rollcall.store.roster import RosterRepo
from rollcall.store.table import OrgDirectory, OrgRecords
from rollcall_local.emulator import Aws
from rollcall_local.template import Physical
from testkit.synthetic import SyntheticHistory, generate

NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass
class Outbox:
    """What the services sent: training messages and alerts (fakes of the queues)."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)

    def send(self, body: dict[str, Any]) -> str:
        self.messages.append(body)
        return f"m-{len(self.messages)}"


@dataclass(frozen=True)
class Stores:
    aws: Aws
    records_table: str
    registry_table: str
    bucket: str
    photo_bucket: str

    def records(self, org: str) -> OrgRecords:
        return OrgRecords(org, self.records_table, client=self.aws.client("dynamodb"))

    def photos(self, org: str) -> PhotoStore:
        return PhotoStore(org, self.photo_bucket, keep=False, client=self.aws.client("s3"))

    def registry(self, org: str) -> ModelRegistry:
        return ModelRegistry(org, self.registry_table, client=self.aws.client("dynamodb"))

    def artifacts(self) -> ArtifactStore:
        return ArtifactStore(self.bucket, client=self.aws.client("s3"))

    def trainer(self, org: str, outbox: Outbox, clock: Callable[[], datetime] | None = None) -> Trainer:
        return Trainer(
            records=self.records(org),
            registry=self.registry(org),
            artifacts=self.artifacts(),
            send=outbox.send,
            alert=outbox.alerts.append,
            window=timedelta(days=365),
            lease=timedelta(minutes=16),
            clock=clock or (lambda: datetime.now(UTC)),
        )


@pytest.fixture(scope="module")
def stores(aws: Aws, physical: Physical) -> Stores:
    refs = physical.refs
    return Stores(
        aws, refs["RecordsTable"], refs["ModelRegistryTable"], refs["ModelBucket"], refs["PhotoBucket"]
    )


def recent_history(org: str, *, students: int = 20, weeks: int = 6, seed: int = 5) -> SyntheticHistory:
    """A clean synthetic organisation whose history ends where this week begins."""
    today = NOW.date()
    monday = datetime.combine(today - timedelta(days=today.weekday(), weeks=weeks), datetime.min.time(), UTC)
    return generate(org, students=students, weeks=weeks, seed=seed, start=monday, anomalies=False)


def store(records: OrgRecords, history: SyntheticHistory) -> None:
    """Students, memberships, sessions and attendance (what training and prediction read)."""
    OrgDirectory(records.table, client=records.client).register(records.org)
    roster = RosterRepo(records)
    for s in history.students:
        roster.put_profile(Student(s.student_id, s.name, s.class_ids), created_by="test", created_at=NOW)
    roster.ensure_members({(c, s.student_id) for s in history.students for c in s.class_ids})
    SessionRepo(records).ensure(history.sessions, created_by="test", created_at=NOW)
    AttendanceRepo(records).write_many(history.records, mode="replace")
