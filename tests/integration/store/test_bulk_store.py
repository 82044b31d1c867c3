"""Bulk paths of the records table on the emulator: batch writes, batch reads, parallel queries."""

from __future__ import annotations

from typing import Any

import pytest

from rollcall.platform.errors import WrongOrganisation
from rollcall.store.table import OrgRecords
from rollcall_local.emulator import Aws
from rollcall_local.template import Physical


@pytest.fixture(scope="module")
def records(aws: Aws, physical: Physical) -> OrgRecords:
    return OrgRecords("bulk-school", physical.refs["RecordsTable"], client=aws.client("dynamodb"))


def items(records: OrgRecords, partitions: int, per: int) -> list[dict[str, Any]]:
    return [
        {
            "pk": records.key("P", str(p)),
            "sk": f"I#{i:04d}",
            "kind": "bulk",
            "n": p * 1000 + i,
            "pad": "x" * 50,
        }
        for p in range(partitions)
        for i in range(per)
    ]


def test_batch_put_then_batch_get_and_parallel_queries_read_back_every_item(records: OrgRecords) -> None:
    # Given 7 partitions of 41 items written in batches (287 items: 12 requests of at most 25)
    stored = items(records, 7, 41)
    chunks: list[int] = []
    assert records.batch_put(stored, on_chunk=chunks.append) == 287
    assert sum(chunks) == 287 and max(chunks) == 25
    # When they are read back by key, 100 keys a request, with a projection
    keys = [(i["pk"], i["sk"]) for i in stored] + [(records.key("P", "none"), "I#0000")]
    found = records.batch_get(keys, attributes=("n",), consistent=True)
    # Then every stored item is found (the missing key is not), with only the asked attributes
    assert len(found) == 287
    assert found[(records.key("P", "3"), "I#0005")] == {
        "pk": records.key("P", "3"),
        "sk": "I#0005",
        "n": 3005,
    }
    # And the partitions read on several threads come back whole, each in sort-key order
    pages = records.query_many(
        [(records.key("P", str(p)), None) for p in range(7)]
        + [(records.key("P", "2"), ("I#0010", "I#0019"))],
        attributes=("n",),
        workers=3,
    )
    assert [[i["n"] for i in page] for page in pages[:7]] == [
        [p * 1000 + i for i in range(41)] for p in range(7)
    ]
    assert [i["n"] for i in pages[7]] == list(range(2010, 2020))


def test_bulk_paths_refuse_other_organisations_keys(records: OrgRecords) -> None:
    other = "ORG#elsewhere#P#1"
    with pytest.raises(WrongOrganisation):
        records.batch_put([{"pk": other, "sk": "x"}])
    with pytest.raises(WrongOrganisation):
        records.batch_get([(other, "x")])
    with pytest.raises(WrongOrganisation):
        records.query_many([(other, None)])


def test_batch_delete_removes_them(records: OrgRecords) -> None:
    stored = items(records, 1, 30)
    records.batch_put(stored)
    assert records.batch_delete((i["pk"], i["sk"]) for i in stored) == 30
    assert records.batch_get([(i["pk"], i["sk"]) for i in stored], consistent=True) == {}
