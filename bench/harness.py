"""A small harness: each benchmark module adds a section of rows to one report.

A benchmark module exposes ``run(report: Report) -> None`` and is listed in ``bench.__main__``.
A row states what was measured for us and for the reference, in the same run, and the target
as a ratio or a bound; ``make bench`` writes the report to BENCHMARKS.md and prints it.
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Row:
    name: str
    ours: str
    reference: str
    result: str  # a ratio ("0.42x") or a measured value
    target: str
    passed: bool | None  # None: informational


@dataclass
class Section:
    title: str
    reference: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Report:
    command: str
    sections: list[Section] = field(default_factory=list)

    def section(self, title: str, reference: str) -> Section:
        section = Section(title, reference)
        self.sections.append(section)
        return section

    def markdown(self) -> str:
        lines = [
            "# Benchmarks",
            "",
            f"Made by `{self.command}` on {time.strftime('%Y-%m-%d')} "
            f"({platform.machine()}, {_cpus()} cores, Python {platform.python_version()}).",
            "Each row is measured in the same run as its reference; ratios are ours / reference.",
            "",
        ]
        for s in self.sections:
            lines += [f"## {s.title}", "", f"Reference: {s.reference}", ""]
            lines += ["| what | ours | reference | result | target | met |", "|---|---|---|---|---|---|"]
            for r in s.rows:
                met = "n/a" if r.passed is None else ("yes" if r.passed else "**no**")
                lines.append(f"| {r.name} | {r.ours} | {r.reference} | {r.result} | {r.target} | {met} |")
            lines.append("")
            lines += [f"- {n}" for n in s.notes]
            if s.notes:
                lines.append("")
        return "\n".join(lines)


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def timeit(fn: Callable[[], object], *, repeat: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn`` in seconds over ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"
