"""The shared clients' configuration."""

from __future__ import annotations

import pytest

from rollcall.store import clients


def test_dynamodb_requests_are_validated_by_the_store_not_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    clients.reset()
    try:
        from botocore.validate import ParamValidationDecorator

        # botocore wraps its serializer in a validator when it validates
        assert not isinstance(clients.client("dynamodb")._serializer, ParamValidationDecorator)
        assert isinstance(clients.client("s3")._serializer, ParamValidationDecorator)
    finally:
        clients.reset()
