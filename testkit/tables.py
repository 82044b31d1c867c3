"""DynamoDB tables for tests that make their own (``mock_aws``): the records table's key shape."""

from __future__ import annotations

from typing import Any


def create_key_table(client: Any, name: str) -> None:
    """An on-demand table keyed as the records table is (``pk`` hash, ``sk`` range, both strings),
    without its indexes: enough for code that reads and writes items by key."""
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in ("pk", "sk")],
        BillingMode="PAY_PER_REQUEST",
    )
