"""Bulk store paths on the local emulator: import, seeding, marking a large class.

Each row beside its reference in the same run: the one-item-at-a-time path the code took before
(one PutItem per record and per session; one read and one conditional write per student). The
emulator runs in its own process, as ``make run`` runs it (``rollcall_local.emulator.Emulator``;
``BENCH_BULK_ENDPOINT=http://127.0.0.1:<port>`` measures another one already listening).

Sizes are environment variables (defaults keep the module to a few minutes on 2 shared cores):
``BENCH_IMPORT_STUDENTS``/``BENCH_IMPORT_WEEKS`` (the import's file), ``BENCH_SEED_STUDENTS``/
``BENCH_SEED_WEEKS`` (``make seed``'s history), ``BENCH_REFERENCE_ITEMS`` (how many items the
one-at-a-time reference writes: its rate is what is compared), ``BENCH_MARK_STUDENTS``.
"""

from __future__ import annotations

import contextlib
import os
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bench.harness import Report, Row, Section
from testkit.net import free_port

if TYPE_CHECKING:
    from multiprocessing import Queue

    from rollcall.domain import AttendanceRecord
    from rollcall.store.table import OrgRecords
    from testkit.synthetic import SyntheticHistory


def _env(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


IMPORT_STUDENTS, IMPORT_WEEKS = _env("BENCH_IMPORT_STUDENTS", 100), _env("BENCH_IMPORT_WEEKS", 4)
SEED_STUDENTS, SEED_WEEKS = _env("BENCH_SEED_STUDENTS", 30), _env("BENCH_SEED_WEEKS", 16)
REFERENCE_ITEMS = _env("BENCH_REFERENCE_ITEMS", 1500)
MARK_STUDENTS, MARK_SEEN = _env("BENCH_MARK_STUDENTS", 2000), 24
IMPORT_TARGET_RATE, SEED_TARGET_S, MARK_TARGET_S = 5000.0, 60.0, 1.5
FULL_IMPORT_ROWS, FULL_SEED = 110_000, (300, 16)


def run(report: Report) -> None:
    from rollcall.platform.observability import logger

    logger.setLevel("WARNING")
    section = report.section(
        "Bulk store paths (import, seed, marking) on the local emulator",
        "the one-item-at-a-time path of before, in the same run: one PutItem per record and session "
        "(import, seed); one read and one conditional write per student (marking)",
    )
    with _emulator() as aws:
        table = _provision(aws)
        _import(section, aws, table)
        _seed(section, aws, table)
        _marking(section, aws, table)
        _cpu_rows(section)


# --- the emulator ----------------------------------------------------------------------------------


# CPU seconds of this process and of the emulator's two (its front, the Python process serving
# 127.0.0.1, and dynalite, its Node child), per path measured: what each row costs each of them,
# whatever the machine's load (a wall time on a shared machine is mostly waiting for a core).
_CPU: dict[str, dict[str, float]] = {}
_PIDS: dict[str, int] = {}


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (every thread), from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(c) for c in f.read().split()]
    return found


class _cpu:
    """CPU seconds spent by the client (this process), the front and dynalite within the block."""

    def __init__(self, what: str, count: int) -> None:
        self.what, self.count = what, count

    def _now(self) -> dict[str, float]:
        now = {"client": time.process_time()}
        now.update({name: _proc_cpu(pid) for name, pid in _PIDS.items()})
        return now

    def __enter__(self) -> _cpu:
        self.start = self._now()
        return self

    def __exit__(self, *exc: object) -> None:
        end = self._now()
        _CPU[self.what] = {k: (end[k] - self.start[k]) / max(1, self.count) for k in end}


def _cpu_rows(section: Section) -> None:
    """Per row: CPU microseconds of each process, and the rate they allow on two free cores."""
    for what, per in _CPU.items():
        shares = ", ".join(f"{name} {1e6 * seconds:.0f} µs" for name, seconds in per.items())
        # three processes on two cores: no faster than the busiest one alone, nor than the sum
        # of all of them shared by two cores
        ceiling = min(1 / max(per.values()), 2 / sum(per.values())) if sum(per.values()) else 0.0
        section.rows.append(
            Row(
                f"CPU per {what} ({', '.join(per)})",
                shares,
                "n/a",
                f"{ceiling:,.0f}/s on 2 free cores",
                "info: where the time goes",
                None,
            )
        )


class _emulator:
    def __enter__(self) -> Any:
        from multiprocessing import get_context

        from rollcall_local.emulator import EMULATOR_CREDENTIALS, Aws

        self.process = None
        endpoint = os.environ.get("BENCH_BULK_ENDPOINT")
        if not endpoint:
            context = get_context("fork")
            ready: Queue[Any] = context.Queue()
            port = free_port()
            self.process = context.Process(target=_serve, args=(port, ready), daemon=True)
            self.process.start()
            ready.get(timeout=120)
            endpoint = f"http://127.0.0.1:{port}"
            front = self.process.pid or 0
            _PIDS["front"] = front
            node = _children(front)
            if node:
                _PIDS["dynalite"] = node[0]
        return Aws(endpoint, "us-east-1", True, dict(EMULATOR_CREDENTIALS))

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.kill()


def _serve(port: int, ready: Queue[Any]) -> None:
    from bench.local_stack import disk_emulator

    disk_emulator(port).start()
    ready.put(port)
    while True:
        time.sleep(60)


def _provision(aws: Any) -> str:
    """The template's resources on our emulator; on another endpoint (``BENCH_BULK_ENDPOINT``:
    possibly a DynamoDB emulator only), the records table alone, as the template declares it."""
    from rollcall_local.config import LocalConfig
    from rollcall_local.provision import TABLE, planned, provision
    from rollcall_local.session import load_template

    local = LocalConfig.from_env(
        {**os.environ, "ROLLCALL_LOCAL_DIR": f"/tmp/rollcall-bench-bulk-{os.getpid()}"}
    )
    template = load_template(local)
    if not os.environ.get("BENCH_BULK_ENDPOINT"):
        return str(provision(template, aws).refs["RecordsTable"])
    physical = planned(template)
    name = str(physical.refs["RecordsTable"])
    props = template.resolve(template.resources_of(TABLE)["RecordsTable"], physical)
    dynamodb = aws.client("dynamodb")
    create = {
        k: props[k] for k in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes") if k in props
    }
    with contextlib.suppress(dynamodb.exceptions.ResourceInUseException):
        dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **create)
    dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    return name


def _records(aws: Any, table: str, org: str) -> OrgRecords:
    from rollcall.store.table import OrgRecords

    return OrgRecords(org, table, client=aws.client("dynamodb"))


def _one_at_a_time(records: OrgRecords, items: list[dict[str, Any]]) -> float:
    """Seconds to write ``items`` one PutItem each, in order (the reference)."""
    start = time.perf_counter()
    for item in items:
        records.put(item)
    return time.perf_counter() - start


# --- import ----------------------------------------------------------------------------------------


def _csv(history: SyntheticHistory) -> str:
    from rollcall.domain import iso

    lines = ["student_id,class_id,session_id,starts_at,ends_at,status,arrived_at"]
    for r in history.records:
        arrived = iso(r.arrived_at) if r.arrived_at else ""
        lines.append(
            f"{r.student_id},{r.class_id},{r.session_id},{iso(r.starts_at)},{iso(r.ends_at)},"
            f"{r.status.value},{arrived}"
        )
    return "\n".join(lines) + "\n"


def _import(section: Section, aws: Any, table: str) -> None:
    from rollcall.platform.auth import Principal, Role
    from rollcall.services.importing import import_csv
    from rollcall.store.attendance import record_to_item
    from testkit.synthetic import generate

    history = generate("bench-import", IMPORT_STUDENTS, IMPORT_WEEKS, 21, anomalies=False)
    data = _csv(history)
    records = _records(aws, table, "bench-import")
    start = time.perf_counter()
    with _cpu("imported row", data.count("\n") - 1):
        result = import_csv(records, Principal("bench", records.org, Role.ADMIN), data, now=datetime.now(UTC))
    ours = time.perf_counter() - start
    rows = result.rows
    # the reference: the same kind of rows, one PutItem each (sessions and records)
    reference_org = _records(aws, table, "bench-import-ref")
    sample = history.records[:REFERENCE_ITEMS]
    sessions = {r.session_id for r in sample}
    items = [_session_item(reference_org, s) for s in history.sessions if s.session_id in sessions]
    items += [record_to_item(reference_org, r) for r in sample]
    ref = _one_at_a_time(reference_org, items)
    ours_rate, ref_rate = rows / ours, len(sample) / ref
    section.rows.append(
        Row(
            f"make import's path: {rows:,} rows ({IMPORT_STUDENTS} students × {IMPORT_WEEKS} weeks)",
            f"{ours:.1f} s, {ours_rate:,.0f} rows/s",
            f"{ref_rate:,.0f} rows/s ({len(sample):,} rows one at a time)",
            f"{ours_rate / ref_rate:.1f}x the rate",
            f"≥ {IMPORT_TARGET_RATE:,.0f} rows/s",
            ours_rate >= IMPORT_TARGET_RATE,
        )
    )
    section.notes.append(
        f"import: {FULL_IMPORT_ROWS:,} rows at the measured rate would take "
        f"{FULL_IMPORT_ROWS / ours_rate:.0f} s (target ≤ 30 s); "
        f"one at a time {FULL_IMPORT_ROWS / ref_rate:.0f} s. Counts: {result.counts()}"
    )


def _session_item(records: OrgRecords, session: Any) -> dict[str, Any]:
    from rollcall.store.attendance import SessionRepo

    return SessionRepo(records)._item(session, created_by="bench", created_at="2026-01-01T00:00:00Z")


# --- seed ------------------------------------------------------------------------------------------


def _seed(section: Section, aws: Any, table: str) -> None:
    from testkit.seeding import item_count, store_history
    from testkit.synthetic import generate

    history = generate("bench-seed", SEED_STUDENTS, SEED_WEEKS, 7)
    records = _records(aws, table, "bench-seed")
    items = item_count(history)
    start = time.perf_counter()
    with _cpu("seeded item", items):
        written = store_history(records, history)
    ours = time.perf_counter() - start
    ref_items = _seed_reference_items(_records(aws, table, "bench-seed-ref"), history)
    ref = _one_at_a_time(_records(aws, table, "bench-seed-ref"), ref_items)
    ours_rate, ref_rate = items / ours, len(ref_items) / ref
    full = generate("bench-seed-size", *FULL_SEED, 7)
    full_items = item_count(full)
    section.rows.append(
        Row(
            f"make seed's path: {SEED_STUDENTS} students × {SEED_WEEKS} weeks ({items:,} items)",
            f"{ours:.1f} s, {ours_rate:,.0f} items/s",
            f"{ref_rate:,.0f} items/s ({len(ref_items):,} items one at a time)",
            f"{ours_rate / ref_rate:.1f}x the rate",
            f"{FULL_SEED[0]} × {FULL_SEED[1]} ≤ {SEED_TARGET_S:.0f} s",
            full_items / ours_rate <= SEED_TARGET_S,
        )
    )
    section.notes.append(
        f"seed: {FULL_SEED[0]} × {FULL_SEED[1]} is {full_items:,} items: "
        f"{full_items / ours_rate:.0f} s at the measured rate, {full_items / ref_rate:.0f} s one at a time. "
        f"Written: {written}"
    )


def _seed_reference_items(records: OrgRecords, history: SyntheticHistory) -> list[dict[str, Any]]:
    from rollcall.store.attendance import record_to_item

    sample = history.records[:REFERENCE_ITEMS]
    sessions = {r.session_id for r in sample}
    items = [_session_item(records, s) for s in history.sessions if s.session_id in sessions]
    return items + [record_to_item(records, r) for r in sample]


# --- marking ---------------------------------------------------------------------------------------


def _marking(section: Section, aws: Any, table: str) -> None:
    from rollcall.domain import Session, Source, Status
    from rollcall.store.attendance import AttendanceRepo
    from rollcall.store.faces import FaceRepo
    from rollcall.store.roster import RosterRepo

    records = _records(aws, table, "bench-mark")
    students = [f"st{i:05d}" for i in range(MARK_STUDENTS)]
    _enrol(records, students)
    begins = datetime(2026, 10, 5, 9, tzinfo=UTC)

    def photo(session_id: str, seen_from: int) -> tuple[list[AttendanceRecord], list[AttendanceRecord]]:
        session = Session(session_id, "big", begins, begins + timedelta(hours=1))
        seen = set(students[seen_from : seen_from + MARK_SEEN])
        by = {"marked_by": "bench", "marked_at": begins}
        present = [
            session.record(s, Status.PRESENT, source=Source.FACE, distance=0.4, **by) for s in sorted(seen)
        ]
        absent = [
            session.record(s, Status.ABSENT, source=Source.ROSTER, **by) for s in students if s not in seen
        ]
        return present, absent

    def ours(session_id: str, seen_from: int) -> float:
        start = time.perf_counter()
        roster = RosterRepo(records).members("big")
        FaceRepo(records).gallery(set(roster))
        AttendanceRepo(records).write_marking(*photo(session_id, seen_from))
        return time.perf_counter() - start

    def reference(session_id: str, seen_from: int) -> float:
        from concurrent.futures import ThreadPoolExecutor

        start = time.perf_counter()
        roster = RosterRepo(records).members("big")
        FaceRepo(records).gallery(set(roster))
        attendance = AttendanceRepo(records)
        present, absent = photo(session_id, seen_from)
        for r in present:
            attendance.write(r, mode="merge")
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda r: attendance.write(r, mode="if_absent"), absent))
        return time.perf_counter() - start

    first_ours, first_ref = ours("m-ours", 0), reference("m-ref", 0)
    second_ours, second_ref = ours("m-ours", 100), reference("m-ref", 100)
    stored = len(AttendanceRepo(records).for_session("m-ours"))
    for name, o, r in (("first photo", first_ours, first_ref), ("second photo", second_ours, second_ref)):
        section.rows.append(
            Row(
                f"marking's store work, {MARK_STUDENTS:,} enrolled, {MARK_SEEN} seen: {name} of a session",
                f"{o:.2f} s",
                f"{r:.2f} s",
                f"{o / r:.2f}x",
                f"≤ {MARK_TARGET_S} s",
                o <= MARK_TARGET_S,
            )
        )
    section.notes.append(
        "marking: the roster query, the class's embeddings (one projected query of the organisation's "
        f"face index) and the records (ours: {stored:,} stored for the session); the face work (about "
        "0.4 s for a class photo, see Faces) comes on top"
    )


def _enrol(records: OrgRecords, students: list[str]) -> None:
    """``students`` in class ``big``, one face each (random embeddings), written in batches."""
    import numpy as np

    from rollcall.domain import Student
    from rollcall.store.roster import RosterRepo

    roster = RosterRepo(records)
    roster.ensure_students(
        [Student(s, s, ("big",)) for s in students], created_by="bench", created_at=datetime.now(UTC)
    )
    roster.ensure_members({("big", s) for s in students})
    rng = np.random.default_rng(3)
    records.batch_put(
        {
            "pk": records.key("STUDENT", s),
            "sk": "FACE#f1",
            "kind": "face",
            "face_id": "f1",
            "student_id": s,
            "embedding": rng.standard_normal(128).astype("<f4").tobytes(),
            "gsi1pk": records.key("FACES"),
            "gsi1sk": f"{s}#f1",
        }
        for s in students
    )
