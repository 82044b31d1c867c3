"""SQS event sources: each queue mapped to a function is polled and delivered in batches.

What Lambda's event source mapping does, for one poller per mapping:
- a batch is up to ``BatchSize`` messages, gathered for up to ``MaximumBatchingWindowInSeconds``;
- the function gets real SQS event records (see :func:`sqs_event`);
- on success the batch is deleted, except, with ``ReportBatchItemFailures``, the records named in
  ``batchItemFailures`` (a malformed list fails the whole batch, as on Lambda);
- on an error or a timeout nothing is deleted: the messages come back after the queue's
  visibility timeout, and the queue's RedrivePolicy (applied by the emulator) moves a message
  to its dead-letter queue after ``maxReceiveCount`` receives.
Polls are long polls of one second, so that stopping is quick; a batch received as the stack
stops is made visible again rather than delivered.
"""

from __future__ import annotations

import base64
import threading
import time
from typing import Any

from rollcall_local.console import Console
from rollcall_local.emulator import Aws
from rollcall_local.invoke import Invoker, Result
from rollcall_local.template import SqsSource

POLL_SECONDS = 1
ERROR_PAUSE_SECONDS = 2


def sqs_event(messages: list[dict[str, Any]], *, queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda delivers for messages received from SQS (``receive_message`` output)."""
    return {"Records": [_record(message, queue_arn, region) for message in messages]}


def _record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: _message_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    attribute: dict[str, Any] = {
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return attribute


def to_delete(messages: list[dict[str, Any]], result: Result, report_failures: bool) -> list[dict[str, Any]]:
    """The messages the event source deletes after the function's ``result``."""
    if not result.ok:
        return []
    failures = result.payload.get("batchItemFailures") if isinstance(result.payload, dict) else None
    if not report_failures or not failures:
        return messages
    ids = {message["MessageId"] for message in messages}
    failed = set()
    for failure in failures:
        item = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not item or item not in ids:
            return []  # a malformed response fails the whole batch
        failed.add(item)
    return [message for message in messages if message["MessageId"] not in failed]


class SqsPoller:
    def __init__(
        self,
        source: SqsSource,
        *,
        queue_url: str,
        queue_arn: str,
        aws: Aws,
        invoker: Invoker,
        console: Console,
    ) -> None:
        self.source = source
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.region = aws.region
        self.sqs = aws.client("sqs")
        self.invoker = invoker
        self.console = console
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"sqs-{source.function}-{source.event}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop polling; a batch being delivered finishes first (within the function's timeout)."""
        self._stop.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                batch = self._receive_batch()
                if batch and self._stop.is_set():
                    self._release(batch)  # visible again, so that the state saved on stop has them
                elif batch:
                    self.deliver(batch)
            except Exception as e:  # the emulator restarting, a network error: say so, go on
                if not self._stop.is_set():
                    self.console.info(f"sqs poller {self.source.function}.{self.source.event}: {e}")
                    self._stop.wait(ERROR_PAUSE_SECONDS)

    def _receive_batch(self) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        window_ends = time.monotonic() + self.source.window_seconds
        while len(batch) < self.source.batch_size and not self._stop.is_set():
            received = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.source.batch_size - len(batch)),
                WaitTimeSeconds=POLL_SECONDS,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            batch += received
            if batch and time.monotonic() >= window_ends:
                break
        return batch

    def _release(self, batch: list[dict[str, Any]]) -> None:
        for start in range(0, len(batch), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(batch[start : start + 10])
            ]
            self.sqs.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries)

    def deliver(self, batch: list[dict[str, Any]]) -> Result:
        """Invoke the function with ``batch`` and delete what the outcome says to delete."""
        event = sqs_event(batch, queue_arn=self.queue_arn, region=self.region)
        result = self.invoker.submit(self.source.function, event).result()
        deleting = to_delete(batch, result, self.source.report_failures)
        for start in range(0, len(deleting), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(deleting[start : start + 10])
            ]
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
        note = f"{len(batch)} record{'s' if len(batch) > 1 else ''}"
        if result.ok and len(deleting) < len(batch):
            note += f", {len(batch) - len(deleting)} failed"
        detail = result.error_summary()
        self.console.invocation(
            self.source.function,
            f"sqs {self.queue_url.rsplit('/', 1)[-1]}",
            result.status,
            result.duration_ms,
            f"{note}; {detail}" if detail else note,
        )
        return result
