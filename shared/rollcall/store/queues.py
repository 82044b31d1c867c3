"""SQS: sending JSON messages (training jobs, alerts). Consumers are Lambda event sources."""

from __future__ import annotations

import json
from typing import Any

from rollcall.store import clients
from rollcall.store.client_errors import translated


def send_json(
    queue_url: str, body: dict[str, Any], *, attributes: dict[str, str] | None = None, client: Any = None
) -> str:
    """Send one JSON message; its message id. String ``attributes`` become message attributes."""
    kwargs: dict[str, Any] = {"QueueUrl": queue_url, "MessageBody": json.dumps(body, separators=(",", ":"))}
    if attributes:
        kwargs["MessageAttributes"] = {
            k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()
        }
    with translated("send message"):
        return str((client or clients.client("sqs")).send_message(**kwargs)["MessageId"])
