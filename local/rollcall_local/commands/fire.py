"""Fire a schedule now: make fire SCHEDULE=<LogicalId> (make fire SCHEDULE=list lists them)

A schedule is named by its rule's logical id (AnomalyScanFunctionScanSchedule) or its event name
(ScanSchedule). With a stack running (make run), the stack fires it, and the invocation shows in
its log; otherwise the function is invoked once in a fresh process. Prints the function's
response as JSON; exits 1 if the function failed or timed out.
"""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("schedule", help="a schedule's logical id or event name, or 'list'")


def main(args: argparse.Namespace) -> int:
    from rollcall_local.config import LocalConfig
    from rollcall_local.emulator import listening
    from rollcall_local.provision import planned
    from rollcall_local.schedules import find
    from rollcall_local.session import load_template

    config = LocalConfig.from_env()
    template = load_template(config)
    schedules = template.schedules(planned(template))
    if args.schedule == "list":
        for schedule in schedules.values():
            state = "" if schedule.enabled else "  (disabled)"
            print(f"{schedule.logical_id:<40} {schedule.expression:<24} → {schedule.function}{state}")
        return 0
    schedule = find(schedules, args.schedule)
    if listening(config.api_port):
        timeout = template.function(schedule.function, planned(template)).timeout + 30
        status, payload = _fire_remote(config.api_url, schedule.logical_id, timeout)
    else:
        status, payload = _fire_here(config, schedule.logical_id)
    print(json.dumps(payload, indent=2))
    return 0 if status == "ok" else 1


def _fire_remote(api_url: str, logical_id: str, timeout: float) -> tuple[str, Any]:
    from rollcall_local.api import CONTROL_HEADER
    from rollcall_local.errors import LocalError

    url = f"{api_url}/_local/schedules/{logical_id}/fire"
    # 127.0.0.1 only: the URL is built from the configured port, never from input.
    request = urllib.request.Request(url, method="POST", headers={CONTROL_HEADER: "1"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            answer = json.loads(response.read())
    except (urllib.error.URLError, ValueError) as e:
        raise LocalError(
            f"{api_url} does not answer as a local stack ({e}); is something else on that port?"
        ) from e
    return answer["status"], answer["response"]


def _fire_here(config: Any, logical_id: str) -> tuple[str, Any]:
    from rollcall_local.schedules import scheduled_event
    from rollcall_local.session import Session

    with Session.open(config) as session:
        schedule = session.template.schedules(session.physical)[logical_id]
        event = scheduled_event(
            schedule,
            rule_arn=session.physical.attribute(logical_id, "Arn"),
            account_id=session.template.account_id,
            region=session.aws.region,
        )
        result = session.invoke_once(schedule.function, event)
    return result.status, result.payload
