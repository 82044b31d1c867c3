"""Invoke a function once, in a fresh process: make invoke FN=<LogicalId> EVENT=events/<file>.json

Prints the function's response (or Lambda's error document) as JSON on stdout; the function's
logs go to stderr. Exits 1 if the function failed or timed out. Uses the running stack's emulator
if one is listening, else starts the embedded one for the invocation (and keeps its state).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("function", help="the function's logical id, e.g. PredictFunction")
    parser.add_argument("--event", type=Path, help="an event JSON file ('-' for stdin); default {}")


def main(args: argparse.Namespace) -> int:
    from rollcall_local.config import LocalConfig
    from rollcall_local.session import Session, read_event

    config = LocalConfig.from_env()
    with Session.open(config) as session:
        event = read_event(config, session.template, args.event) if args.event else {}
        result = session.invoke_once(args.function, event)
    print(json.dumps(result.payload, indent=2))
    return 0 if result.ok else 1
