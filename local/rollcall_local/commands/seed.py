"""Store a synthetic attendance history: make seed ORG=demo STUDENTS=300 WEEKS=16 SEED=7

The history ends where this week begins (it starts on the Monday WEEKS weeks ago) and is stored
through the same repositories the API uses (testkit.seeding): students, class memberships,
sessions, attendance, marking events, corrections and their audit entries. Seeding the same
arguments again writes nothing new. A few anomalies are injected (--clean: none).

The truth goes to side files under .local/seed/<org>/: truth.csv (each record's true attendance
probability, its outcome, whether an anomaly wrote it: the oracle AUC is known) and
anomalies.json (the injected anomalies, for the anomaly scan). Uses the running stack's emulator
if one is listening, else starts the embedded one (and keeps its state).
Items go out in batches (BatchWriteItem, 25 a request); on a terminal a line shows the items
written, the rate and the time left (nothing when the output is not a terminal).
"""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--org", default="demo")
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--weeks", type=int, default=16)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--clean", action="store_true", help="inject no anomalies")


def main(args: argparse.Namespace) -> int:
    import time
    from datetime import UTC, datetime, timedelta

    from rollcall.platform.observability import logger
    from rollcall.store.table import OrgRecords, check_id
    from rollcall_local.config import LocalConfig
    from rollcall_local.errors import LocalError
    from rollcall_local.progress import Progress
    from rollcall_local.session import Session
    from testkit.seeding import item_count, store_history
    from testkit.synthetic import generate

    logger.setLevel("WARNING")
    try:
        check_id(args.org, "org")
        this_monday = datetime.now(UTC).date() - timedelta(days=datetime.now(UTC).weekday())
        start = datetime.combine(this_monday - timedelta(weeks=args.weeks), datetime.min.time(), UTC)
        history = generate(
            args.org, args.students, args.weeks, args.seed, start=start, anomalies=not args.clean
        )
    except Exception as e:  # bad arguments: say which, no traceback
        raise LocalError(str(e)) from None
    config = LocalConfig.from_env()
    print(f"storing {len(history.records):,} records of {args.students} students ...", file=sys.stderr)
    began = time.perf_counter()
    with Session.open(config) as session:
        table = session.physical.refs["RecordsTable"]
        records = OrgRecords(args.org, table, client=session.aws.client("dynamodb"))
        with Progress("seed", item_count(history)) as progress:
            written = store_history(records, history, progress=progress.callback)
    folder = config.local_dir / "seed" / args.org
    folder.mkdir(parents=True, exist_ok=True)
    history.write_truth(folder / "truth.csv")
    history.write_anomalies(folder / "anomalies.json")
    summary = {
        "org": args.org,
        "from": history.start.date().isoformat(),
        "until": history.now.date().isoformat(),
        "written": written,
        "oracle_roc_auc": round(history.oracle_auc(), 4),
        "anomalies": len(history.anomalies),
        "truth": str(folder),
        "seconds": round(time.perf_counter() - began, 1),
    }
    print(json.dumps(summary, indent=2))
    return 0
