"""EventBridge schedules: each enabled Schedule event fires its function on time, and on demand.

A schedule is named by its rule's logical id, the function id followed by the event name
(``AnomalyScanFunctionScanSchedule``), as SAM names it; the bare event name (``ScanSchedule``)
is accepted when no other function has an event of that name.

The function receives EventBridge's scheduled event, or the event's ``Input`` (JSON) instead
when the template gives one, as EventBridge does. Timed firings are asynchronous, as EventBridge
invokes asynchronously; EventBridge's retries of failed asynchronous invocations are not emulated.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Mapping
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

from rollcall_local.console import Console
from rollcall_local.cron import Expression, parse
from rollcall_local.errors import LocalError
from rollcall_local.invoke import Invoker, Result
from rollcall_local.template import Physical, Schedule


def find(schedules: Mapping[str, Schedule], name: str) -> Schedule:
    if name in schedules:
        return schedules[name]
    by_event = [schedule for schedule in schedules.values() if schedule.event == name]
    if len(by_event) == 1:
        return by_event[0]
    known = ", ".join(schedules) or "none"
    raise LocalError(
        f"no schedule {name!r}" + (" (ambiguous)" if by_event else "") + f"; the template has: {known}"
    )


def scheduled_event(
    schedule: Schedule, *, rule_arn: str, account_id: str, region: str, now: datetime | None = None
) -> Any:
    """What EventBridge delivers for ``schedule``: its Input if it has one, else a Scheduled Event."""
    if schedule.input is not None:
        return json.loads(schedule.input)
    moment = now or datetime.now(UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account_id,
        "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


class Scheduler:
    """Fires the enabled schedules on their expressions, from one timer thread."""

    def __init__(
        self,
        schedules: Mapping[str, Schedule],
        physical: Physical,
        invoker: Invoker,
        console: Console,
        *,
        account_id: str,
        region: str,
    ) -> None:
        self.schedules = dict(schedules)
        self.expressions: dict[str, Expression] = {
            logical_id: parse(schedule.expression) for logical_id, schedule in self.schedules.items()
        }
        self.physical = physical
        self.invoker = invoker
        self.console = console
        self.account_id = account_id
        self.region = region
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="schedules", daemon=True)

    def find(self, name: str) -> Schedule:
        return find(self.schedules, name)

    def event(self, schedule: Schedule) -> Any:
        rule_arn = self.physical.attribute(schedule.logical_id, "Arn")
        return scheduled_event(schedule, rule_arn=rule_arn, account_id=self.account_id, region=self.region)

    def fire(self, logical_id: str) -> Result:
        """Fire now and wait for the function's result (``make fire``)."""
        schedule = self.schedules[logical_id]
        result = self.invoker.submit(schedule.function, self.event(schedule)).result()
        self._report(schedule, result)
        return result

    def _fire_async(self, schedule: Schedule) -> None:
        def report(done: Future[Result]) -> None:
            if not done.cancelled():  # cancelled: the stack stopped first
                self._report(schedule, done.result())

        self.invoker.submit(schedule.function, self.event(schedule)).add_done_callback(report)

    def _report(self, schedule: Schedule, result: Result) -> None:
        trigger = f"schedule {schedule.logical_id}"
        self.console.invocation(
            schedule.function, trigger, result.status, result.duration_ms, result.error_summary()
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def next_times(self, now: datetime) -> dict[str, datetime]:
        return {
            logical_id: self.expressions[logical_id].next_after(now, now)
            for logical_id, schedule in self.schedules.items()
            if schedule.enabled
        }

    def _run(self) -> None:
        anchor = datetime.now(UTC)  # rate() schedules tick from the stack's start
        due = self.next_times(anchor)
        while due:
            logical_id = min(due, key=due.__getitem__)
            wait = (due[logical_id] - datetime.now(UTC)).total_seconds()
            if self._stop.wait(max(0.0, wait)):
                return
            self._fire_async(self.schedules[logical_id])
            due[logical_id] = self.expressions[logical_id].next_after(due[logical_id], anchor)
