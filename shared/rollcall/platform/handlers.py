"""The Lambda entry point of every function: one handler, dispatching on the trigger.

A function may be triggered by HTTP (API Gateway HTTP API, payload 2.0), by SQS and by
EventBridge schedules; the template gives each function one handler, so ``make_handler``
builds it from the parts a function has::

    handler = make_handler(http=app, sqs=consume_job, schedule=on_schedule)

- HTTP events go to the FastAPI app through Mangum.
- SQS events go to ``sqs(event, context)``, normally built with :func:`sqs_batch` (Powertools
  ``BatchProcessor``: failed records are reported in ``batchItemFailures`` and only they return
  to the queue).
- Scheduled events go to ``schedule(event, context)``.

Every invocation gets the correlation id of its trigger in its logs, and its metrics flushed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from rollcall.platform.errors import InvalidInput
from rollcall.platform.observability import logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from fastapi import FastAPI

Event = dict[str, Any]
Trigger = Literal["http", "sqs", "schedule", "hook"]
Part = Callable[[Event, Any], Any]


def trigger_of(event: Event) -> Trigger:
    if isinstance(event.get("requestContext"), dict) and "http" in event["requestContext"]:
        return "http"
    records = event.get("Records")
    if isinstance(records, list) and records and records[0].get("eventSource") == "aws:sqs":
        return "sqs"
    if event.get("source") == "aws.events" or event.get("detail-type") == "Scheduled Event":
        return "schedule"
    if "DeploymentId" in event and "LifecycleEventHookExecutionId" in event:
        return "hook"  # a CodeDeploy lifecycle hook (the deploy smoke test)
    raise InvalidInput("unrecognised event: expected API Gateway v2, SQS or a scheduled event")


def _correlation_id(trigger: Trigger, event: Event) -> str | None:
    if trigger == "http":
        return event["requestContext"].get("requestId")
    if trigger == "sqs":
        return event["Records"][0].get("messageId")
    if trigger == "hook":
        return event.get("DeploymentId")
    return event.get("id")


def make_handler(
    *,
    http: FastAPI | None = None,
    sqs: Part | None = None,
    schedule: Part | None = None,
    hook: Part | None = None,
) -> Callable[[Event, Any], Any]:
    """One Lambda handler for the triggers a function has."""
    parts: dict[Trigger, Part] = {}
    if http is not None:
        from mangum import Mangum

        parts["http"] = Mangum(http, lifespan="off")
    if sqs is not None:
        parts["sqs"] = sqs
    if schedule is not None:
        parts["schedule"] = schedule
    if hook is not None:
        parts["hook"] = hook

    @metrics.log_metrics(capture_cold_start_metric=True)  # ColdStart per function (the dashboard)
    @logger.inject_lambda_context(clear_state=True)
    def handler(event: Event, context: Any) -> Any:
        trigger = trigger_of(event)
        part = parts.get(trigger)
        if part is None:
            raise InvalidInput(f"this function has no {trigger} trigger")
        logger.set_correlation_id(_correlation_id(trigger, event))
        return part(event, context)

    return handler


def sqs_batch(record_handler: Callable[[SQSRecord], Any]) -> Part:
    """An SQS consumer with partial batch responses: only failed records return to the queue.

    ``record_handler`` must be idempotent: a record is redelivered after a failure or a timeout.
    """
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    processor = BatchProcessor(event_type=EventType.SQS)

    def consume(event: Event, context: Any) -> dict[str, Any]:
        return dict(
            process_partial_response(
                event=event, record_handler=record_handler, processor=processor, context=context
            )
        )

    return consume
