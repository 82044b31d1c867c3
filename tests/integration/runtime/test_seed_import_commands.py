"""make seed and make import: the commands, run in process against the embedded emulator."""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from rollcall_local.__main__ import main
from rollcall_local.config import LocalConfig

GOOD = (
    "student_id,class_id,session_id,starts_at,ends_at,status\n"
    "ann,bio,bio-1,2026-09-07T09:00:00Z,2026-09-07T10:00:00Z,present\n"
    "ben,bio,bio-1,2026-09-07T09:00:00Z,2026-09-07T10:00:00Z,absent\n"
)


def test_import_writes_once_and_refuses_bad_files_with_line_numbers(
    project: LocalConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(GOOD)
    bad.write_text(GOOD + "cat,bio,bio-1,2026-09-07T09:00:00Z,2026-09-07T10:00:00Z,asleep\n")

    assert main(["import", "--file", str(bad), "--org", "cli-school"]) == 1
    refused = json.loads(capsys.readouterr().out)
    assert (refused["code"], refused["detail"]["errors"][0]["line"]) == ("INVALID_CSV", 4)

    assert main(["import", "--file", str(good), "--org", "cli-school"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert (first["records_written"], first["replayed"], first["imported_by"]) == (2, False, "cli")

    # A second run (a new emulator, the saved state restored) finds the file imported
    assert main(["import", "--file", str(good), "--org", "cli-school"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert (second["records_written"], second["replayed"]) == (0, True)


def test_seed_stores_a_history_ending_this_week_and_writes_the_truth(
    project: LocalConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["seed", "--org", "cli-seed", "--students", "3", "--weeks", "1", "--seed", "4", "--clean"]) == 0
    )
    summary = json.loads(capsys.readouterr().out)

    written = summary["written"]
    assert written["students"] == 3 and written["attendance_records"] > 0
    with (project.local_dir / "seed" / "cli-seed" / "truth.csv").open(newline="") as f:
        truth = list(csv.DictReader(f))
    assert len(truth) == written["attendance_records"]
    assert all(0 < float(row["probability"]) < 1 for row in truth)
    assert json.loads((project.local_dir / "seed" / "cli-seed" / "anomalies.json").read_text()) == []
    this_monday = datetime.now(UTC).date() - timedelta(days=datetime.now(UTC).weekday())
    assert date.fromisoformat(summary["until"]) == this_monday
    assert main(["seed", "--org", "bad#org"]) == 2
