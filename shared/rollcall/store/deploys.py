"""What a deploy's smoke test asks of AWS: invoke a function's new version, read its token, report.

- :func:`invoke`: Lambda ``Invoke`` of a qualified function ARN (a version or an alias), the
  function's answer or its error document.
- :func:`report_hook_status`: CodeDeploy ``PutLifecycleEventHookExecutionStatus``.
- :func:`read_secure_parameter`: an SSM SecureString (the production smoke token).

The local runtime serves Lambda and CodeDeploy for these calls (``AWS_ENDPOINT_URL_LAMBDA`` and
``AWS_ENDPOINT_URL_CODEDEPLOY``), so the hook runs unchanged against the local stack.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from rollcall.store.clients import client, endpoint_url, region


@dataclass(frozen=True)
class Invocation:
    payload: Any
    function_error: str | None  # Lambda's X-Amz-Function-Error: Unhandled, or None
    executed_version: str | None


@cache
def _lambda() -> Any:
    """Its own client: a new version's cold start may take longer than the shared client waits."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=120)
    return boto3.session.Session().client(
        "lambda", endpoint_url=endpoint_url("lambda"), region_name=region(), config=config
    )


def invoke(function: str, event: dict[str, Any]) -> Invocation:
    answer = _lambda().invoke(FunctionName=function, Payload=json.dumps(event).encode())
    raw = answer["Payload"].read()
    return Invocation(
        payload=json.loads(raw) if raw else None,
        function_error=answer.get("FunctionError"),
        executed_version=answer.get("ExecutedVersion"),
    )


def report_hook_status(deployment_id: str, execution_id: str, status: str) -> None:
    client("codedeploy").put_lifecycle_event_hook_execution_status(
        deploymentId=deployment_id, lifecycleEventHookExecutionId=execution_id, status=status
    )


def read_secure_parameter(name: str) -> str:
    answer = client("ssm").get_parameter(Name=name, WithDecryption=True)
    return str(answer["Parameter"]["Value"])
