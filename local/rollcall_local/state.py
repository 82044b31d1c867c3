"""Keep the embedded emulator's data across restarts (the emulator itself keeps nothing).

On stop the local stack saves, under ``.local/state/`` (git-ignored), by logical id:
- ``s3/<Bucket>/index.json`` and ``s3/<Bucket>/objects/<n>``: every object's current version,
  with its content type and user metadata;
- ``dynamodb/<Table>.jsonl``: every item, in DynamoDB's typed JSON (binary values in base64);
- ``sqs/<Queue>.jsonl``: every visible message (body, attributes, FIFO group). Messages being
  processed at that moment are invisible, hence not saved.

On start, after provisioning, it puts them back. Only ever used with the embedded emulator:
against LocalStack or AWS the data lives there. ``reset`` forgets the saved state.
"""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rollcall_local.emulator import Aws
from rollcall_local.provision import queue_order
from rollcall_local.template import BUCKET, TABLE, Physical, Template

SAVE_VISIBILITY_SECONDS = 60


@dataclass
class Counts:
    objects: int = 0
    items: int = 0
    messages: int = 0

    def __str__(self) -> str:
        return f"{self.objects} S3 objects, {self.items} DynamoDB items, {self.messages} SQS messages"


def save(aws: Aws, template: Template, physical: Physical, directory: Path) -> Counts:
    """Write everything to ``directory`` (replaced as a whole, so a failed save loses nothing)."""
    staging = directory.with_name(directory.name + ".saving")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    counts = Counts()
    s3, dynamodb, sqs = aws.client("s3"), aws.client("dynamodb"), aws.client("sqs")
    for logical_id in template.resources_of(BUCKET):
        counts.objects += _save_bucket(s3, physical.refs[logical_id], staging / "s3" / logical_id)
    for logical_id in template.resources_of(TABLE):
        counts.items += _write_lines(
            staging / "dynamodb" / f"{logical_id}.jsonl", _scan(dynamodb, physical.refs[logical_id])
        )
    # Source queues before their dead-letter queues: a receive may move a message to its DLQ.
    for logical_id in reversed(queue_order(template)):
        messages = _drain(sqs, physical.refs[logical_id])
        counts.messages += _write_lines(staging / "sqs" / f"{logical_id}.jsonl", messages)
    previous = directory.with_name(directory.name + ".previous")
    shutil.rmtree(previous, ignore_errors=True)
    if directory.exists():
        directory.rename(previous)
    staging.rename(directory)
    shutil.rmtree(previous, ignore_errors=True)
    return counts


def restore(aws: Aws, template: Template, physical: Physical, directory: Path) -> Counts:
    """Put the saved data back into the (freshly provisioned) resources of the same logical ids."""
    counts = Counts()
    s3, dynamodb, sqs = aws.client("s3"), aws.client("dynamodb"), aws.client("sqs")
    for logical_id in template.resources_of(BUCKET):
        counts.objects += _restore_bucket(s3, physical.refs[logical_id], directory / "s3" / logical_id)
    for logical_id in template.resources_of(TABLE):
        items = list(_read_lines(directory / "dynamodb" / f"{logical_id}.jsonl"))
        for start in range(0, len(items), 25):
            requests = [{"PutRequest": {"Item": _decode(item)}} for item in items[start : start + 25]]
            _write_batch(dynamodb, physical.refs[logical_id], requests)
        counts.items += len(items)
    for logical_id in queue_order(template):
        messages = list(_read_lines(directory / "sqs" / f"{logical_id}.jsonl"))
        for start in range(0, len(messages), 10):
            entries = [_entry(str(i), message) for i, message in enumerate(messages[start : start + 10])]
            sqs.send_message_batch(QueueUrl=physical.refs[logical_id], Entries=entries)
        counts.messages += len(messages)
    return counts


def reset(directory: Path) -> bool:
    existed = directory.exists()
    shutil.rmtree(directory, ignore_errors=True)
    return existed


# --- S3 -----------------------------------------------------------------------------------------


def _save_bucket(s3: Any, bucket: str, folder: Path) -> int:
    index: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for summary in page.get("Contents", []):
            obj = s3.get_object(Bucket=bucket, Key=summary["Key"])
            path = folder / "objects" / str(len(index))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(obj["Body"].read())
            index.append(
                {
                    "key": summary["Key"],
                    "content_type": obj.get("ContentType"),
                    "metadata": obj.get("Metadata", {}),
                }
            )
    if index:
        (folder / "index.json").write_text(json.dumps(index))
    return len(index)


def _restore_bucket(s3: Any, bucket: str, folder: Path) -> int:
    index_path = folder / "index.json"
    if not index_path.is_file():
        return 0
    index = json.loads(index_path.read_text())
    for number, entry in enumerate(index):
        extra = {"ContentType": entry["content_type"]} if entry.get("content_type") else {}
        body = (folder / "objects" / str(number)).read_bytes()
        s3.put_object(Bucket=bucket, Key=entry["key"], Body=body, Metadata=entry["metadata"], **extra)
    return len(index)


# --- DynamoDB -----------------------------------------------------------------------------------


def _scan(dynamodb: Any, table: str) -> Iterator[dict[str, Any]]:
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        for item in page.get("Items", []):
            yield {name: _encode(value) for name, value in item.items()}


def _write_batch(dynamodb: Any, table: str, requests: list[dict[str, Any]]) -> None:
    pending = {table: requests}
    for _ in range(10):
        pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        if not pending:
            return
    raise RuntimeError(f"could not restore every item of {table}")


def _encode(value: dict[str, Any]) -> dict[str, Any]:
    """A typed attribute value as JSON: binary values as base64 strings."""
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": base64.b64encode(inner).decode()}
    if kind == "BS":
        return {"BS": [base64.b64encode(b).decode() for b in inner]}
    if kind == "M":
        return {"M": {k: _encode(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [_encode(v) for v in inner]}
    return value


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


# --- SQS ----------------------------------------------------------------------------------------


def _drain(sqs: Any, queue_url: str) -> Iterator[dict[str, Any]]:
    """Every visible message, each received once (they stay hidden while the save runs)."""
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=SAVE_VISIBILITY_SECONDS,
            AttributeNames=["MessageGroupId", "MessageDeduplicationId"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return
        for message in messages:
            yield {
                "body": message["Body"],
                "attributes": {
                    name: {
                        k: (base64.b64encode(v).decode() if k == "BinaryValue" else v)
                        for k, v in attr.items()
                    }
                    for name, attr in message.get("MessageAttributes", {}).items()
                },
                **{k: v for k, v in message.get("Attributes", {}).items() if k.startswith("Message")},
            }


def _entry(entry_id: str, message: dict[str, Any]) -> dict[str, Any]:
    attributes = {
        name: {k: (base64.b64decode(v) if k == "BinaryValue" else v) for k, v in attr.items()}
        for name, attr in message["attributes"].items()
    }
    entry: dict[str, Any] = {"Id": entry_id, "MessageBody": message["body"], "MessageAttributes": attributes}
    for key in ("MessageGroupId", "MessageDeduplicationId"):
        if key in message:
            entry[key] = message[key]
    return entry


# --- files --------------------------------------------------------------------------------------


def _write_lines(path: Path, records: Iterable[dict[str, Any]]) -> int:
    lines = [json.dumps(record) for record in records]
    if lines:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
    return len(lines)


def _read_lines(path: Path) -> Iterator[dict[str, Any]]:
    if path.is_file():
        with path.open() as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)
