"""Anomaly scan: recall on injected anomalies, false alarms on a clean organisation, scan speed.

Quality: two fresh synthetic organisations of 1,000 students × 16 weeks (seeds no test uses), one
with every kind of anomaly injected (``testkit.synthetic``), one clean, each with an attendance
model trained on its records up to two weeks before the scan (the registry's active model, as the
weekly retrain leaves it). An injected anomaly is found when a finding has its type and subject.
A finding on the clean organisation is a false alarm, whatever its cause (a clean organisation
has a few students who really do attend under 60 %: the chronic-absence rule holds for them).

Speed: the detectors in process on those 460,000 records; the client-side decoding of the store's
items (ours and botocore's) that a real DynamoDB read adds; and the full scan (reads, detectors,
dedupe writes, alerts) of 1,000 students × 16 weeks through the store on the emulator (moto in its
own process, as ``make run`` runs it): reading the whole window, then six hours and a day of
records later, with the window cache (``rollcall.store.window_cache``).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bench.harness import Report, Row, Section
from testkit.net import free_port

if TYPE_CHECKING:
    from multiprocessing import Queue

    from rollcall.anomaly.detect import Detection
    from rollcall.platform.settings import AnomalyScanSettings
    from testkit.synthetic import SyntheticHistory

SEED, STUDENTS, WEEKS = 5150, 1000, 16
TARGET_SECONDS = 30.0
DECODE_SAMPLE = 20_000


def run(report: Report) -> None:
    from rollcall.platform.observability import logger

    logger.setLevel("WARNING")
    section = report.section(
        "Anomaly scan (anomaly-scan)",
        "the injected ground truth (every anomaly type); a clean organisation of the same size; for the "
        "scheduled scan, the same scan reading the whole window (no cache)",
    )
    settings = _settings()
    injected = _generate(anomalies=True)
    clean = _generate(anomalies=False)
    detection, seconds = _detect(injected, settings)
    _recall(section, injected, detection)
    _false_alarms(section, clean, _detect(clean, settings)[0])
    section.rows.append(
        Row(
            f"detectors in process ({len(injected.records):,} records, {STUDENTS:,} × {WEEKS} weeks)",
            f"{seconds:.1f} s",
            "n/a",
            f"{seconds:.1f} s",
            f"≤ {TARGET_SECONDS:.0f} s",
            seconds <= TARGET_SECONDS,
        )
    )
    section.notes.append(
        "detector times (ms): " + ", ".join(f"{k} {v:.0f}" for k, v in detection.timings_ms.items())
    )
    _decoding(section, injected)
    _emulator(section, settings)


def _settings() -> AnomalyScanSettings:
    from pydantic import SecretStr

    from rollcall.platform.settings import AnomalyScanSettings

    return AnomalyScanSettings(
        stage="bench",
        records_table="unused",
        auth_issuer="bench",
        auth_audience="bench",
        auth_hs256_secret=SecretStr("b" * 32),
        alert_queue_url="http://unused/alerts",
        registry_table="unused",
        model_bucket="unused",
    )


def _generate(*, anomalies: bool) -> SyntheticHistory:
    from testkit import synthetic

    name = "bench-anomalies" if anomalies else "bench-clean"
    return synthetic.generate(name, STUDENTS, WEEKS, SEED + (0 if anomalies else 1), anomalies=anomalies)


def _detect(history: SyntheticHistory, settings: AnomalyScanSettings) -> tuple[Detection, float]:
    """The detectors over the history as a scan at its end reads it, with a model trained up to two
    weeks before (timed: the detectors only, not the training)."""
    from rollcall.anomaly.detect import detect
    from rollcall.anomaly.inputs import ActiveModel
    from rollcall.ml import train
    from testkit.scan_inputs import from_history

    trained = train.train([r for r in history.records if r.starts_at < history.now - timedelta(days=14)])
    inputs = from_history(history, ActiveModel("bench", trained.model))
    start = time.perf_counter()
    detection = detect(inputs, settings)
    return detection, time.perf_counter() - start


def _recall(section: Section, history: SyntheticHistory, detection: Detection) -> None:
    found = {f.key: f for f in detection.findings}
    by_type: dict[str, list[bool]] = {}
    for a in history.anomalies:
        by_type.setdefault(a.type, []).append((a.type, a.subject) in found)
        if (a.type, a.subject) not in found:
            section.notes.append(f"missed: {a.type} {a.subject} {a.details}")
    for type_, hits in by_type.items():
        variants = [a.details.get("variant") for a in history.anomalies if a.type == type_]
        named = f" ({', '.join(v for v in variants if v)})" if any(variants) else ""
        section.rows.append(
            Row(
                f"recall: {type_}{named}",
                f"{sum(hits)} found",
                f"{len(hits)} injected",
                f"{sum(hits) / len(hits):.2f}",
                "1.0",
                all(hits),
            )
        )
    total = sum(sum(h) for h in by_type.values())
    n = sum(len(h) for h in by_type.values())
    section.rows.append(
        Row(
            "recall on the injected set",
            f"{total} found",
            f"{n} injected",
            f"{total / n:.2f}",
            "1.0",
            total == n,
        )
    )
    truth = {(a.type, a.subject) for a in history.anomalies}
    extra = Counter(f.type for f in detection.findings if f.key not in truth)
    section.notes.append(
        "findings on the injected organisation beyond the injected set: "
        + (", ".join(f"{t} {n}" for t, n in sorted(extra.items())) or "none")
        + " (chronic absences: students who really attend under 60 %, as on a clean organisation; "
        "collapses: the injected drift moves a third of the classes to the evening, where their "
        "sessions are emptier, some enough to collapse)"
    )


def _false_alarms(section: Section, clean: SyntheticHistory, detection: Detection) -> None:
    n = len(detection.findings)
    per_100 = n / len(clean.students) * 100
    by_type = Counter(f.type for f in detection.findings)
    section.rows.append(
        Row(
            f"false alarms on a clean organisation ({len(clean.students):,} students)",
            f"{n} ({', '.join(f'{t} {k}' for t, k in sorted(by_type.items())) or 'none'})",
            "0 injected",
            f"{per_100:.2f} per 100 students",
            "≤ 1 per 100 students per scan",
            per_100 <= 1.0,
        )
    )
    for f in detection.findings:
        section.notes.append(f"clean-organisation alarm: {f.type} ({f.severity}): {f.summary}")


def _decoding(section: Section, history: SyntheticHistory) -> None:
    """What a read from DynamoDB adds per record on the client: botocore's parse, then ours."""
    import botocore.parsers
    import botocore.session

    from rollcall.store.attendance import WINDOW_FIELDS, record_from_item, record_to_item
    from rollcall.store.table import OrgRecords, from_item, to_item

    records = OrgRecords("bench", "unused", client=object())
    items = [
        {k: v for k, v in to_item(record_to_item(records, r)).items() if k in WINDOW_FIELDS}
        for r in history.records[:DECODE_SAMPLE]
    ]
    body = json.dumps({"Items": items, "Count": len(items)}).encode()
    shape = botocore.session.get_session().get_service_model("dynamodb").operation_model("Query").output_shape
    assert shape is not None
    parser = botocore.parsers.create_parser("json")
    start = time.perf_counter()
    parsed = parser.parse({"body": body, "headers": {}, "status_code": 200}, shape)["Items"]
    boto = (time.perf_counter() - start) / len(items)
    start = time.perf_counter()
    for item in parsed:
        record_from_item(from_item(item))
    ours = (time.perf_counter() - start) / len(items)
    total = (boto + ours) * len(history.records)
    section.rows.append(
        Row(
            f"decoding the read, per record (projected for {len(history.records):,})",
            f"ours {ours * 1e6:.0f} µs",
            f"botocore {boto * 1e6:.0f} µs",
            f"{total:.0f} s of CPU",
            "info: what a DynamoDB read adds on one vCPU",
            None,
        )
    )


# --- the full scan on the emulator --------------------------------------------------------------------


def _emulator(section: Section, settings: AnomalyScanSettings) -> None:
    """The full scan of 1,000 students × 16 weeks through the store on the emulator, as the schedule
    runs it: once with no cached window (the whole window read: the first scan, and then once a day),
    then six hours later with the window cache and a day of records written in between."""
    from multiprocessing import get_context

    from rollcall.services.alerts import send_alert
    from rollcall.services.scanning import ScanWiring, scan
    from rollcall.store.attendance import AttendanceRepo
    from rollcall.store.table import OrgRecords
    from rollcall.store.window_cache import WindowCache
    from rollcall_local.emulator import EMULATOR_CREDENTIALS, Aws
    from testkit import synthetic

    history = synthetic.generate("bench-emulator", STUDENTS, WEEKS, SEED + 2)
    context = get_context("fork")
    ready: Queue[Any] = context.Queue()
    port = free_port()
    server = context.Process(target=_serve, args=(port, history, ready), daemon=True)
    server.start()
    try:
        table, queue_url, bucket = ready.get(timeout=1200)
        aws = Aws(f"http://127.0.0.1:{port}", "us-east-1", True, dict(EMULATOR_CREDENTIALS))
        records = OrgRecords(history.org, table, client=aws.client("dynamodb"))
        sqs = aws.client("sqs")
        cache = WindowCache(history.org, bucket, client=aws.client("s3"))
        wiring = ScanWiring(
            alert=lambda a: send_alert(a, queue_url, client=sqs), window_cache=lambda _: cache
        )
        scan_settings = settings.model_copy(update={"records_table": table})
        start = time.perf_counter()
        full = scan(records, history.now, scan_settings, wiring)
        full_s = time.perf_counter() - start
        # A day of marking between the two scans: the last school day's records written again
        last = max(r.starts_at.date() for r in history.records)
        day = [r for r in history.records if r.starts_at.date() == last]
        AttendanceRepo(records).write_many(day, mode="replace")
        start = time.perf_counter()
        cached = scan(records, history.now + timedelta(hours=6), scan_settings, wiring)
        cached_s = time.perf_counter() - start
    finally:
        server.kill()
    n = full.read["attendance_records"]
    read = full.timings_ms["read"] / 1000

    def parts(r: Any) -> str:
        t = r.timings_ms
        return (
            f"read {t['read'] / 1000:.1f}, detect {t['detect'] / 1000:.1f}, record {t['record'] / 1000:.1f}"
        )

    section.rows += [
        Row(
            f"scheduled scan with the window cache, {STUDENTS:,} × {WEEKS} weeks ({n:,} records; "
            f"{len(day):,} written since the last scan)",
            f"{cached_s:.1f} s ({parts(cached)}; {cached.attendance_read})",
            f"whole window read {full_s:.1f} s",
            f"{cached_s / full_s:.2f}x",
            f"≤ {TARGET_SECONDS:.0f} s",
            cached_s <= TARGET_SECONDS and cached.attendance_read == "cache",
        ),
        Row(
            f"scan reading the whole window on the emulator, {STUDENTS:,} × {WEEKS} weeks (the first "
            "scan; then once a day)",
            f"{full_s:.1f} s ({parts(full)}; {full.attendance_read})",
            "n/a",
            f"{n / read:.0f} items/s from the emulator",
            f"≤ {TARGET_SECONDS:.0f} s",
            full_s <= TARGET_SECONDS,
        ),
    ]
    section.notes.append(
        f"the emulator scans found {len(full.raised)} anomalies, alerted {full.alerts_sent}; the cached "
        f"scan six hours later read {cached.read['attendance_records']:,} records and raised "
        f"{len(cached.raised)} (the 24-hour dedupe suppressed {len(cached.suppressed)}). Reading the whole "
        "window on the local DynamoDB (dynalite) is bound by the client's decoding; on DynamoDB "
        "the same read is about 330 pages of 1 MB, 4 week slices at a time, plus the client's decoding "
        "above. The window cache keeps what a scan read (gzipped JSON in the scan-cache bucket) and the "
        "next scan reads only what was written since (the change index, gsi3); a whole read is made when "
        "there is no cache, it does not cover the window, or it is older than "
        "ANOMALY_CACHE_MAX_AGE_HOURS (24)."
    )


def _serve(port: int, history: SyntheticHistory, ready: Queue[Any]) -> None:
    """The emulator with the template's resources and ``history`` stored: attendance by
    BatchWriteItem (4 writers), the rest through the real repositories."""
    from bench.emulator import batch_write
    from bench.local_stack import disk_emulator
    from rollcall.store.attendance import record_to_item
    from rollcall.store.table import OrgRecords, to_item
    from rollcall_local.config import LocalConfig
    from rollcall_local.emulator import EMULATOR_CREDENTIALS, Aws
    from rollcall_local.provision import provision
    from rollcall_local.session import load_template
    from testkit.seeding import store_history

    emulator = disk_emulator(port)
    emulator.start()
    aws = Aws(emulator.endpoint, "us-east-1", True, dict(EMULATOR_CREDENTIALS))
    local = LocalConfig.from_env({**os.environ, "ROLLCALL_LOCAL_DIR": f"/tmp/rollcall-bench-{port}"})
    physical = provision(load_template(local), aws)
    table = physical.refs["RecordsTable"]
    records = OrgRecords(history.org, table, client=aws.client("dynamodb"))
    # written when its session ended, as marking writes it (the change index files it then)
    items = [to_item(record_to_item(records, r, changed_at=r.ends_at)) for r in history.records]
    batch_write(aws.client("dynamodb"), table, items)
    store_history(records, _without_attendance(history))
    ready.put((table, physical.refs["AlertQueue"], physical.refs["ScanCacheBucket"]))
    while True:
        time.sleep(60)


def _without_attendance(history: SyntheticHistory) -> SyntheticHistory:
    from dataclasses import replace

    return replace(history, students=[], sessions=[], records=[])
