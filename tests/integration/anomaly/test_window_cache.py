"""The scan's window cache: a scan reads the previous scan's window and what was written since,
and its records are what a whole read of the window gives, through writes, corrections, erasures,
age and damage (moto, the template's tables and bucket)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rollcall.domain import AttendanceRecord, Source, Status
from rollcall.platform.auth import Principal, Role
from rollcall.platform.settings import AnomalyScanSettings
from rollcall.services.scanning import read_attendance
from rollcall.services.students import erase_student
from rollcall.store.attendance import AttendanceRepo
from rollcall.store.photos import PhotoStore
from rollcall.store.table import OrgRecords
from rollcall.store.window_cache import WindowCache
from rollcall_local.emulator import Aws
from rollcall_local.template import Physical
from testkit.seeding import store_history
from testkit.synthetic import generate
from tests.unit.anomaly.support import make_settings

HISTORY = generate("cache-a", students=10, weeks=6, seed=21)
NOW = HISTORY.now
ADMIN = Principal("admin-1", "cache-a", Role.ADMIN)


@pytest.fixture(scope="module")
def settings(physical: Physical) -> AnomalyScanSettings:
    return make_settings(records_table=physical.refs["RecordsTable"])


@pytest.fixture(scope="module")
def records(aws: Aws, settings: AnomalyScanSettings) -> OrgRecords:
    records = OrgRecords(HISTORY.org, settings.records_table, client=aws.client("dynamodb"))
    store_history(records, HISTORY)
    return records


@pytest.fixture
def cache(aws: Aws, physical: Physical, records: OrgRecords) -> WindowCache:
    cache = WindowCache(records.org, physical.refs["ScanCacheBucket"], client=aws.client("s3"))
    cache.delete()
    return cache


def whole(records: OrgRecords, settings: AnomalyScanSettings) -> list[AttendanceRecord]:
    return AttendanceRepo(records).window(NOW - timedelta(days=settings.anomaly_history_days), NOW)


def read(
    records: OrgRecords, settings: AnomalyScanSettings, cache: WindowCache, **kw: Any
) -> tuple[list[AttendanceRecord], str]:
    return read_attendance(
        records, NOW - timedelta(days=settings.anomaly_history_days), NOW, settings, cache=cache, **kw
    )


def test_the_second_scan_reads_the_cache_and_sees_every_write_since(
    records: OrgRecords, settings: AnomalyScanSettings, cache: WindowCache
) -> None:
    first, how = read(records, settings, cache)
    assert how == "full (no cached window)"
    assert first == whole(records, settings) and len(first) > 1000

    # When a face-absence is corrected, a record of an old session re-imported and a new one written
    repo = AttendanceRepo(records)
    absent = next(r for r in first if r.status is Status.ABSENT)
    old = first[3]
    corrected = replace(absent, status=Status.PRESENT, source=Source.CORRECTION)
    reimported = replace(old, status=Status.LATE, arrived_at=old.starts_at + timedelta(minutes=9))
    new = replace(first[-1], student_id="s-new", status=Status.PRESENT)
    for r in (corrected, reimported, new):
        assert repo.write(r, mode="replace")

    # Then the next scan reads the cache, and its records are the whole window's, writes included
    second, how = read(records, settings, cache)
    assert how == "cache"
    assert second == whole(records, settings)
    assert {corrected, reimported, new} <= set(second)


def test_an_erased_student_leaves_the_cached_window(
    aws: Aws, physical: Physical, records: OrgRecords, settings: AnomalyScanSettings, cache: WindowCache
) -> None:
    read(records, settings, cache)
    photos = PhotoStore(records.org, physical.refs["PhotoBucket"], keep=False, client=aws.client("s3"))
    gone = HISTORY.students[0].student_id

    # Erased with the cache named (as DELETE /v1/students does): the cached window is deleted
    erase_student(records, ADMIN, gone, photos, now=datetime.now(UTC), window_cache=cache)
    assert cache.load() is None
    after, how = read(records, settings, cache)
    assert how == "full (no cached window)"
    assert gone not in {r.student_id for r in after}

    # Erased without it (a scan that read the window before the erasure wrote it after): the next
    # scan drops the student's rows, as the audit log says
    also_gone = HISTORY.students[1].student_id
    before = read(records, settings, cache)[0]
    assert also_gone in {r.student_id for r in before}
    erase_student(records, ADMIN, also_gone, photos, now=datetime.now(UTC))
    after, how = read(records, settings, cache)
    assert how == "cache"
    assert also_gone not in {r.student_id for r in after}
    assert after == whole(records, settings)


def test_an_old_damaged_or_too_short_cache_is_read_whole_again(
    aws: Aws, records: OrgRecords, settings: AnomalyScanSettings, cache: WindowCache
) -> None:
    read(records, settings, cache)
    later = datetime.now(UTC) + timedelta(hours=settings.anomaly_cache_max_age_hours + 1)
    assert read(records, settings, cache, clock=lambda: later)[1] == "full (the cached window is too old)"

    longer = settings.model_copy(update={"anomaly_history_days": settings.anomaly_history_days + 7})
    assert read(records, longer, cache)[1] == "full (the cached window does not cover this scan's)"

    aws.client("s3").put_object(Bucket=cache.bucket, Key=cache.key, Body=b"not gzip")
    got, how = read(records, settings, cache)
    assert how == "full (no cached window)"
    assert got == whole(records, settings)
