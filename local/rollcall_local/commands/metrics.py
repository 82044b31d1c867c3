"""Summarise the EMF metrics the local stack's functions logged (make metrics): count, p50, p95.

Every function writes its metrics to its log (.local/logs/<LogicalId>.log) as CloudWatch EMF
documents, as on Lambda; this reads those of the last ``--minutes`` (60), prints one row per
metric (and dimension, e.g. a prediction's method), and draws the main ones over time into
``.local/metrics.png`` (what the dashboard would show).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

MAIN = (
    "MarkingTime",
    "FacesPerPhoto",
    "UncertainShare",
    "PredictionsByMethod",
    "AnomaliesRaisedByType",
    "ActiveModelAuc",
)
Series = dict[str, list[tuple[float, float]]]  # "Name [dim=value]" → (epoch seconds, value)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--minutes", type=int, default=60, help="how far back to read (default 60)")
    parser.add_argument("--png", type=Path, help="the chart's path (default .local/metrics.png)")


def emf_documents(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    for line in lines:
        if '"_aws"' not in line:
            continue
        try:
            document = json.loads(line[line.index("{") :])
        except ValueError:
            continue
        if isinstance(document, dict) and "CloudWatchMetrics" in (document.get("_aws") or {}):
            yield document


def series(documents: Iterable[dict[str, Any]], since: float) -> Series:
    found: Series = defaultdict(list)
    for document in documents:
        at = document["_aws"].get("Timestamp", 0) / 1000
        if at < since:
            continue
        for directive in document["_aws"]["CloudWatchMetrics"]:
            dimensions = [d for group in directive.get("Dimensions", []) for d in group if d != "service"]
            label = " ".join(f"{d}={document.get(d)}" for d in dimensions)
            for metric in directive.get("Metrics", []):
                values = document.get(metric["Name"])
                for value in values if isinstance(values, list) else [values]:
                    if isinstance(value, int | float):
                        found[f"{metric['Name']} {label}".strip()].append((at, float(value)))
    return found


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def table(found: Series) -> str:
    rows = [f"{'metric':<48} {'count':>7} {'sum':>10} {'p50':>10} {'p95':>10}"]
    for name in sorted(found):
        values = [v for _, v in found[name]]
        p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
        rows.append(f"{name:<48} {len(values):>7} {sum(values):>10.6g} {p50:>10.6g} {p95:>10.6g}")
    return "\n".join(rows)


def draw(found: Series, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    names = [n for n in sorted(found) if n.split()[0] in MAIN] or sorted(found)[:6]
    if not names:
        return False
    figure, axes = plt.subplots(len(names), 1, figsize=(9, 2.2 * len(names)), squeeze=False, sharex=True)
    start = min(at for n in names for at, _ in found[n])
    for ax, name in zip(axes[:, 0], names, strict=True):
        points = found[name]
        ax.plot([(at - start) / 60 for at, _ in points], [v for _, v in points], "o-", markersize=3)
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("minutes since the first point")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


def main(args: argparse.Namespace) -> int:
    from rollcall_local.config import LocalConfig

    config = LocalConfig.from_env()
    since = time.time() - args.minutes * 60
    logs = sorted(config.logs_dir.glob("*.log")) if config.logs_dir.is_dir() else []
    lines = (line for log in logs for line in log.read_text(errors="replace").splitlines())
    found = series(emf_documents(lines), since)
    if not found:
        print(
            f"no EMF metrics in {config.logs_dir} in the last {args.minutes} min (make run, then make demo)"
        )
        return 0
    print(table(found))
    png = args.png or config.local_dir / "metrics.png"
    print(
        f"chart: {png}"
        if draw(found, png)
        else "no chart: matplotlib is not installed (pip install -e .[dev])"
    )
    return 0
