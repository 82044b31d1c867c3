"""Alerts: what an operator must hear about now, one SQS message each, on the alert queue.

Raised by the anomaly scan (high and critical anomalies) and by the predictor when a model
artifact fails its integrity check. The message is JSON::

    {"alert_id", "org", "type", "severity", "subject", "evidence", "detected_at", "source"}

``evidence`` holds the numbers behind the alert (counts, rates, ids), never personal data beyond
ids, never a photo or an embedding. Consumers (a pager, a mail bridge) read the queue; messages
they fail to handle three times go to the alert dead-letter queue.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from rollcall.domain import iso
from rollcall.platform.observability import count, logger
from rollcall.store.queues import send_json

Severity = Literal["low", "medium", "high", "critical"]


@dataclass(frozen=True)
class Alert:
    org: str
    type: str
    severity: Severity
    subject: str
    evidence: dict[str, Any]
    detected_at: datetime
    source: str
    alert_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def message(self) -> dict[str, Any]:
        return {**asdict(self), "detected_at": iso(self.detected_at)}


def send_alert(alert: Alert, queue_url: str, *, client: Any = None) -> str:
    """Put the alert on the queue; its message id."""
    message_id = send_json(
        queue_url, alert.message(), attributes={"type": alert.type, "severity": alert.severity}, client=client
    )
    count("AlertSent")
    logger.warning(
        "alert sent", extra={"alert_type": alert.type, "severity": alert.severity, "subject": alert.subject}
    )
    return message_id
