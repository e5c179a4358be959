"""First writer wins: scrubbers (each its own container: its own store and clients) meeting the same
new subjects at the same time, on threads, converge on one key per subject. moto serialises
nothing itself (see ``atomic_requests``); DynamoDB's per-request atomicity is what the adapter relies
on, and the races between requests are real here."""

from __future__ import annotations

import threading

import pytest
from botocore.exceptions import ClientError

from privacy.subjects import Opener
from privacy.tokens import site

from .conftest import TABLE, Wrapper, atomic_requests

SUBJECTS = [f"user-{i}@example.com" for i in range(300)]
WHERE = site("customer_signed_up", "name")


def rendezvous(real, barriers: dict[str, threading.Barrier], cancelled: list):
    """A client on which each container's first root write and first key write wait until every
    container has reached them (so all read "absent" before anyone writes: a sure conflict);
    cancelled transactions are counted."""
    waited = set()

    def wait(operation):
        if operation in barriers and operation not in waited:
            waited.add(operation)
            barriers[operation].wait(timeout=60)

    def put_item(**kw):
        wait("PutItem")
        return real.put_item(**kw)

    def transact_write_items(**kw):
        wait("TransactWriteItems")
        try:
            return real.transact_write_items(**kw)
        except ClientError as exc:
            cancelled.append(sum(r["Code"] == "ConditionalCheckFailed" for r in exc.response["CancellationReasons"]))
            raise

    return Wrapper(real, put_item=put_item, transact_write_items=transact_write_items)


@pytest.mark.parametrize("scrubbers", [2, 4])
@pytest.mark.parametrize("forced", [True, False], ids=["forced-conflict", "free-race"])
def test_concurrent_scrubbers_converge_on_one_key_per_subject(cloud, scrubbers, forced):
    with atomic_requests():
        barriers = {op: threading.Barrier(scrubbers) for op in ("PutItem", "TransactWriteItems")} if forced else {}
        cancelled: list[int] = []
        stores = [cloud.store(dynamodb=rendezvous(cloud.client("dynamodb"), barriers, cancelled)) for _ in range(scrubbers)]
        ports = [cloud.port(store) for store in stores]
        start = threading.Barrier(scrubbers)
        results: list = [None] * scrubbers
        errors: list = []

        def run(i):
            start.wait(timeout=60)
            try:
                results[i] = ports[i].resolve(SUBJECTS)
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(scrubbers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors and all(results)
        for s in SUBJECTS:
            assert len({r.of(s).link for r in results}) == 1
        # each one's tokens open with any other's keys, and with a reader's
        for i, j in [(0, 1), (1, 0), (scrubbers - 1, 0)]:
            token = results[i].of(SUBJECTS[7]).seal("Ann Smith", WHERE)
            assert Opener(stores[j]).open(token, WHERE, results[j].of(SUBJECTS[7]).link) == "Ann Smith"
        reader = cloud.port().resolve(SUBJECTS)
        assert all(reader.of(s).link == results[0].of(s).link for s in SUBJECTS)
        items = cloud.dynamodb.scan(TableName=TABLE, Select="COUNT", ConsistentRead=True)["Count"]
        assert items == len(SUBJECTS) + 2  # one item per subject, the root and its mark
        assert len({s.root(1) for s in stores}) == 1
        assert sum(s.calls["kms:GenerateDataKey"] for s in stores) >= 1
        if forced:  # every container generated a root, one stored it, the others decrypted it
            assert sum(s.calls["kms:GenerateDataKey"] for s in stores) == scrubbers
            assert sum(s.calls["kms:Decrypt"] for s in stores) == scrubbers - 1
            assert len(cancelled) >= scrubbers - 1  # the first chunk: one winner, the others cancelled
            assert sum(cancelled) >= 100 * (scrubbers - 1)


def test_two_forgets_at_once_keep_the_first_tombstone_and_its_receipt(cloud):
    """Two subject-rights calls forget one subject at the same moment: both read the live item,
    then both update it. The second finds the first's tombstone (the update is conditional), so
    the tombstone keeps naming the receipt that records the destruction, and the second answers
    "already forgotten", naming it."""
    from datetime import UTC, datetime

    from rights.core import Rights
    from rights.ports import MemoryLake, MemoryReceipts

    port = cloud.port()
    port.resolve(["alice"])
    first, second = cloud.store(create_root=False), cloud.store(create_root=False)
    id = port.lookup_id("alice")
    live = second.get_many([id])
    second.get_many = lambda ids: live  # it read the item before the first forget landed
    receipts, ids = MemoryReceipts(), iter(["receipt-A", "receipt-B"])

    def rights(store):
        return Rights(store, store.root, MemoryLake(), receipts, [], now=lambda: datetime(2026, 1, 15, tzinfo=UTC),
                      new_id=lambda: next(ids))

    a, b = rights(first).forget("alice"), rights(second).forget("alice")
    assert (a.outcome, b.outcome) == ("forgotten", "already_forgotten")
    assert b.receipt["earlier_receipt"]["id"] == "receipt-A"
    assert cloud.raw_item(id)["receipt"]["S"] == "receipt-A"
    assert "link" not in cloud.raw_item(id) and "dk" not in cloud.raw_item(id)
