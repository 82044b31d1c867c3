"""Print an event file with its {{token:role:org:sub}} placeholders replaced by fresh dev tokens.

For `sam local invoke -e` where Docker exists:
    python -m rollcall_local render-event events/predict-me.json > /tmp/event.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="an event JSON file ('-' for stdin)")


def main(args: argparse.Namespace) -> int:
    from rollcall_local.config import LocalConfig
    from rollcall_local.session import load_template, read_event

    config = LocalConfig.from_env()
    print(json.dumps(read_event(config, load_template(config), args.file), indent=2))
    return 0
