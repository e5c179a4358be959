"""What a batch costs in AWS calls (issue 11's claims), counted by the adapter and checked against
what moto received, and the partial answers DynamoDB gives (unprocessed keys, cancelled
transactions) retried until every subject has its key."""

from __future__ import annotations

import math

import pytest
from botocore.exceptions import ClientError

from keystore.items import KeyStoreError
from privacy.subjects import Stored, Tombstone

from .conftest import TABLE, Wrapper


def subjects(n: int, tag: str = "s") -> list[str]:
    return [f"{tag}-{i}@example.com" for i in range(n)]


def scan(cloud) -> list[dict]:
    pages = cloud.dynamodb.get_paginator("scan").paginate(TableName=TABLE, ConsistentRead=True)
    return [item for page in pages for item in page["Items"]]


@pytest.mark.parametrize("n", [1, 100, 101, 250])
def test_new_subjects_cost_one_write_per_hundred(cloud, n):
    store = cloud.store()
    port = cloud.port(store)
    port.root  # noqa: B018 - the first container creates the root and marks the table (2 GetItem, GenerateDataKey, 2 PutItem)
    assert store.calls == {"GetItem": 2, "kms:GenerateDataKey": 1, "PutItem": 2}
    store.calls.clear()
    resolved = port.resolve(subjects(n))
    assert store.calls == {"BatchGetItem": math.ceil(n / 100), "TransactWriteItems": math.ceil(n / 100)}
    links = {resolved.of(s).link for s in subjects(n)}
    assert len(links) == n and all(link.startswith("k:") for link in links)
    items = [i for i in scan(cloud) if i["id"]["S"].startswith("s#")]
    assert len(items) == n
    assert {i["link"]["S"] for i in items} == links
    text = repr(scan(cloud))
    assert not any(s in text for s in subjects(n))  # the table holds no raw id


def test_known_subjects_cost_batch_reads_only_and_a_cold_start_one_kms_call(cloud):
    first = cloud.port()
    before = first.resolve(subjects(250))
    store = cloud.store()  # another container: nothing cached
    port = cloud.port(store)
    after = port.resolve(subjects(250))
    assert store.calls == {"GetItem": 1, "kms:Decrypt": 1, "BatchGetItem": 3}
    assert all(after.of(s).link == before.of(s).link for s in subjects(250))
    assert all(after.of(s).cipher._key == before.of(s).cipher._key for s in subjects(250))
    store.calls.clear()
    again = port.resolve(subjects(250))  # warm: cached keys and root
    assert store.calls == {}
    assert all(again.of(s) is after.of(s) for s in subjects(250))


def test_known_and_new_subjects_mixed(cloud):
    cloud.port().resolve(subjects(150, "old"))
    store = cloud.store()
    port = cloud.port(store)
    port.resolve(subjects(150, "old") + subjects(60, "new"))
    assert store.calls == {"GetItem": 1, "kms:Decrypt": 1, "BatchGetItem": 3, "TransactWriteItems": 1}


def test_a_period_key_costs_one_read_per_day_and_the_first_writer_wins(cloud):
    now = [86400 * 20000 + 5.0]
    first_store = cloud.store()
    first = cloud.port(first_store, retention_days=[30], clock=lambda: now[0])
    first.resolve(["a"])
    assert first_store.calls["PutItem"] == 3  # the root, the table's mark, then the period key
    store = cloud.store()
    port = cloud.port(store, retention_days=[30], clock=lambda: now[0])
    port.resolve(["b"])
    assert store.calls == {"GetItem": 2, "kms:Decrypt": 1, "BatchGetItem": 1, "TransactWriteItems": 1}
    assert port.periods == first.periods
    store.calls.clear()
    port.resolve(["b", "c"])
    assert store.calls == {"BatchGetItem": 1, "TransactWriteItems": 1}  # today's period key is held
    now[0] += 86400
    store.calls.clear()
    port.resolve(["b"])
    assert store.calls == {"GetItem": 1, "PutItem": 1}  # a new day: its key, created


def withholding(cloud, withheld: int, always: bool = False):
    """A DynamoDB client whose BatchGetItem answers leave ``withheld`` keys unprocessed, as
    DynamoDB does under load or past 16 MB: in every answer, or in those to requests of more keys
    (a retry of the unprocessed ones is then answered whole)."""
    real = cloud.client("dynamodb")

    def batch_get_item(RequestItems):  # noqa: N803 - boto3's keyword
        keys = RequestItems[TABLE]["Keys"]
        if not always and len(keys) <= withheld:
            return real.batch_get_item(RequestItems=RequestItems)
        asked = {TABLE: {**RequestItems[TABLE], "Keys": keys[withheld:]}}
        response = real.batch_get_item(RequestItems=asked) if asked[TABLE]["Keys"] else {"Responses": {TABLE: []}}
        response["UnprocessedKeys"] = {TABLE: {**RequestItems[TABLE], "Keys": keys[:withheld]}}
        return response

    return Wrapper(real, batch_get_item=batch_get_item)


def test_unprocessed_keys_are_retried(cloud):
    before = cloud.port().resolve(subjects(250))
    sleeps = []
    store = cloud.store(dynamodb=withholding(cloud, 30), sleep=sleeps.append)
    after = cloud.port(store).resolve(subjects(250))
    assert all(after.of(s).link == before.of(s).link for s in subjects(250))
    assert store.calls["BatchGetItem"] == 6  # 3 chunks, each answered in part once, then whole
    assert "TransactWriteItems" not in store.calls  # no key was taken for missing and recreated
    assert len(sleeps) == 3 and all(0 <= s <= 0.1 for s in sleeps)


def test_keys_left_unprocessed_fail_the_batch_after_bounded_retries(cloud):
    cloud.port().resolve(subjects(20))
    sleeps = []
    store = cloud.store(dynamodb=withholding(cloud, 5, always=True), sleep=sleeps.append)
    port = cloud.port(store)
    with pytest.raises(KeyStoreError, match="BatchGetItem: 5 keys still not done after 9 attempts") as raised:
        port.resolve(subjects(20))
    assert len(sleeps) == 8 and all(0 <= s <= 1.0 for s in sleeps)
    assert store.calls["BatchGetItem"] == 9
    assert "TransactWriteItems" not in store.calls
    lookup_ids = {port.lookup_id(s) for s in subjects(20)}
    assert not any(x in str(raised.value) for x in [*subjects(20), *lookup_ids])


def test_retries_stop_at_the_time_budget(cloud):
    cloud.port().resolve(subjects(20))
    now = [0.0]

    def sleep(s):
        now[0] += 4.0  # a slow backoff: the budget (10 s) is spent after a few rounds

    store = cloud.store(dynamodb=withholding(cloud, 5, always=True), sleep=sleep, clock=lambda: now[0])
    with pytest.raises(KeyStoreError, match="still not done after 4 attempts"):
        cloud.port(store).resolve(subjects(20))
    assert store.calls["BatchGetItem"] == 4 and now[0] == 12.0  # waited at 0, 4 and 8 s; not at 12


def rival_on_first_write(cloud, rival, rival_subjects, *, reasons: str = "items"):
    """A DynamoDB client on which another container resolves ``rival_subjects`` between our
    batch read and our first transaction (the race the conditional writes are for). ``reasons``:
    what the cancellation carries: "items" (ALL_OLD, as requested), "codes" (no items: a
    re-read), "message" (no CancellationReasons at all: the codes in botocore's message)."""
    real = cloud.client("dynamodb")
    raced = []

    def transact_write_items(TransactItems):  # noqa: N803 - boto3's keyword
        if not raced:
            raced.append(True)
            rival.resolve(rival_subjects)
        try:
            return real.transact_write_items(TransactItems=TransactItems)
        except ClientError as exc:
            if reasons == "codes":
                exc.response["CancellationReasons"] = [{"Code": r["Code"]} for r in exc.response["CancellationReasons"]]
            elif reasons == "message":
                del exc.response["CancellationReasons"]
            raise

    return Wrapper(real, transact_write_items=transact_write_items)


@pytest.mark.parametrize("reasons", ["items", "codes", "message"])
def test_a_rival_that_writes_first_wins(cloud, reasons):
    ours = subjects(250)
    theirs = ours[50:90] + ours[170:180]  # in the first and second chunks
    cloud.port().root  # noqa: B018 - the root exists: the rival and we share it
    rival = cloud.port()
    store = cloud.store(dynamodb=rival_on_first_write(cloud, rival, theirs, reasons=reasons))
    port = cloud.port(store)
    resolved = port.resolve(ours)
    won = rival.resolve(theirs)
    assert all(resolved.of(s).link == won.of(s).link for s in theirs)
    assert all(resolved.of(s).cipher._key == won.of(s).cipher._key for s in theirs)
    fresh = cloud.port().resolve(ours)
    assert all(fresh.of(s).link == resolved.of(s).link for s in ours)
    # 3 transactions, the 2 cancelled ones retried for their other items; re-reads without items
    assert store.calls["TransactWriteItems"] == 5
    assert store.calls["BatchGetItem"] == 3 + (reasons != "items")  # one re-read for both chunks


def test_create_many_returns_the_winner_or_the_tombstone(cloud):
    store = cloud.store()
    winner = Stored("k:winner", b"w" * 60)
    store.create_many({"s#a": winner})
    store.forget("s#b", Tombstone("rcpt-1", "2026-01-01T00:00:00Z"))
    ours = {id: Stored(f"k:ours-{id}", b"o" * 60) for id in ("s#a", "s#b", "s#c")}
    store.calls.clear()
    got = store.create_many(ours)
    assert got == {"s#a": winner, "s#b": Tombstone("rcpt-1", "2026-01-01T00:00:00Z"), "s#c": ours["s#c"]}
    assert store.calls == {"TransactWriteItems": 2}
    assert store.get_many(list(ours)) == got


def test_a_cancellation_for_another_reason_fails(cloud):
    real = cloud.client("dynamodb")

    def transact_write_items(TransactItems):  # noqa: N803 - boto3's keyword
        raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                           "CancellationReasons": [{"Code": "ValidationError"} for _ in TransactItems]},
                          "TransactWriteItems")

    store = cloud.store(dynamodb=Wrapper(real, transact_write_items=transact_write_items))
    with pytest.raises(KeyStoreError, match="cancelled: ValidationError"):
        store.create_many({"s#a": Stored("k:a", b"a" * 60)})


def test_conflicting_transactions_are_retried_with_backoff(cloud):
    real = cloud.client("dynamodb")
    cancelled = [0]

    def transact_write_items(TransactItems):  # noqa: N803 - boto3's keyword
        if cancelled[0] < 2:  # another transaction holds one of the items, twice
            cancelled[0] += 1
            codes = ["TransactionConflict"] + ["None"] * (len(TransactItems) - 1)
            raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "x"},
                               "CancellationReasons": [{"Code": c} for c in codes]}, "TransactWriteItems")
        return real.transact_write_items(TransactItems=TransactItems)

    sleeps = []
    store = cloud.store(dynamodb=Wrapper(real, transact_write_items=transact_write_items), sleep=sleeps.append)
    items = {f"s#{i}": Stored(f"k:{i}", bytes([i]) * 60) for i in range(5)}
    assert store.create_many(items) == items
    assert store.calls == {"TransactWriteItems": 3}
    assert len(sleeps) == 2
    assert store.get_many(list(items)) == items


def test_a_transaction_that_never_goes_through_fails_after_bounded_retries(cloud):
    real = cloud.client("dynamodb")

    def transact_write_items(TransactItems):  # noqa: N803 - boto3's keyword
        raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "x"},
                           "CancellationReasons": [{"Code": "TransactionConflict"} for _ in TransactItems]},
                          "TransactWriteItems")

    sleeps = []
    store = cloud.store(dynamodb=Wrapper(real, transact_write_items=transact_write_items), sleep=sleeps.append)
    items = {f"s#{i}": Stored(f"k:{i}", bytes([i]) * 60) for i in range(150)}
    with pytest.raises(KeyStoreError, match="TransactWriteItems: 150 keys still not done after 9 attempts") as raised:
        store.create_many(items)
    assert store.calls == {"TransactWriteItems": 18}  # 2 chunks, 9 rounds
    assert len(sleeps) == 8
    assert not any(id in str(raised.value) or item.link in str(raised.value) for id, item in items.items())
