"""Import an attendance CSV: make import FILE=attendance.csv ORG=demo

The same import as POST /v1/attendance/import (rollcall.services.importing): the whole file is checked
first and bad rows are listed with their line numbers (exit 1, nothing written); importing the
same attendance again writes nothing. On a terminal a line shows the records written, the rate
and the time left. Uses the running stack's emulator if one is listening,
else starts the embedded one (and keeps its state).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--file", type=Path, required=True, help="the CSV file")
    parser.add_argument("--org", default="demo")
    parser.add_argument("--as", dest="actor", default="cli", help="who the audit log names (default: cli)")


def main(args: argparse.Namespace) -> int:
    from dataclasses import asdict
    from datetime import UTC, datetime

    from rollcall.platform.auth import Principal, Role
    from rollcall.platform.errors import RollcallError
    from rollcall.platform.observability import logger
    from rollcall.services.importing import import_csv
    from rollcall.store.table import OrgRecords, check_id
    from rollcall_local.config import LocalConfig
    from rollcall_local.errors import LocalError
    from rollcall_local.progress import Progress
    from rollcall_local.session import Session

    logger.setLevel("WARNING")
    try:
        data = args.file.read_bytes()
        who = Principal(check_id(args.actor, "--as"), check_id(args.org, "--org"), Role.ADMIN)
    except (OSError, RollcallError) as e:
        raise LocalError(str(e)) from None
    with Session.open(LocalConfig.from_env()) as session:
        records = OrgRecords(
            args.org, session.physical.refs["RecordsTable"], client=session.aws.client("dynamodb")
        )
        try:
            with Progress("import", _rows(data), unit="records") as progress:
                result = import_csv(records, who, data, now=datetime.now(UTC), progress=progress.callback)
        except RollcallError as e:
            print(json.dumps(e.body(), indent=2))
            print(f"refused ({e.code}): nothing was imported", file=sys.stderr)
            return 1
    print(json.dumps(asdict(result), indent=2))
    return 0


def _rows(data: bytes) -> int:
    """The file's rows, for the progress line (its non-empty lines but the header)."""
    return max(0, sum(1 for line in data.splitlines() if line.strip()) - 1)
