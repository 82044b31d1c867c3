"""The local stack's life with the README's seed: seed, start, clean stop, crash and start again.

Each step is the command a developer types, run as a subprocess with its own ``.local`` (a
temporary folder) and free ports, timed from outside:

- seed: ``python -m rollcall_local seed`` with the README's sizes (300 students × 16 weeks): the
  embedded emulator started, the items written (BatchWriteItem), its state kept, the emulator stopped;
- start: ``python -m rollcall_local run`` until its HTTP API answers (``GET /openapi.json``): S3 and
  SQS restored from ``.local/state``, DynamoDB opened where LevelDB keeps it;
- clean stop: SIGINT (Ctrl-C) until the process has exited;
- crash: SIGKILL of its whole process group, then a start again, and the seed's students counted
  through the API (nothing lost).

Reference, in the same run: the same start and stop of a stack that holds nothing (what the
seed's 150,000 items add to each).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.harness import Report, Row
from rollcall.domain import iso
from testkit.net import free_port

STUDENTS = int(os.environ.get("ROLLCALL_BENCH_LIFECYCLE_STUDENTS") or 300)
DISTRICT = int(os.environ.get("ROLLCALL_BENCH_DISTRICT_STUDENTS") or 1000)
WEEKS = 16
ORG, DISTRICT_ORG = "bench-life", "bench-district"
PREDICTIONS = 10_000  # the largest batch (a job)
TRAIN_TARGET, PREDICT_TARGET = 60.0, 5.0
JOBS_TIMEOUT = 900  # the jobs queue's function (TrainFunction) in template.yaml
SEED_TARGET, START_TARGET, STOP_TARGET = 60.0, 15.0, 15.0
BOUND = 900.0  # no step may take longer than this (seconds)


class _Stack:
    """``python -m rollcall_local ...`` with one ``.local`` and one pair of ports."""

    def __init__(self, local_dir: Path) -> None:
        self.env = {
            **os.environ,
            "ROLLCALL_LOCAL_DIR": str(local_dir),
            "ROLLCALL_API_PORT": str(free_port()),
            "ROLLCALL_EMULATOR_PORT": str(free_port()),
        }
        self.api = f"http://127.0.0.1:{self.env['ROLLCALL_API_PORT']}"
        self.process: subprocess.Popen[bytes] | None = None

    def command(self, *args: str) -> tuple[float, str]:
        """Run a command to its end; its seconds and its standard output."""
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "rollcall_local", *args],
            env=self.env,
            capture_output=True,
            timeout=BOUND,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)}: exit {done.returncode}: {done.stderr.decode()[-2000:]}")
        return time.perf_counter() - start, done.stdout.decode()

    def start(self) -> float:
        """Start ``run``; seconds until its API answers."""
        began = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rollcall_local", "run"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        while time.perf_counter() - began < BOUND:
            if self.process.poll() is not None:
                raise RuntimeError(f"run exited with {self.process.returncode} before its API answered")
            try:
                if httpx.get(f"{self.api}/openapi.json", timeout=2).status_code == 200:
                    return time.perf_counter() - began
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"the API did not answer in {BOUND:.0f} s")

    def stop(self) -> float:
        """Ctrl-C; seconds until the process has exited."""
        assert self.process is not None
        began = time.perf_counter()
        self.process.send_signal(signal.SIGINT)
        self.process.wait(BOUND)
        self.process = None
        return time.perf_counter() - began

    def kill(self) -> None:
        """SIGKILL of the process group (the stack, its emulator, DynamoDB and workers)."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(60)
        self.process = None

    def scan_job(self, token: str) -> tuple[float, dict[str, Any]]:
        """POST /v1/anomalies/scan, then the job until it has ended: its seconds and the job."""
        with httpx.Client(base_url=self.api, headers={"Authorization": f"Bearer {token}"}) as client:
            began = time.perf_counter()
            queued = client.post("/v1/anomalies/scan", timeout=30)
            queued.raise_for_status()
            return self._job(client, queued.json()["job_id"], began)

    def predictions_job(self, token: str, students: list[dict[str, Any]]) -> tuple[float, dict[str, Any]]:
        """POST /v1/predictions/batch of PREDICTIONS queries (students × next week's days), then
        the job until it has ended: its seconds and the job."""
        start = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0) + timedelta(days=7)
        items = [
            {
                "student_id": s["student_id"],
                "class_id": s["class_ids"][0],
                "starts_at": iso(start + timedelta(days=d)),
            }
            for d in range(-(-PREDICTIONS // len(students)))
            for s in students
        ][:PREDICTIONS]
        with httpx.Client(base_url=self.api, headers={"Authorization": f"Bearer {token}"}) as client:
            began = time.perf_counter()
            queued = client.post("/v1/predictions/batch", json={"items": items}, timeout=30)
            queued.raise_for_status()
            return self._job(client, queued.json()["job_id"], began)

    def _job(self, client: httpx.Client, job_id: str, began: float) -> tuple[float, dict[str, Any]]:
        while time.perf_counter() - began < BOUND:
            job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}", timeout=30).json()
            if job["status"] in ("succeeded", "failed"):
                return time.perf_counter() - began, job
            time.sleep(0.25)
        raise TimeoutError(f"job {job_id} did not end in {BOUND:.0f} s")

    def students(self, token: str) -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = []
        cursor = None
        with httpx.Client(base_url=self.api, headers={"Authorization": f"Bearer {token}"}) as client:
            for _ in range(100):
                answer = client.get("/v1/students", params={"cursor": cursor} if cursor else None, timeout=30)
                answer.raise_for_status()
                body = answer.json()
                seen += body["items"]
                cursor = body.get("next_cursor")
                if not cursor:
                    break
        return seen


def run(report: Report) -> None:
    section = report.section(
        "The local stack with the README's seed: seed, start, clean stop, crash",
        "the same start and stop of an empty stack, same run",
    )
    with tempfile.TemporaryDirectory(prefix="rollcall-bench-life-") as folder:
        empty = _Stack(Path(folder) / "empty")
        empty_start = empty.start()
        empty_stop = empty.stop()

        stack = _Stack(Path(folder) / "seeded")
        seed_s, out = stack.command(
            "seed", "--org", ORG, "--students", str(STUDENTS), "--weeks", str(WEEKS), "--seed", "7"
        )
        written = sum(json.loads(out)["written"].values())
        first_start = stack.start()
        stop_s = stack.stop()
        start_s = stack.start()
        stack.kill()
        crash_start = stack.start()
        _, token = stack.command("token", "--role", "admin", "--org", ORG, "--sub", "bench")
        roster = stack.students(token.strip())
        students = len(roster)
        # a training job on the seed (make train's command, the built function), then 10,000 predictions
        train_s, out = stack.command("train", "--org", ORG)
        trained = json.loads(out)
        predict_s, predicted = stack.predictions_job(token.strip(), roster)
        # a district's organisation seeded into the running stack, then its first scan, as a job
        district_seed_s, out = stack.command(
            "seed", "--org", DISTRICT_ORG, "--students", str(DISTRICT), "--weeks", str(WEEKS), "--seed", "8"
        )
        district_items = sum(json.loads(out)["written"].values())
        _, token = stack.command("token", "--role", "admin", "--org", DISTRICT_ORG, "--sub", "bench")
        scan_s, job = stack.scan_job(token.strip())
        stack.stop()

    size = f"{STUDENTS} students × {WEEKS} weeks"
    section.rows += [
        Row(
            f"make seed's command, {size} ({written:,} items; the emulator's start and stop included)",
            f"{seed_s:.1f} s, {written / seed_s:,.0f} items/s",
            "-",
            "-",
            f"≤ {SEED_TARGET:.0f} s",
            seed_s <= SEED_TARGET,
        ),
        Row(
            f"start (make run's command until its API answers), holding the seed; first start after it "
            f"{first_start:.1f} s",
            f"{start_s:.1f} s",
            f"{empty_start:.1f} s empty",
            f"{start_s / empty_start:.2f}x",
            f"≤ {START_TARGET:.0f} s",
            start_s <= START_TARGET,
        ),
        Row(
            "clean stop (Ctrl-C until the process has exited), holding the seed",
            f"{stop_s:.1f} s",
            f"{empty_stop:.1f} s empty",
            f"{stop_s / empty_stop:.2f}x",
            f"≤ {STOP_TARGET:.0f} s",
            stop_s <= STOP_TARGET,
        ),
        Row(
            "start after a SIGKILL of the whole stack, holding the seed",
            f"{crash_start:.1f} s; {students} of {STUDENTS} students there",
            f"{empty_start:.1f} s empty",
            f"{crash_start / empty_start:.2f}x",
            f"≤ {START_TARGET:.0f} s, nothing lost",
            crash_start <= START_TARGET and students == STUDENTS,
        ),
        Row(
            f"training job on the seed ({trained['result']['counts']['usable_records']:,} records): "
            "make train's command (the built train function, the window read from the local DynamoDB)",
            f"{train_s:.1f} s, {trained['status']}",
            "-",
            "-",
            f"≤ {TRAIN_TARGET:.0f} s end to end",
            trained["status"] == "succeeded" and train_s <= TRAIN_TARGET,
        ),
        Row(
            f"{PREDICTIONS:,} predictions as a job: POST /v1/predictions/batch to the job's end (results "
            "in S3 as JSON Lines)",
            f"{predict_s:.1f} s, {predicted['status']}",
            "-",
            "-",
            f"≤ {PREDICT_TARGET:.0f} s",
            predicted["status"] == "succeeded" and predict_s <= PREDICT_TARGET,
        ),
        Row(
            f"the first anomaly scan of {DISTRICT:,} students × {WEEKS} weeks (no cached window) as a job: "
            f"POST /v1/anomalies/scan to the job's end, on the running stack",
            f"{scan_s:.1f} s, {job['status']}",
            f"{JOBS_TIMEOUT} s (the jobs function's timeout)",
            f"{scan_s / JOBS_TIMEOUT:.2f}x",
            "within the function's timeout",
            job["status"] == "succeeded" and scan_s < JOBS_TIMEOUT,
        ),
        Row(
            f"seeding that organisation into the running stack ({district_items:,} items)",
            f"{district_seed_s:.1f} s, {district_items / district_seed_s:,.0f} items/s",
            "-",
            "-",
            "info",
            None,
        ),
    ]
    section.notes.append(
        "each step is the developer's command in its own process (`python -m rollcall_local seed|run`, "
        "a temporary .local, free ports), timed from outside; DynamoDB (dynalite) keeps its items in "
        "LevelDB under .local/state, so a start opens them where they are, and S3 and SQS are restored "
        "from their saved copies. Command: `python -m bench lifecycle` "
        "(ROLLCALL_BENCH_LIFECYCLE_STUDENTS sets the size)."
    )
