"""Logger, metrics and tracer: the one place they are made (AWS Lambda Powertools).

- Logs are structured JSON with the correlation id (the API request id, the SQS message id or
  the scheduled event id) on every line.
- One metric per business event (``metrics.add_metric(name="FaceEnrolled", ...)``), flushed as
  CloudWatch EMF at the end of each invocation.
- Traces: ``with span("detect"):`` opens an X-Ray subsegment. The X-Ray SDK costs 0.3 s of
  import, so the tracer is made on first use and never where tracing is off
  (``POWERTOOLS_TRACE_DISABLED=true``, as the local stack sets it); the function-level segment
  comes from the template's ``Tracing: Active`` either way.
- Never log tokens, photos or embeddings: log ids, sizes, counts and timings instead.

The service name comes from ``POWERTOOLS_SERVICE_NAME``, which the template sets per function.
"""

from __future__ import annotations

import os
import warnings
from contextlib import AbstractContextManager, nullcontext
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

# An invocation that records no business metric is normal (a GET, a health check).
warnings.filterwarnings("ignore", message="No application metrics to publish")

logger = Logger(log_uncaught_exceptions=True)
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Rollcall"))


def tracing_enabled() -> bool:
    disabled = os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() in ("1", "true")
    return not disabled and "AWS_LAMBDA_FUNCTION_NAME" in os.environ


@cache
def tracer() -> Tracer:
    from aws_lambda_powertools import Tracer

    return Tracer()


def span(name: str) -> AbstractContextManager[Any]:
    """An X-Ray subsegment around a block when tracing is on; nothing otherwise."""
    if not tracing_enabled():
        return nullcontext()
    return tracer().provider.in_subsegment(name)


def count(name: str, value: float = 1, unit: MetricUnit = MetricUnit.Count) -> None:
    """Record one business metric for this invocation."""
    metrics.add_metric(name=name, unit=unit, value=value)


def count_by(
    name: str, dimension: str, key: str, value: float = 1, unit: MetricUnit = MetricUnit.Count
) -> None:
    """One metric with a dimension of its own (an anomaly's type, a prediction's method), written
    at once as its own EMF document, with the service dimension the invocation's metrics have."""
    from aws_lambda_powertools.metrics import single_metric

    service = os.environ.get("POWERTOOLS_SERVICE_NAME")
    with single_metric(
        name=name,
        unit=unit,
        value=value,
        namespace=metrics.namespace,
        default_dimensions={"service": service} if service else None,
    ) as metric:
        metric.add_dimension(name=dimension, value=key)


__all__ = ["MetricUnit", "count", "count_by", "logger", "metrics", "span", "tracer", "tracing_enabled"]
