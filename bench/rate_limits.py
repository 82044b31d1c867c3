"""Rate limits: what the per-user and per-organisation check costs a request.

Ours: ``rollcall.services.rate_limits.check`` (the user's bucket, then the organisation's: one
conditional UpdateItem each) against the local stack's DynamoDB (the emulator as ``make run``
starts it, the template's records table), per request, on a bucket in use.
Reference, in the same run, same client and table: two plain UpdateItems (counters), one a
bucket: the least a limiter keeping two buckets in DynamoDB can cost a request.
Also counted (not timed): the store calls a request costs when buckets are busy, idle, or seen
by a new container each time (a wrong guess of the bucket's phase costs one more update).
"""

from __future__ import annotations

import time
from typing import Any

from bench.emulator import _provision
from bench.harness import Report, Row, ms
from testkit.net import free_port

REQUESTS = 300
TARGET_RATIO = 1.3  # one update a bucket, and little else


def run(report: Report) -> None:
    from pydantic import SecretStr

    from bench.local_stack import disk_emulator
    from rollcall.platform.settings import FunctionSettings
    from rollcall.services import rate_limits
    from rollcall.store.rate_limits import MICROS, RateLimitTable
    from rollcall_local.emulator import EMULATOR_CREDENTIALS, Aws

    section = report.section(
        "Rate limits: the check of one request (two buckets)",
        "two plain UpdateItems (counters, one a bucket) per request, same emulator, table and client, "
        "same run",
    )
    emulator = disk_emulator(free_port())
    emulator.start()
    try:
        aws = Aws(emulator.endpoint, "us-east-1", True, dict(EMULATOR_CREDENTIALS))
        table = _provision(aws)["RecordsTable"]
        client = aws.client("dynamodb")
        settings = FunctionSettings(
            stage="bench",
            records_table=table,
            auth_issuer="bench",
            auth_audience="bench",
            auth_hs256_secret=SecretStr("b" * 32),
            rate_limit_reads_burst=1_000_000,
            rate_limit_reads_per_minute=60_000,
        )
        limiter = RateLimitTable(table, client=client)

        def check(org: str = "bench-org", now: int | None = None) -> Any:
            result = rate_limits.check(settings, org, "ada", "reads", table=limiter, now=now)
            assert result is not None and result.allowed
            return result

        def counter() -> None:
            client.update_item(
                TableName=table,
                Key={"pk": {"S": "ORG#bench-org#COUNTER"}, "sk": {"S": "n"}},
                UpdateExpression="SET n = if_not_exists(n, :z) + :one",
                ExpressionAttributeValues={":z": {"N": "0"}, ":one": {"N": "1"}},
            )

        for _ in range(20):  # warm both paths
            check()
            counter()
        ours, reference = [], []
        for _ in range(REQUESTS):  # interleaved, so both see the same machine
            start = time.perf_counter()
            check()
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            counter()
            counter()
            reference.append(time.perf_counter() - start)
        ours.sort()
        reference.sort()
        median_ours, median_ref = ours[len(ours) // 2], reference[len(reference) // 2]
        ratio = median_ours / median_ref
        section.rows.append(
            Row(
                f"median of {REQUESTS} requests, a bucket in use",
                ms(median_ours),
                ms(median_ref),
                f"{ratio:.2f}x",
                f"≤ {TARGET_RATIO}x",
                ratio <= TARGET_RATIO,
            )
        )

        def calls_per_request(run_one: Any, n: int = 50) -> float:
            before = limiter.calls
            for i in range(n):
                run_one(i)
            return (limiter.calls - before) / n

        # a burst: every request at the same instant, so the buckets stay in debt
        burst_at = time.time_ns() // 1000 + 3600 * MICROS
        busy = calls_per_request(lambda i: check(org="bench-busy", now=burst_at))
        idle = calls_per_request(lambda i: check(org="bench-idle", now=burst_at + i * 60 * MICROS))

        def cold(i: int) -> None:
            RateLimitTable._seen.clear()
            check(org="bench-cold", now=burst_at)

        new_container = calls_per_request(cold)
        for name, value, target in (
            ("store calls a request: busy buckets", busy, 2.0),
            ("store calls a request: idle buckets (full again)", idle, 2.0),
        ):
            section.rows.append(
                Row(name, f"{value:.2f}", "1 a bucket", f"{value:.2f}", f"= {target:.0f}", value == target)
            )
        section.rows.append(
            Row(
                "store calls a request: every request in a new container, busy buckets",
                f"{new_container:.2f}",
                "1 a bucket",
                f"{new_container:.2f}",
                "≤ 4 (a wrong guess: one more update)",
                new_container <= 4,
            )
        )
        section.notes.append(
            "a refused request writes nothing; no request reads (a failed condition returns the old item "
            "where the store supports it: DynamoDB, moto; else one consistent GetItem)"
        )
    finally:
        emulator.stop()
