"""`make demo PHOTOS=<folder>`: enrol the people of a folder and mark its photos, over the API."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import ROOT, LocalStack


def test_demo_enrols_the_folder_and_marks_its_photos(
    stack: LocalStack, faces_dir: Path, tmp_path: Path
) -> None:
    # Given a folder in the plain layout (no manifest): two people and one group photo of them
    for person, photo in [("barack_obama", "obama.jpg"), ("joe_biden", "biden.jpg")]:
        (tmp_path / "people" / person).mkdir(parents=True)
        shutil.copy(faces_dir / "people" / person / photo, tmp_path / "people" / person / photo)
    (tmp_path / "class").mkdir()
    shutil.copy(faces_dir / "groups" / "test_obama_and_biden.jpg", tmp_path / "class" / "photo.jpg")

    # When the demo runs beside the running stack
    result = subprocess.run(
        [sys.executable, "-m", "rollcall_local", "demo", "--photos", str(tmp_path)],
        cwd=ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    # Then both are enrolled, found in the photo, and the drawn photo is written
    assert result.returncode == 0, result.stdout + result.stderr
    assert "barack-obama           201" in result.stdout
    assert "present ['barack-obama', 'joe-biden']" in result.stdout
    assert "unknown 1" in result.stdout
    assert (Path(stack.env["ROLLCALL_LOCAL_DIR"]) / "demo" / "photo.jpg").stat().st_size > 10_000
