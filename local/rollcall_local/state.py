"""Keep the embedded emulator's data across restarts and crashes.

Under ``.local/state/`` (git-ignored; folders 0700, files 0600):
- ``dynamodb.leveldb/``: the local DynamoDB's LevelDB (dynalite). Every write is there once it is
  acknowledged: nothing to save or restore, and a SIGKILL of the whole stack loses nothing.
- ``s3/<bucket>/index.json`` and ``s3/<bucket>/objects/<file>``: every object's current version
  with its content type and user metadata (an object file is written once, then kept while the
  index names it);
- ``sqs/<queue>.pickle``: every message, in flight or not, with its receive count, first-receive
  and sent times, FIFO group and deduplication id.

S3 and SQS live in moto, in this process: :class:`Snapshots` writes them within about a second of
a change (:data:`SNAPSHOT_SECONDS`), so a crash loses at most the last seconds of S3 and SQS
writes (documented as 5 s); a clean stop writes them once more. Every file is written to a
temporary name and renamed, so a crash during a save leaves the previous save whole.

On start, after provisioning, S3 objects and SQS messages are put back (messages that were in
flight become visible again, their receive counts kept, so redrive to a dead-letter queue still
counts them). Only ever used with the embedded emulator: against LocalStack or AWS the data lives
there. ``reset`` forgets the saved state.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import pickle
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rollcall.store import bulk
from rollcall_local.config import private_dir
from rollcall_local.emulator import EMULATOR_ACCOUNT, Aws
from rollcall_local.template import BUCKET, QUEUE, TABLE, Physical, Template

SNAPSHOT_SECONDS = 1.0
_SQS_FIELDS = (
    "id",
    "body",
    "message_attributes",
    "sender_id",
    "sent_timestamp",
    "approximate_first_receive_timestamp",
    "approximate_receive_count",
    "deduplication_id",
    "group_id",
    "sequence_number",
    "system_attributes",
)


@dataclass
class Counts:
    objects: int = 0
    items: int = 0
    messages: int = 0

    def __str__(self) -> str:
        items = f", {self.items} DynamoDB items" if self.items else ""
        return f"{self.objects} S3 objects{items}, {self.messages} SQS messages"


Tick = Callable[[int], None]


def save(
    aws: Aws, template: Template, physical: Physical, directory: Path, *, progress: Tick | None = None
) -> Counts:
    """Write S3 and SQS as they are now (DynamoDB is already on disk).

    ``progress(n)`` is told of each S3 object saved (see :func:`objects_to_save` for the total)."""
    for folder in (directory, directory / "s3", directory / "sqs"):
        private_dir(folder)
    counts = Counts()
    for logical_id in template.resources_of(BUCKET):
        counts.objects += _save_bucket(physical.refs[logical_id], aws.region, directory / "s3", progress)
    for logical_id in template.resources_of(QUEUE):
        name = physical.attribute(logical_id, "QueueName")
        counts.messages += _save_queue(name, aws.region, directory / "sqs")
    return counts


def restore(
    aws: Aws, template: Template, physical: Physical, directory: Path, *, progress: Tick | None = None
) -> Counts:
    """Put the saved S3 objects and SQS messages back into the (freshly provisioned) resources.

    ``progress(n)`` is told of S3 objects and DynamoDB items put back (:func:`to_restore`: the total)."""
    counts = Counts()
    if not directory.is_dir():
        return counts
    private_dir(directory)
    s3 = aws.client("s3")
    for logical_id in template.resources_of(BUCKET):
        counts.objects += _restore_bucket(s3, physical.refs[logical_id], directory / "s3", progress)
    for logical_id in template.resources_of(QUEUE):
        name = physical.attribute(logical_id, "QueueName")
        counts.messages += _restore_queue(name, aws.region, directory / "sqs")
    counts.items += _restore_legacy_items(aws, template, physical, directory / "dynamodb", progress)
    return counts


def objects_to_save(template: Template, physical: Physical) -> int:
    """How many S3 objects :func:`save` goes through (a progress line's total)."""
    total = 0
    for logical_id in template.resources_of(BUCKET):
        bucket = _s3_bucket(physical.refs[logical_id])
        total += len(bucket.keys) if bucket is not None else 0
    return total


def to_restore(directory: Path) -> int:
    """How many S3 objects and DynamoDB items :func:`restore` puts back (a progress line's total)."""
    total = 0
    for index in (directory / "s3").glob("*/index.json"):
        with contextlib.suppress(OSError, ValueError):
            total += len(json.loads(index.read_text()))
    for lines in (directory / "dynamodb").glob("*.jsonl"):
        with contextlib.suppress(OSError), lines.open("rb") as f:
            total += sum(1 for line in f if line.strip())
    return total


def reset(directory: Path) -> bool:
    existed = directory.exists()
    shutil.rmtree(directory, ignore_errors=True)
    return existed


class Snapshots:
    """Saves S3 and SQS in the background, within :data:`SNAPSHOT_SECONDS` of a change."""

    def __init__(self, save_now: Any, seconds: float = SNAPSHOT_SECONDS) -> None:
        self._save = save_now
        self._seconds = seconds
        self._dirty = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="state-snapshots", daemon=True)
        self.failure: BaseException | None = None

    def changed(self) -> None:
        self._dirty.set()

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            if self._dirty.wait(0.2) and not self._stopping.wait(self._seconds / 2):
                self._dirty.clear()
                try:
                    self._save()
                except Exception as e:
                    self.failure = e

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()


# --- files --------------------------------------------------------------------------------------


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file (0600) beside ``path``, then rename it over ``path``."""
    private_dir(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


# --- S3 -----------------------------------------------------------------------------------------


def _s3_bucket(name: str) -> Any:
    from moto.s3.models import s3_backends

    return s3_backends[EMULATOR_ACCOUNT]["aws"].buckets.get(name)


def _save_bucket(bucket_name: str, region: str, root: Path, progress: Tick | None = None) -> int:
    bucket = _s3_bucket(bucket_name)
    folder = root / bucket_name
    if bucket is None:
        return 0
    objects = folder / "objects"
    index: list[dict[str, Any]] = []
    for key_name, key in list(bucket.keys.items()):
        if key is None or getattr(key, "value", None) is None:
            continue
        file = hashlib.sha256(f"{key_name}\0{key.etag}".encode()).hexdigest()
        if not (objects / file).exists():
            write_atomic(objects / file, key.value)
        headers = {name.lower(): value for name, value in dict(key.metadata or {}).items()}
        index.append(
            {
                "key": key_name,
                "file": file,
                "content_type": headers.get("content-type"),
                "metadata": {
                    name.removeprefix("x-amz-meta-"): value
                    for name, value in headers.items()
                    if name.startswith("x-amz-meta-")
                },
            }
        )
        if progress is not None:
            progress(1)
    write_atomic(folder / "index.json", json.dumps(index).encode())
    named = {entry["file"] for entry in index}
    if objects.is_dir():
        for path in objects.iterdir():
            if path.name not in named and not path.name.startswith("."):
                path.unlink(missing_ok=True)
    return len(index)


def _restore_bucket(s3: Any, bucket: str, root: Path, progress: Tick | None = None) -> int:
    index_path = root / bucket / "index.json"
    if not index_path.is_file():
        return 0
    index = json.loads(index_path.read_text())
    for entry in index:
        extra = {"ContentType": entry["content_type"]} if entry.get("content_type") else {}
        body = (root / bucket / "objects" / entry["file"]).read_bytes()
        s3.put_object(Bucket=bucket, Key=entry["key"], Body=body, Metadata=entry["metadata"], **extra)
        if progress is not None:
            progress(1)
    return len(index)


# --- SQS ----------------------------------------------------------------------------------------


def _sqs_queue(name: str, region: str) -> Any:
    from moto.sqs.models import sqs_backends

    return sqs_backends[EMULATOR_ACCOUNT][region].queues.get(name)


def _save_queue(name: str, region: str, root: Path) -> int:
    queue = _sqs_queue(name, region)
    if queue is None:
        return 0
    with queue._messages_lock:
        messages = [{field: getattr(m, field, None) for field in _SQS_FIELDS} for m in queue._messages]
    write_atomic(root / f"{name}.pickle", pickle.dumps(messages))
    return len(messages)


def _restore_queue(name: str, region: str, root: Path) -> int:
    from moto.sqs.models import Message

    path = root / f"{name}.pickle"
    queue = _sqs_queue(name, region)
    if queue is None or not path.is_file():
        return 0
    saved = pickle.loads(path.read_bytes())  # noqa: S301 (our own file, 0600 in a 0700 folder)
    restored = []
    for fields in saved:
        message = Message(fields["id"], fields["body"], fields.get("system_attributes"))
        for field in _SQS_FIELDS:
            if fields.get(field) is not None:
                setattr(message, field, fields[field])
        restored.append(message)  # visible now, its receive count kept
    with queue._messages_lock:
        queue._messages.extend(restored)
        queue._messages_lock.notify_all()
    return len(restored)


# --- DynamoDB items saved by earlier versions (JSON Lines), put into the local DynamoDB once ----


def _restore_legacy_items(
    aws: Aws, template: Template, physical: Physical, folder: Path, progress: Tick | None = None
) -> int:
    if not folder.is_dir():
        return 0
    dynamodb = aws.client("dynamodb")
    count = 0
    for logical_id in template.resources_of(TABLE):
        items = list(_read_lines(folder / f"{logical_id}.jsonl"))
        requests = [{"PutRequest": {"Item": _decode(item)}} for item in items]
        # 25 a request on a few threads, unprocessed items retried (BatchIncomplete if some stay)
        bulk.batch_write(dynamodb, physical.refs[logical_id], requests, on_chunk=progress)
        count += len(items)
    shutil.rmtree(folder)
    return count


def _decode(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _decode_value(value) for name, value in item.items()}


def _decode_value(value: dict[str, Any]) -> dict[str, Any]:
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": base64.b64decode(inner)}
    if kind == "BS":
        return {"BS": [base64.b64decode(b) for b in inner]}
    if kind == "M":
        return {"M": _decode(inner)}
    if kind == "L":
        return {"L": [_decode_value(v) for v in inner]}
    return value


def _read_lines(path: Path) -> Iterator[dict[str, Any]]:
    if path.is_file():
        with path.open() as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)
