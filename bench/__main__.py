"""``make bench``: run every benchmark module and write BENCHMARKS.md.

``python -m bench [name ...]`` runs only the named modules (and does not rewrite the file).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from bench.harness import Report

# each "bench.<name>" exposes run(report)
MODULES: list[str] = [
    "bench.face",
    "bench.small_faces",
    "bench.ml",
    "bench.histories",
    "bench.history_e2e",
    "bench.anomaly",
    "bench.layers",
    "bench.bulk",
    "bench.emulator",
    "bench.lifecycle",
    "bench.rate_limits",
]


def main(argv: list[str]) -> int:
    selected = [m for m in MODULES if not argv or m.rsplit(".", 1)[-1] in argv]
    report = Report(command="make bench" if not argv else f"python -m bench {' '.join(argv)}")
    for name in selected:
        print(f"== {name}", flush=True)
        importlib.import_module(name).run(report)
    text = report.markdown()
    print(text)
    if not argv:
        Path(__file__).resolve().parents[1].joinpath("BENCHMARKS.md").write_text(text + "\n")
    return 0 if all(r.passed is not False for s in report.sections for r in s.rows) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
