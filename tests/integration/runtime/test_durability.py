"""What the local stack acknowledged survives a SIGKILL of its whole process group, and the
emulator is no open door (browser origins, preflights and unsigned requests are refused)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from rollcall_local.config import LocalConfig
from rollcall_local.emulator import EMULATOR_CREDENTIALS, Aws, Emulator
from rollcall_local.state import SNAPSHOT_SECONDS
from tests.integration.runtime.helpers import free_port, wait_for

ROOT = Path(__file__).resolve().parents[3]
ITEM = {"pk": {"S": "acknowledged"}, "blob": {"B": b"\x00\xff"}, "n": {"N": "7"}}
# S3 and SQS are written within SNAPSHOT_SECONDS of a change (the documented window is 5 s).
WINDOW_SECONDS = 5


class RunningStack:
    """`python -m rollcall_local run` in its own process group, as `make run` starts it."""

    def __init__(self, config: LocalConfig) -> None:
        self.config = config
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Aws:
        environment = {
            **{k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"},
            "PYTHONPATH": f"{ROOT / 'shared'}:{ROOT / 'local'}:{ROOT}",
            "ROLLCALL_PROJECT_DIR": str(self.config.project_dir),
            "ROLLCALL_LOCAL_DIR": str(self.config.local_dir),
            "ROLLCALL_API_PORT": str(self.config.api_port),
            "ROLLCALL_EMULATOR_PORT": str(self.config.emulator_port),
            "ROLLCALL_CONCURRENCY": "1",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rollcall_local", "run"],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, as a terminal's job is
        )
        wait_for(self._up, timeout=60, what="the local stack up")
        return Aws(
            f"http://127.0.0.1:{self.config.emulator_port}", "us-east-1", True, dict(EMULATOR_CREDENTIALS)
        )

    def _up(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"the local stack exited with {self.process.returncode}")
        try:
            return httpx.get(f"{self.config.api_url}/openapi.json", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def group(self) -> list[int]:
        """The pids still in the stack's process group."""
        assert self.process is not None
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.getpgid(int(entry.name)) == self.process.pid:
                        found.append(int(entry.name))
                except ProcessLookupError:
                    continue
        return found

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        wait_for(lambda: not self.group(), timeout=10, what="no process of the stack left")

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            return self.process.wait(timeout=30)
        return self.process.returncode


@pytest.fixture
def config(fixture_app: Path, tmp_path: Path) -> LocalConfig:
    return LocalConfig(
        project_dir=fixture_app,
        build_dir=fixture_app / ".aws-sam" / "build",
        local_dir=tmp_path / "local",
        api_port=free_port(),
        emulator_port=free_port(),
    )


@pytest.fixture
def stack(config: LocalConfig) -> Iterator[RunningStack]:
    running = RunningStack(config)
    try:
        yield running
    finally:
        if running.process is not None and running.process.poll() is None:
            os.killpg(running.process.pid, signal.SIGKILL)
            running.process.wait(timeout=10)


def _refs(aws: Aws) -> dict[str, str]:
    sqs = aws.client("sqs")
    tables = aws.client("dynamodb").list_tables()["TableNames"]
    return {
        "table": next(t for t in tables if t.endswith("-events")),
        "bucket": next(
            b["Name"] for b in aws.client("s3").list_buckets()["Buckets"] if "uploads" in b["Name"]
        ),
        "queue": sqs.get_queue_url(QueueName="runtime-fixture-JobsDeadLetterQueue")["QueueUrl"],
    }


def test_acknowledged_writes_survive_a_sigkill_of_the_whole_stack(stack: RunningStack) -> None:
    # Given a running stack that acknowledged an item, an object and two messages, one of them in flight
    aws = stack.start()
    refs = _refs(aws)
    dynamodb, s3, sqs = (aws.client(s) for s in ("dynamodb", "s3", "sqs"))
    dynamodb.put_item(TableName=refs["table"], Item=ITEM)
    s3.put_object(
        Bucket=refs["bucket"], Key="kept/photo.jpg", Body=b"\xff\xd8bytes", ContentType="image/jpeg"
    )
    sqs.send_message(QueueUrl=refs["queue"], MessageBody="waiting")
    sqs.send_message(QueueUrl=refs["queue"], MessageBody="in flight")
    received = _receive_all(sqs, refs["queue"], visibility=600)
    assert {m["Body"] for m in received} == {"waiting", "in flight"}
    sqs.change_message_visibility(
        QueueUrl=refs["queue"],
        ReceiptHandle=next(m["ReceiptHandle"] for m in received if m["Body"] == "waiting"),
        VisibilityTimeout=0,
    )
    time.sleep(WINDOW_SECONDS)

    # When the whole process group is killed (a crash, an OOM kill) and the stack starts again
    stack.kill()
    aws = stack.start()
    dynamodb, s3, sqs = (aws.client(s) for s in ("dynamodb", "s3", "sqs"))

    # Then every acknowledged write is there, and the in-flight message kept its receive count
    assert (
        dynamodb.get_item(TableName=refs["table"], Key={"pk": ITEM["pk"]}, ConsistentRead=True)["Item"]
        == ITEM
    )
    obj = s3.get_object(Bucket=refs["bucket"], Key="kept/photo.jpg")
    assert (obj["Body"].read(), obj["ContentType"]) == (b"\xff\xd8bytes", "image/jpeg")
    counts = {
        m["Body"]: int(m["Attributes"]["ApproximateReceiveCount"]) for m in _receive_all(sqs, refs["queue"])
    }
    assert counts == {"waiting": 2, "in flight": 2}
    assert stack.stop() == 0


def test_state_and_logs_are_private(stack: RunningStack, config: LocalConfig) -> None:
    # Given a stack that ran and wrote state and logs
    aws = stack.start()
    refs = _refs(aws)
    aws.client("s3").put_object(Bucket=refs["bucket"], Key="k", Body=b"v")
    time.sleep(SNAPSHOT_SECONDS * 3)
    assert stack.stop() == 0

    # Then every folder under .local/state and .local/logs is 0700 and every file 0600
    checked = 0
    for top in (config.state_dir, config.logs_dir):
        for path in [top, *top.rglob("*")]:
            mode = stat.S_IMODE(path.stat().st_mode)
            assert mode == (0o700 if path.is_dir() else 0o600), f"{path}: {oct(mode)}"
            checked += 1
    assert checked > 5


def _receive_all(sqs: Any, queue_url: str, visibility: int = 30) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for _ in range(5):
        found += sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=visibility,
            AttributeNames=["ApproximateReceiveCount"],
        ).get("Messages", [])
        if len(found) >= 2:
            break
    return found


# --- not an open door ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    running = Emulator(free_port())
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _signed(emulator: Emulator, key: str = "testing") -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=emulator.endpoint,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=key,
    )


def test_signed_requests_of_the_local_stack_are_answered(emulator: Emulator) -> None:
    assert _signed(emulator).list_tables()["TableNames"] == []


def test_a_browser_origin_is_refused_for_dynamodb_and_s3(emulator: Emulator) -> None:
    # A page's fetch carries its Origin: refused, with no CORS header to let the page read anything
    for headers in (
        {"Origin": "https://evil.example", "X-Amz-Target": "DynamoDB_20120810.ListTables"},
        {"Origin": "null"},
    ):
        response = httpx.post(emulator.endpoint, headers=headers, content=b"{}")
        assert response.status_code == 403
        assert "access-control-allow-origin" not in response.headers


def test_preflights_are_refused(emulator: Emulator) -> None:
    response = httpx.request(
        "OPTIONS",
        f"{emulator.endpoint}/some-bucket",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers


def test_unsigned_requests_and_other_keys_are_refused(emulator: Emulator) -> None:
    # A link or an <img> to the emulator (no signature), or another key: refused
    assert httpx.get(f"{emulator.endpoint}/").status_code == 403
    assert httpx.get(f"{emulator.endpoint}/moto-api/data.json").status_code == 403
    with pytest.raises(Exception, match="AccessDenied"):
        _signed(emulator, key="someone-else").list_tables()


def test_the_local_dynamodb_has_no_port_and_ends_with_the_emulator() -> None:
    running = Emulator(free_port())
    running.start()
    pid = running.dynamodb.pid
    assert pid is not None
    socket_path = Path(running.dynamodb.socket)
    assert stat.S_IMODE(socket_path.parent.stat().st_mode) == 0o700
    assert _tcp_ports_of(pid) == []  # dynalite listens on no TCP port: only the front reaches it
    running.stop()
    assert not Path(f"/proc/{pid}").exists()


def _tcp_ports_of(pid: int) -> list[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[9] in inodes and fields[3] == "0A":  # listening
            ports.append(int(fields[1].split(":")[1], 16))
    return ports


def test_the_local_dynamodb_ends_when_its_parent_is_killed_alone(tmp_path: Path) -> None:
    # Given an emulator in a process of its own, with its dynalite child
    script = (
        "import sys, time\n"
        "from rollcall_local.emulator import Emulator\n"
        f"e = Emulator({free_port()}); e.start()\n"
        "print(e.dynamodb.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script],
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'shared'}:{ROOT / 'local'}:{ROOT}"},
        stdout=subprocess.PIPE,
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert Path(f"/proc/{child}").exists()

    # When only the parent is killed (SIGKILL: no clean-up of its own runs)
    parent.kill()
    parent.wait(timeout=10)

    # Then the child sees its input close and ends: no orphan
    wait_for(lambda: not Path(f"/proc/{child}").exists(), timeout=15, what="dynalite gone")
