"""What the key store's calls bill on an on-demand table (the cost estimate, ``twin.cost``): read
and write request units and the bytes new items store, counted by the adapter and checked against
the items the table holds."""

from __future__ import annotations

import pytest

from keystore.items import ITEM_OVERHEAD_BYTES, KeyStoreError, item_bytes, units

from .conftest import TABLE


def subjects(n: int, tag: str = "s") -> list[str]:
    return [f"{tag}-{i}@example.com" for i in range(n)]


def items(cloud, prefix: str) -> list[dict]:
    pages = cloud.dynamodb.get_paginator("scan").paginate(TableName=TABLE, ConsistentRead=True)
    return [i for page in pages for i in page["Items"] if i["id"]["S"].startswith(prefix)]


@pytest.mark.parametrize("item, size", [
    ({"id": {"S": "ab"}}, 2 + 2),
    ({"id": {"S": "é"}}, 2 + 2),  # UTF-8 bytes, not characters
    ({"dk": {"B": b"\0" * 60}}, 2 + 60),
    ({"rv": {"N": "1"}}, 2 + 1 + 1),
    ({"ttl": {"N": "1767225601"}}, 3 + 5 + 1),  # 10 digits: 5 bytes, and 1
    ({"ttl": {"N": "1767225600"}}, 3 + 4 + 1),  # trailing zeroes trimmed: 8 digits
    ({"n": {"N": "-120.500"}}, 1 + 2 + 1),  # trailing zeroes trimmed: 1205
    ({"tomb": {"BOOL": True}}, 4 + 1),
])
def test_an_item_is_sized_as_dynamodb_bills_it(item, size):
    assert item_bytes(item) == size


def test_a_type_the_table_never_holds_is_named_not_guessed():
    with pytest.raises(KeyStoreError, match="attribute tags has type SS"):
        item_bytes({"tags": {"SS": ["a"]}})


@pytest.mark.parametrize("size, unit, n", [(0, 1024, 1), (1, 1024, 1), (1024, 1024, 1), (1025, 1024, 2), (4097, 4096, 2)])
def test_request_units_round_each_item_up(size, unit, n):
    assert units(size, unit) == n


def test_new_subjects_bill_a_read_each_and_three_writes_each(cloud):
    store = cloud.store()
    port = cloud.port(store)
    port.root  # noqa: B018 - the root and the table's mark: GetItems of missing items (1 read each), PutItems (1 write each)
    root, mark = items(cloud, "root#")[0], items(cloud, "meta#")[0]
    assert store.usage == {"read_request_units": 2, "write_request_units": 2,
                           "stored_bytes": item_bytes(root) + item_bytes(mark) + 2 * ITEM_OVERHEAD_BYTES}
    store.usage.clear()
    port.resolve(subjects(150))
    made = items(cloud, "s#")
    assert len(made) == 150 and all(item_bytes(i) < 1024 for i in made)
    # each missing key read once (strongly consistent: 1 unit), each item written in a transaction
    # (2 units per KB) and copied into the by-link index (1 more), stored twice with its overhead
    assert store.usage == {"read_request_units": 150, "write_request_units": 3 * 150,
                           "stored_bytes": 2 * sum(item_bytes(i) + ITEM_OVERHEAD_BYTES for i in made)}


def test_known_subjects_bill_reads_only_and_cached_ones_nothing(cloud):
    cloud.port().resolve(subjects(120))
    store = cloud.store()  # another container
    port = cloud.port(store)
    port.resolve(subjects(120) + subjects(30, "new"))
    assert store.usage["read_request_units"] == 1 + 150  # the root, then each subject (120 found, 30 not)
    assert store.usage["write_request_units"] == 3 * 30
    assert store.waited_ms.keys() == store.calls.keys() and all(ms > 0 for ms in store.waited_ms.values())
    before = dict(store.usage)
    port.resolve(subjects(120))  # warm
    assert store.usage == before
