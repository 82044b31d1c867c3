"""The local stack's DynamoDB: a school's attendance window read by GSI query pages.

Ours: the emulator as ``make run`` starts it (its front, then dynalite on LevelDB in a folder),
the template's records table, the attendance of ``STUDENTS`` × ``WEEKS`` written by BatchWriteItem,
then read back as the anomaly scan reads it (``AttendanceRepo.window_items``: projected gsi2 query
pages, a week slice per query, 4 at a time), the boto3 client's decoding included.

Reference, in the same run: stock moto's server (``ThreadedMotoServer``, in its own process) with the
same table and the same items (put straight into moto's backend: over HTTP it would take minutes),
read the same way over the last ``REFERENCE_WEEKS`` weeks (the whole window would take minutes too;
moto's cost per item grows with the table, not with the window read).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bench.harness import Report, Row
from testkit.net import free_port

if TYPE_CHECKING:
    from multiprocessing import Queue

SEED = 5151
STUDENTS = int(os.environ.get("ROLLCALL_BENCH_EMULATOR_STUDENTS") or 1000)
WEEKS = 16
REFERENCE_WEEKS = 2
TARGET_ITEMS_PER_SECOND = 20_000
WRITERS = 4


def run(report: Report) -> None:
    from multiprocessing import get_context

    from bench.local_stack import disk_emulator
    from rollcall.store.attendance import AttendanceRepo, record_to_item
    from rollcall.store.table import OrgRecords, to_item
    from rollcall_local.emulator import EMULATOR_CREDENTIALS, Aws
    from testkit import synthetic

    section = report.section(
        "Local DynamoDB: a school's attendance window by GSI query pages",
        "stock moto 5.2.5 server (ThreadedMotoServer, its own process), the same table and items, "
        "the same query pages, same run",
    )
    history = synthetic.generate("bench-ddb", STUDENTS, WEEKS, SEED, anomalies=False)
    since, until = history.now - timedelta(weeks=WEEKS), history.now

    emulator = disk_emulator(free_port())
    emulator.start()
    try:
        aws = Aws(emulator.endpoint, "us-east-1", True, dict(EMULATOR_CREDENTIALS))
        table = _provision(aws)["RecordsTable"]
        records = OrgRecords(history.org, table, client=aws.client("dynamodb"))
        items = [to_item(record_to_item(records, r, changed_at=r.ends_at)) for r in history.records]
        start = time.perf_counter()
        batch_write(aws.client("dynamodb"), table, items)
        write_s = time.perf_counter() - start
        start = time.perf_counter()
        ours = AttendanceRepo(records).window_items(since, until)
        ours_s = time.perf_counter() - start
    finally:
        emulator.stop()

    reference_since = until - timedelta(weeks=REFERENCE_WEEKS)
    context = get_context("fork")
    ready: Queue[Any] = context.Queue()
    port = free_port()
    server = context.Process(target=_serve_moto, args=(port, items, ready), daemon=True)
    server.start()
    try:
        table = ready.get(timeout=1800)
        aws = Aws(f"http://127.0.0.1:{port}", "us-east-1", True, dict(EMULATOR_CREDENTIALS))
        records = OrgRecords(history.org, table, client=aws.client("dynamodb"))
        start = time.perf_counter()
        reference = AttendanceRepo(records).window_items(reference_since, until)
        reference_s = time.perf_counter() - start
    finally:
        server.kill()

    ours_rate, reference_rate = len(ours) / ours_s, len(reference) / reference_s
    section.rows += [
        Row(
            f"whole {WEEKS}-week window of {STUDENTS:,} students ({len(ours):,} items; reference: its last "
            f"{REFERENCE_WEEKS} weeks, {len(reference):,} items of the same table)",
            f"{ours_rate:,.0f} items/s ({ours_s:.1f} s)",
            f"{reference_rate:,.0f} items/s ({reference_s:.1f} s)",
            f"{ours_rate / reference_rate:.1f}x",
            f"≥ {TARGET_ITEMS_PER_SECOND:,} items/s",
            ours_rate >= TARGET_ITEMS_PER_SECOND,
        ),
        Row(
            f"writing them by BatchWriteItem (25 a request, {WRITERS} writers)",
            f"{len(items) / write_s:,.0f} items/s ({write_s:.1f} s)",
            "n/a",
            f"{len(items):,} items",
            "info",
            None,
        ),
    ]
    section.notes.append(
        "ours is dynalite 4.0.0 (npm; DynamoDB's API on LevelDB) behind the emulator's front (browser "
        "origins and unsigned requests refused), on a Unix socket; the read is the anomaly scan's: "
        "projected gsi2 query pages of one week slice of a month partition, 4 slices at a time, each "
        "page decoded by boto3. Command: `python -m bench emulator` "
        "(ROLLCALL_BENCH_EMULATOR_STUDENTS sets the size)."
    )


def _provision(aws: Any) -> dict[str, str]:
    from rollcall_local.config import LocalConfig
    from rollcall_local.provision import provision
    from rollcall_local.session import load_template

    local = LocalConfig.from_env({**os.environ, "ROLLCALL_LOCAL_DIR": f"/tmp/rollcall-bench-{os.getpid()}"})
    return dict(provision(load_template(local), aws).refs)


def batch_write(client: Any, table: str, items: list[dict[str, Any]]) -> None:
    def write(chunk: list[dict[str, Any]]) -> None:
        pending: dict[str, Any] = {table: [{"PutRequest": {"Item": item}} for item in chunk]}
        for attempt in range(20):
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if not pending:
                return
            time.sleep(min(1.0, 0.02 * 2**attempt))
        raise RuntimeError("BatchWriteItem kept items unprocessed")

    chunks = [items[i : i + 25] for i in range(0, len(items), 25)]
    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(write, chunks))


def _serve_moto(port: int, items: list[dict[str, Any]], ready: Queue[Any]) -> None:
    """Stock moto's server with the template's tables and ``items`` in the records table."""
    from moto.dynamodb.models import dynamodb_backends
    from moto.server import ThreadedMotoServer

    from rollcall_local.emulator import EMULATOR_ACCOUNT, EMULATOR_CREDENTIALS, Aws

    server = ThreadedMotoServer("127.0.0.1", port, verbose=False)
    server.start()
    table = _provision(Aws(f"http://127.0.0.1:{port}", "us-east-1", True, dict(EMULATOR_CREDENTIALS)))[
        "RecordsTable"
    ]
    backend = dynamodb_backends[EMULATOR_ACCOUNT]["us-east-1"]
    for item in items:
        backend.put_item(table, item)
    ready.put(table)
    while True:
        time.sleep(60)
