"""Start the local stack (make run / make serve): embedded AWS, API on :3000, queues, schedules.

Starts the embedded emulator (or uses AWS_ENDPOINT_URL), provisions the built template, restores
the saved state, then serves the HTTP API, polls the SQS event sources and fires the schedules,
printing one line per invocation. Ctrl-C or SIGTERM stops it cleanly and saves the state.
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rollcall_local.stack import Stack

WAKE_SECONDS = 0.5
DEV_USERS = {"admin": "ada", "teacher": "alice", "student": "sam"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api-port", type=int, help="default: ROLLCALL_API_PORT or 3000")
    parser.add_argument("--emulator-port", type=int, help="default: ROLLCALL_EMULATOR_PORT or 4566")


def main(args: argparse.Namespace) -> int:
    from rollcall_local.config import LocalConfig
    from rollcall_local.console import Console
    from rollcall_local.session import Session
    from rollcall_local.stack import Stack

    config = LocalConfig.from_env()
    config = dataclasses.replace(
        config,
        api_port=args.api_port or config.api_port,
        emulator_port=args.emulator_port or config.emulator_port,
    )
    console = Console()
    session = Session.open(config, must_own=True)
    try:
        stack = Stack(session, console)
        stack.start()
    except BaseException:
        session.close()
        raise
    console.info(banner(stack))
    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C: quit at once

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    while not stopping.wait(WAKE_SECONDS):
        pass
    console.info("stopping (Ctrl-C again to quit without saving the state)...")
    saved = stack.stop()
    console.info(f"stopped; state saved: {saved}" if saved is not None else "stopped")
    return 0


def banner(stack: Stack) -> str:
    session, config = stack.session, stack.session.config
    template, aws = session.template, session.aws
    where = "embedded: moto, DynamoDB on dynalite" if session.owns_state else "AWS_ENDPOINT_URL"
    lines = [
        f"Rollcall local stack '{template.stack_name}' ({len(session.functions)} functions)",
        f"  API        {config.api_url}",
        f"  docs       {config.api_url}/docs   (OpenAPI: {config.api_url}/openapi.json)",
        f"  AWS        {aws.endpoint} ({where}; region {aws.region})",
        f"  logs       {config.logs_dir}/<Function>.log",
    ]
    if session.restored is not None:
        lines.append(f"  state      restored {session.restored} from {config.state_dir}")
    lines.append("  routes")
    lines += [
        f"    {route.method:<6} {route.path:<36} → {route.function}" for route in stack.api.router.routes
    ]
    if stack.pollers:
        lines.append("  queues")
        lines += [f"    {p.queue_url.rsplit('/', 1)[-1]:<43} → {p.source.function}" for p in stack.pollers]
    if stack.scheduler.schedules:
        lines.append("  schedules (UTC)")
        upcoming = stack.scheduler.next_times(datetime.now(UTC))
        for logical_id, schedule in stack.scheduler.schedules.items():
            when = f"next {upcoming[logical_id]:%a %d %b %H:%M}" if logical_id in upcoming else "disabled"
            lines.append(f"    {logical_id:<43} {schedule.expression:<24} {when}")
    lines.append("  dev tokens (org demo)")
    for role, sub in DEV_USERS.items():
        lines.append(f"    {role:<8} {session.token(role=role, org='demo', sub=sub)}")
    lines.append("Ctrl-C to stop.")
    return "\n".join(lines)
