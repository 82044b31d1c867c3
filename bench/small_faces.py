"""Small faces in phone photos: rollcall.face against face_recognition (upsample 1) on 12 MP photos.

Photos (generated into a temporary folder, never kept): ``testkit.class_photos`` pastes the
people of ``faces/people`` at 40, 48, 64, 80, 112 and 160 px face width onto 4032 x 3024
backgrounds (seeds 0-2, 8 faces of each width each), and the real group photos resized to 12 MP.

Rows: faces found by width (a detection is a true face at IoU ≥ 0.3, one each), and detections
that are no face; a 4032 x 3024 marking in process, ours (decode, detect, encode, match) against
the reference (``load_image_file``, ``face_locations(img, 1)``, ``face_encodings``, a Python loop
over the students), alternated, medians; the same photo at 0.99 and 1.01 MP, ours against the
rule before (upsample once up to 1 MP, else not); the peak RSS of a fresh process marking the
12 MP photo, against the function's MemorySize.

``python -m bench small_faces`` runs this module alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from bench.face import _gallery, _reference_mark, _row, _side_by_side
from bench.faces_data import FACES, ROOT, face_settings, found
from bench.harness import Report, Row, Section, ms
from testkit.class_photos import FACE_WIDTHS, class_photo, upscaled_groups

REFERENCE = "face_recognition 1.3.0, face_locations(img, number_of_times_to_upsample=1), on the same photos"
SEEDS = (0, 1, 2)
MEMORY_SIZE_MB = 2048  # MarkAttendanceFunction's MemorySize in template.yaml


def run(report: Report) -> None:
    if not (FACES / "manifest.csv").is_file():
        raise SystemExit(f"face photos not found at {FACES}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        import face_recognition as reference
    from rollcall.face.models import get_models

    settings = face_settings()
    get_models()
    with tempfile.TemporaryDirectory(prefix="class-photos-") as folder:
        out = Path(folder)
        photos = [class_photo(out, FACES, seed) for seed in SEEDS]
        _recall(
            report.section("Faces: small faces in generated 12 MP class photos", REFERENCE), reference, photos
        )
        _groups(
            report.section("Faces: real group photos resized to 12 MP", REFERENCE),
            reference,
            upscaled_groups(out / "groups", FACES),
        )
        gallery, students = _gallery(settings, count=200)
        _marking_time(
            report.section(
                "Faces: marking a 4032 x 3024 photo",
                "face_recognition 1.3.0: load_image_file, face_locations(upsample=1), face_encodings, "
                "then per face a Python loop over the students calling face_distance",
            ),
            reference,
            settings,
            photos[0].path,
            (gallery, students),
        )
        _cliff(
            report.section(
                "Faces: the 1 MP cliff",
                "the rule before: upsample once up to 1 MP, else scan at the photo's size",
            ),
            settings,
            photos[0].path,
            out,
        )
        _memory(
            report.section("Faces: peak memory marking 12 MP", "the function's MemorySize"), photos[0].path
        )


def _ours(path: Path) -> list[Any]:
    from rollcall.face.pipeline import analyse

    return [f.box for f in analyse(path.read_bytes(), face_settings()).faces]


def _theirs(reference: Any, path: Path) -> list[Any]:
    from rollcall.face.detect import Box

    return [Box(*loc) for loc in reference.face_locations(reference.load_image_file(str(path)), 1)]


def _recall(section: Section, reference: Any, photos: list[Any]) -> None:
    ours_found = dict.fromkeys(FACE_WIDTHS, 0)
    theirs_found = dict.fromkeys(FACE_WIDTHS, 0)
    extra = [0, 0]
    for photo in photos:
        ours, theirs = _ours(photo.path), _theirs(reference, photo.path)
        for width in FACE_WIDTHS:
            ours_found[width] += found(photo.boxes(width), ours)[0]
            theirs_found[width] += found(photo.boxes(width), theirs)[0]
        extra[0] += found(photo.boxes(), ours)[1]
        extra[1] += found(photo.boxes(), theirs)[1]
    total = len(SEEDS) * 8
    for width in FACE_WIDTHS:
        small = width <= 64
        section.rows.append(
            Row(
                f"{width} px faces found (of {total})",
                str(ours_found[width]),
                str(theirs_found[width]),
                f"{ours_found[width]} vs {theirs_found[width]}",
                "≥ reference" if small else "n/a",
                ours_found[width] >= theirs_found[width] if small else None,
            )
        )
    section.rows.append(
        Row(
            "detections that are no face",
            str(extra[0]),
            str(extra[1]),
            f"{extra[0]} vs {extra[1]}",
            "n/a",
            None,
        )
    )
    section.notes.append(
        f"{len(SEEDS)} photos (seeds {', '.join(map(str, SEEDS))}), 4032 x 3024, 8 faces of each width, "
        "rows in an order the seed decides; generated by testkit/class_photos.py into a temporary folder"
    )


def _groups(section: Section, reference: Any, groups: list[Any]) -> None:
    ours_total = theirs_total = truth = 0
    for group in groups:
        ours, theirs = _ours(group.path), _theirs(reference, group.path)
        if group.boxes:  # PASCAL VOC: annotated boxes
            ours_n, theirs_n = found(group.boxes, ours)[0], found(group.boxes, theirs)[0]
        else:  # the manifest's count
            ours_n, theirs_n = min(len(ours), group.faces), min(len(theirs), group.faces)
        ours_total, theirs_total, truth = ours_total + ours_n, theirs_total + theirs_n, truth + group.faces
    section.rows.append(
        Row(
            f"{len(groups)} photos, {truth} faces: found",
            str(ours_total),
            str(theirs_total),
            f"{ours_total} vs {theirs_total}",
            "≥ reference",
            ours_total >= theirs_total,
        )
    )
    section.notes.append(
        "each group photo resized (Lanczos) to about 12 MP; PASCAL VOC photos scored against their "
        "annotated boxes, the others against the manifest's face count"
    )


def _marking_time(
    section: Section, reference: Any, settings: Any, path: Path, class_: tuple[Any, Any]
) -> None:
    from rollcall.face.pipeline import analyse, mark

    gallery, students = class_
    data = path.read_bytes()
    ours_s, theirs_s = _side_by_side(
        lambda: mark(analyse(data, settings), gallery, settings),
        lambda: _reference_mark(reference, path, students),
        3,
    )
    section.rows.append(
        _row(
            "generated class photo, 48 faces, vs 200 students",
            ours_s,
            theirs_s,
            "≤ 0.3x",
            ours_s <= 0.3 * theirs_s,
        )
    )
    start = time.process_time()
    analysis = analyse(data, settings)
    cpu = time.process_time() - start
    start = time.process_time()
    _reference_mark(reference, path, students)
    reference_cpu = time.process_time() - start
    section.rows.append(
        Row(
            "CPU time of one marking (both threads counted)",
            f"{cpu:.1f} s",
            f"{reference_cpu:.1f} s",
            f"{cpu / reference_cpu:.2f}x",
            "n/a",
            None,
        )
    )
    section.notes.append(
        "ours, one call: "
        + ", ".join(f"{k} {v:.0f} ms" for k, v in analysis.timings.items() if k != "total")
        + "; the scan is of the grayscale photo at 1.69x (35 MP), in two halves on two threads: "
        "the wall-time ratio depends on a second core being free (the machine is shared)"
    )


def _cliff(section: Section, settings: Any, path: Path, out: Path) -> None:
    import numpy as np
    from PIL import Image

    from bench.harness import timeit
    from rollcall.face.detect import detect_faces
    from rollcall.face.models import get_models

    models = get_models()
    rows = []
    with Image.open(path) as img:
        for name, size in (("0.99 MP", (1148, 862)), ("1.01 MP", (1160, 871))):
            rgb = np.ascontiguousarray(np.asarray(img.convert("RGB").resize(size, Image.Resampling.LANCZOS)))
            times = 1 if size[0] * size[1] <= 1_000_000 else 0

            def ours_fn(rgb: Any = rgb) -> object:
                return detect_faces(rgb, models, settings)

            def before_fn(rgb: Any = rgb, times: int = times) -> object:
                return models.detector(rgb, times)

            ours, before = timeit(ours_fn, repeat=5), timeit(before_fn, repeat=5)
            rows.append((name, ours, before))
    (small, ours_small, before_small), (large, ours_large, before_large) = rows
    for name, ours, before in rows:
        section.rows.append(
            Row(f"detection, {name}", ms(ours), ms(before), f"{ours / before:.2f}x", "n/a", None)
        )
    cost, before_cost = ours_small / ours_large, before_small / before_large
    section.rows.append(
        Row(
            f"{small} cost / {large} cost",
            f"{cost:.2f}",
            f"{before_cost:.2f}",
            f"{cost:.2f} vs {before_cost:.2f}",
            "ours ≤ 1.3",
            cost <= 1.3,
        )
    )


_PEAK = """
import sys, warnings
warnings.simplefilter("ignore")
data = open(sys.argv[2], "rb").read()
if sys.argv[1] == "ours":
    from bench.faces_data import face_settings
    from rollcall.face.pipeline import analyse
    analyse(data, face_settings())
else:
    import face_recognition as fr
    img = fr.load_image_file(sys.argv[2])
    fr.face_encodings(img, fr.face_locations(img, 1))
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork and exec (it would report the parent's)
print([int(line.split()[1]) // 1024 for line in open("/proc/self/status") if line.startswith("VmHWM")][0])
"""


def _peak_mb(side: str, path: Path) -> int:
    done = subprocess.run(  # our own interpreter and script
        [sys.executable, "-c", _PEAK, side, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"PYTHONPATH": f"{ROOT / 'shared'}:{ROOT}", "PATH": "/usr/bin:/bin"},
    )
    return int(json.loads(done.stdout.strip().splitlines()[-1]))


def _memory(section: Section, path: Path) -> None:
    ours, theirs = _peak_mb("ours", path), _peak_mb("reference", path)
    section.rows.append(
        Row(
            "peak RSS, a fresh process analysing the 4032 x 3024 photo",
            f"{ours} MB",
            f"{theirs} MB (face_recognition)",
            f"{ours} of {MEMORY_SIZE_MB} MB",
            f"≤ {MEMORY_SIZE_MB} MB",
            ours <= MEMORY_SIZE_MB,
        )
    )
