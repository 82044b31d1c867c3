"""Demo: enrol the people of a photo folder and mark its group photos, through the local API.

make demo PHOTOS=../shared/data/faces

The folder holds ``people/<name>/<photo>`` (one folder per person; the first photo is enrolled)
and group photos (``groups/*``, ``noface/*``, or any photo not under people/). A ``manifest.csv``
like the shared one is used when present. Everything goes through the HTTP API as a teacher of
organisation ``demo``: students are created in class ``demo``, one session is created for today,
each group photo is marked, and the photos with boxes and names drawn are written to
``.local/demo/``. With a stack running (make run) it uses it; otherwise it starts one for the
demo and stops it at the end. Running it again changes nothing (every step is idempotent).
"""

from __future__ import annotations

import argparse
import base64
import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
CLASS_ID = "demo"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--photos", type=Path, required=True, help="a folder with people/<name>/ and group photos"
    )


def main(args: argparse.Namespace) -> int:
    from rollcall_local.config import LocalConfig
    from rollcall_local.emulator import listening

    config = LocalConfig.from_env()
    people, groups = photo_set(args.photos)
    if not people:
        print(f"no people/<name>/<photo> found under {args.photos}")
        return 2
    out = config.local_dir / "demo"
    out.mkdir(parents=True, exist_ok=True)
    if listening(config.api_port):
        return run_demo(config, people, groups, out)
    return _with_own_stack(config, people, groups, out)


def _with_own_stack(config: Any, people: dict[str, Path], groups: list[Path], out: Path) -> int:
    import io

    from rollcall_local.console import Console
    from rollcall_local.session import Session
    from rollcall_local.stack import Stack

    print("no stack on", config.api_url, "- starting one for the demo")
    session = Session.open(config, must_own=True)
    stack = Stack(session, Console(io.StringIO()))
    stack.start()
    try:
        return run_demo(config, people, groups, out)
    finally:
        stack.stop()


def photo_set(folder: Path) -> tuple[dict[str, Path], list[Path]]:
    """(person → the photo to enrol, the group photos to mark)."""
    manifest = folder / "manifest.csv"
    if manifest.is_file():
        with manifest.open(newline="") as f:
            rows = list(csv.DictReader(f))
        people: dict[str, Path] = {}
        for row in rows:
            if row["kind"] == "portrait":
                people.setdefault(row["identities"], folder / row["path"])
        groups = [
            folder / r["path"] for r in rows if r["kind"] in ("group", "noface") and int(r["faces"] or 0) <= 3
        ]
        return people, groups
    people = {}
    for person in sorted(p for p in (folder / "people").glob("*") if p.is_dir()):
        photos = sorted(p for p in person.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
        if photos:
            people[person.name] = photos[0]
    groups = sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in PHOTO_SUFFIXES and "people" not in p.relative_to(folder).parts
    )
    return people, groups


def run_demo(config: Any, people: dict[str, Path], groups: list[Path], out: Path) -> int:
    import httpx

    from rollcall_local.session import load_template, token_for

    token = token_for(config, load_template(config), role="teacher", org="demo", sub="demo-teacher")
    api = httpx.Client(base_url=config.api_url, headers={"authorization": f"Bearer {token}"}, timeout=120)

    print(f"enrolling {len(people)} people (class {CLASS_ID!r}, organisation 'demo')")
    for name, photo in people.items():
        student_id = name.replace("_", "-")
        api.post(
            "/v1/students",
            json={"student_id": student_id, "name": name.replace("_", " ").title(), "class_ids": [CLASS_ID]},
        )
        answer = api.post(f"/v1/students/{student_id}/faces", json={"image_base64": _b64(photo)})
        print(f"  {student_id:<22} {answer.status_code}  {_summary(answer.json())}")

    today = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0)
    session_id = f"demo-{today:%Y%m%d}"
    api.post(
        "/v1/sessions",
        json={
            "session_id": session_id,
            "class_id": CLASS_ID,
            "starts_at": today.isoformat(),
            "ends_at": (today + timedelta(hours=1)).isoformat(),
        },
    )
    print(f"marking {len(groups)} photos in session {session_id}")
    for photo in groups:
        answer = api.post(
            f"/v1/sessions/{session_id}/attendance", json={"image_base64": _b64(photo), "annotate": True}
        )
        body = answer.json()
        if answer.status_code != 200:
            print(f"  {photo.name:<28} {answer.status_code} {body.get('code')}: {body.get('detail')}")
            continue
        drawn = body.get("annotated_image_base64")
        if drawn:
            (out / f"{photo.stem}.jpg").write_bytes(base64.b64decode(drawn))
        print(
            f"  {photo.name:<28} faces {len(body['faces']):>2}  present {body['present']}  "
            f"uncertain {body['uncertain']}  unknown {body['unknown_count']}"
        )
    register = api.get(f"/v1/sessions/{session_id}/attendance").json()
    print(f"register of {session_id}: present {register['present']}, absent {register['absent']}")
    print(f"annotated photos in {out}")
    return 0


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def _summary(body: dict[str, Any]) -> str:
    if "face_id" in body:
        return f"face {body['face_id']} (sharpness {body['quality'].get('sharpness')})"
    return f"{body.get('code')}: {body.get('detail')}"
