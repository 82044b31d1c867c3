"""boto3 clients, made in one place.

``AWS_ENDPOINT_URL`` decides where requests go: unset on AWS (the real endpoints), the embedded
emulator (``http://127.0.0.1:4566``, set by the local runtime) or LocalStack. boto3 itself honours
the variable too; passing it explicitly keeps the choice visible and testable.

boto3 is imported on first use (0.3 s of import time is cold-start time), and each client is made
once per container and shared: boto3 clients are thread-safe, sessions are not, hence the lock.
"""

from __future__ import annotations

import os
import threading
from typing import Any

_lock = threading.Lock()
_clients: dict[tuple[str, str | None, str | None], Any] = {}


def endpoint_url(service: str | None = None) -> str | None:
    """``AWS_ENDPOINT_URL_<SERVICE>`` (as boto3 reads it) first, then ``AWS_ENDPOINT_URL``."""
    if service:
        specific = os.environ.get("AWS_ENDPOINT_URL_" + service.upper().replace("-", "_"))
        if specific:
            return specific
    return os.environ.get("AWS_ENDPOINT_URL") or None


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def client(service: str) -> Any:
    """The shared client for ``service`` at the current endpoint and region."""
    key = (service, endpoint_url(service), region())
    found = _clients.get(key)
    if found is not None:
        return found
    with _lock:
        found = _clients.get(key)
        if found is None:
            import boto3
            from botocore.config import Config

            config = Config(
                retries={"max_attempts": 4, "mode": "standard"},
                connect_timeout=3,
                read_timeout=20,
                max_pool_connections=32,
                # DynamoDB validates every request itself; botocore's own walk of each request's
                # shape is about a third of a batch write's client CPU (BENCHMARKS.md, bulk paths)
                parameter_validation=service != "dynamodb",
            )
            session: Any = boto3.session.Session()
            found = session.client(service, endpoint_url=key[1], region_name=key[2], config=config)
            if service == "dynamodb":
                from rollcall.store import wire

                wire.install(found)  # BatchWriteItem bodies by json.dumps (rollcall.store.wire)
            _clients[key] = found
    return found


def reset() -> None:
    """Forget every client (tests that change the endpoint between cases)."""
    with _lock:
        _clients.clear()


class Client:
    """A store's ``client`` attribute: the client its constructor was given (tests pass one bound to
    their own emulator), else this module's shared client of ``service``, made on first use."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.slot = f"_{service}_client"

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = f"_{name}"

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        if obj is None:
            return self
        found = obj.__dict__.get(self.slot)
        if found is None:
            found = obj.__dict__[self.slot] = client(self.service)
        return found

    def __set__(self, obj: object, value: Any) -> None:
        obj.__dict__[self.slot] = value
