"""The core layer ships the product only: its size beside the same layer with the test kit in it.

The synthetic world, the seeding and the scan inputs built from a history (``testkit/``) serve
tests, benchmarks and ``make seed``; they once shipped inside ``rollcall``. The reference is the
built core layer plus the test kit compiled as the layer compiles its code (source and bytecode),
measured in this run, so the row says what moving it out saves on every cold start's unzip.
"""

from __future__ import annotations

import compileall
import py_compile
import shutil
import tempfile
from pathlib import Path

from bench.faces_data import ROOT
from bench.harness import Report, Row

CORE = ROOT / ".aws-sam" / "build" / "CoreLayer" / "python"


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _testkit_as_shipped() -> int:
    """Bytes of testkit/ as the core layer would ship it: sources plus unchecked-hash bytecode."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "testkit"
        shutil.copytree(ROOT / "testkit", copy, ignore=shutil.ignore_patterns("__pycache__"))
        compileall.compile_dir(copy, quiet=1, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        return _size(copy)


def run(report: Report) -> None:
    section = report.section(
        "Deployment: the core layer",
        "the same built layer with the test kit (testkit/: synthetic world, seeding, scan inputs) "
        "compiled into it, as it shipped before it moved out",
    )
    if not CORE.is_dir():
        raise RuntimeError(f"{CORE} is missing: run `make build` (make bench does)")
    ours, package, kit = _size(CORE), _size(CORE / "rollcall"), _testkit_as_shipped()
    section.rows += [
        _row("core layer, unzipped (sam build output)", ours, ours + kit),
        _row("… of it, the rollcall package", package, package + kit),
    ]
    section.notes.append(
        f"the test kit is {kit / 1e3:.0f} kB compiled; the rest of the layer is FastAPI, Pydantic, "
        "Powertools, PyJWT/cryptography and the X-Ray SDK"
    )


def _row(name: str, ours: int, reference: int) -> Row:
    return Row(
        name,
        f"{ours / 1e6:.2f} MB",
        f"{reference / 1e6:.2f} MB",
        f"{ours / reference:.3f}x",
        "< 1x (the test kit is not deployed)",
        ours < reference,
    )
