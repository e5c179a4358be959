"""The adapter's semantics: the same answers as ``MemoryKeyStore`` (the port's reference), roots
under KMS with their encryption context, tombstones that nothing overwrites, period keys refused
once expired, the table as the stack makes it, and the environment the Lambdas read."""

from __future__ import annotations

import inspect
import itertools

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from keystore.dynamo import DynamoKeyStore, from_env
from keystore.items import KeyStoreError, RootLost, RootMissing, cancellation_reasons, root_context
from keystore.table import create_table
from privacy.memory_store import MemoryKeyStore
from privacy.subjects import DAY_S, KeyStore, Opener, PeriodKey, Stored, Tombstone
from privacy.tokens import TokenError, site

from .conftest import ALIAS, TABLE, Wrapper

_tables = itertools.count()
IDS = [f"s#{c}" for c in "abcdef"]
stored = st.builds(Stored, st.sampled_from([f"k:{i}" for i in range(12)]), st.binary(min_size=1, max_size=60),
                   st.integers(1, 3))
tombstones = st.builds(Tombstone, st.text(max_size=12), st.text(max_size=25))
operations = st.lists(st.one_of(
    st.tuples(st.just("create"), st.dictionaries(st.sampled_from(IDS), stored, max_size=4)),
    st.tuples(st.just("get"), st.lists(st.sampled_from(IDS), max_size=6)),
    st.tuples(st.just("forget"), st.sampled_from(IDS), tombstones),
    st.tuples(st.just("link"), st.sampled_from([f"k:{i}" for i in range(12)])),
    st.tuples(st.just("period"), st.integers(1, 3), st.integers(0, 3),
              st.none() | st.builds(PeriodKey, st.binary(min_size=1, max_size=40), st.integers(0, 2**40))),
), max_size=12)


@pytest.mark.parametrize("name", ["root", "get_many", "create_many", "by_link", "forget", "period"])
def test_the_protocols_signatures(name):
    """Each method takes the Protocol's parameters, in its order, with its defaults (and may add
    keyword-only ones with defaults: ``root``'s ``create``)."""
    ours = inspect.signature(getattr(DynamoKeyStore, name)).parameters
    theirs = inspect.signature(getattr(KeyStore, name)).parameters
    positional = [(p.name, p.kind, p.default) for p in ours.values() if p.kind is not p.KEYWORD_ONLY]
    assert positional == [(p.name, p.kind, p.default) for p in theirs.values()]
    assert all(p.default is not p.empty for p in ours.values() if p.kind is p.KEYWORD_ONLY)
    assert isinstance(DynamoKeyStore("t", "k").calls, type(MemoryKeyStore().calls))


def test_cancellation_reasons_from_the_response_or_the_message():
    reasons = [{"Code": "None"}, {"Code": "ConditionalCheckFailed", "Item": {"id": {"S": "s#a"}}}]
    assert cancellation_reasons({"CancellationReasons": reasons}, 2) == reasons
    message = {"Error": {"Message": "Transaction cancelled, please refer cancellation reasons for specific reasons "
                                    "[None, ConditionalCheckFailed, TransactionConflict]"}}
    assert [r["Code"] for r in cancellation_reasons(message, 3)] == ["None", "ConditionalCheckFailed", "TransactionConflict"]
    with pytest.raises(KeyStoreError, match="without a reason for each of its 2 items"):
        cancellation_reasons(message, 2)
    with pytest.raises(KeyStoreError):
        cancellation_reasons({"Error": {"Message": "Transaction cancelled"}}, 1)


def test_same_answers_as_the_memory_store():
    """Every operation of the port, in any order, answers as MemoryKeyStore does (links are
    drawn from a few, so two subjects may share one: by_link then finds either in both)."""
    with mock_aws():
        dynamodb = boto3.client("dynamodb")

        @settings(max_examples=60, deadline=None)
        @given(operations)
        def check(ops):
            table = f"t{next(_tables)}"
            create_table(dynamodb, table)
            dynamo, memory = DynamoKeyStore(table, ALIAS, dynamodb=dynamodb, kms=None), MemoryKeyStore()
            for op, *args in ops:
                if op == "create":
                    assert dynamo.create_many(args[0]) == memory.create_many(args[0])
                elif op == "get":
                    assert dynamo.get_many(args[0]) == memory.get_many(args[0])
                elif op == "forget":
                    assert dynamo.forget(*args) == memory.forget(*args)
                elif op == "link":
                    found, expected = dynamo.by_link(args[0]), memory.by_link(args[0])
                    assert (found is None) == (expected is None)
                    assert found is None or memory.get_many([found[0]]) == {found[0]: found[1]}
                else:
                    assert dynamo.period(*args) == memory.period(*args)
            assert dynamo.get_many(IDS) == memory.get_many(IDS)

        check()


def test_the_root_is_made_once_under_kms_with_its_context(cloud):
    store = cloud.store()
    secret = store.root(1)
    assert len(secret) == 64
    # the root and the table's mark: each read (absent), then each written
    assert store.calls == {"GetItem": 2, "kms:GenerateDataKey": 1, "PutItem": 2}
    assert cloud.raw_item("meta#keyed#1") == {"id": {"S": "meta#keyed#1"}}
    assert store.root(1) is secret  # cached: no call
    assert store.calls == {"GetItem": 2, "kms:GenerateDataKey": 1, "PutItem": 2}
    blob = cloud.raw_item("root#1")["blob"]["B"]
    assert secret not in blob
    assert cloud.kms.decrypt(CiphertextBlob=blob, EncryptionContext=root_context(1))["Plaintext"] == secret
    with pytest.raises(cloud.kms.exceptions.InvalidCiphertextException):  # bound to its version
        cloud.kms.decrypt(CiphertextBlob=blob, EncryptionContext=root_context(2))
    other = cloud.store()
    assert other.root(1) == secret
    assert other.calls == {"GetItem": 1, "kms:Decrypt": 1}
    assert other.root(2) != secret  # another version, another secret


def test_a_reader_never_creates_the_root(cloud):
    reader = cloud.store(create_root=False)
    with pytest.raises(RootMissing, match="no root secret of version 1"):
        reader.root(1)
    with pytest.raises(RootMissing):
        cloud.store().root(1, create=False)
    assert reader.calls == {"GetItem": 1}
    assert cloud.raw_item("root#1") is None
    secret = cloud.store().root(1)
    assert reader.root(1) == secret
    assert cloud.store(create_root=False).root(1, create=True) == secret


def test_a_root_created_meanwhile_wins(cloud):
    rival = cloud.store()
    real = cloud.client("dynamodb")

    def get_item(**kw):
        response = real.get_item(**kw)
        if kw["Key"]["id"]["S"] == "meta#keyed#1" and "Item" not in response:
            rival.root(1)  # our reads found neither root nor mark; the rival makes both just after
        return response

    store = cloud.store(dynamodb=Wrapper(real, get_item=get_item))
    assert store.root(1) == rival.root(1)
    # root, mark (both absent), our conditional put loses, the rival's root re-read and opened
    assert store.calls == {"GetItem": 3, "kms:GenerateDataKey": 1, "PutItem": 1, "kms:Decrypt": 1}


def test_a_root_made_between_our_two_reads_is_used_without_generating_one(cloud):
    rival = cloud.store()
    real = cloud.client("dynamodb")
    seen = []

    def get_item(**kw):
        response = real.get_item(**kw)
        if not seen:  # our first read found no root; the rival makes it (and the mark) just after
            seen.append(True)
            rival.root(1)
        return response

    store = cloud.store(dynamodb=Wrapper(real, get_item=get_item))
    assert store.root(1) == rival.root(1)
    assert store.calls == {"GetItem": 3, "kms:Decrypt": 1}


def test_a_deleted_root_is_never_replaced_so_tombstones_keep_fencing(cloud):
    """Were the root replaced, every lookup id would change and every tombstone with it: a
    forgotten subject's next event would be keyed again. The scrubber refuses instead (the batch
    fails, Firehose retries, then quarantines: nothing is written in clear)."""
    port = cloud.port()
    port.resolve(["ann"])
    id = port.lookup_id("ann")
    port.store.forget(id, Tombstone("rcpt-1", "2026-02-03T04:05:06Z"))
    cloud.dynamodb.delete_item(TableName=TABLE, Key={"id": {"S": "root#1"}})
    fresh = cloud.port(cloud.store())
    with pytest.raises(RootLost, match="lost its root secret of version 1"):
        fresh.resolve(["ann"])
    assert cloud.raw_item("root#1") is None and cloud.raw_item(id)["tomb"] == {"BOOL": True}


def test_a_forgotten_subject_stays_forgotten(cloud):
    port = cloud.port()
    store = port.store
    link = port.resolve(["ann"]).of("ann").link
    id = port.lookup_id("ann")
    before = store.get_many([id])[id]
    assert store.by_link(link) == (id, before)
    tomb = Tombstone("rcpt-1", "2026-02-03T04:05:06Z")
    assert store.forget(id, tomb) == before
    assert store.get_many([id]) == {id: tomb}
    assert set(cloud.raw_item(id)) == {"id", "tomb", "receipt", "at"}  # no link, no key left
    assert store.create_many({id: Stored("k:new", b"n" * 60)}) == {id: tomb}
    assert store.get_many([id]) == {id: tomb}
    assert store.by_link(link) is None
    assert cloud.port().resolve(["ann"]).of("ann").forgotten
    assert store.forget(id, Tombstone("rcpt-2", "later")) == tomb
    assert store.forget("s#never-seen", tomb) is None  # fenced before its first event
    assert cloud.port().resolve(["x"]).of("x").link != link
    assert store.create_many({"s#never-seen": Stored("k:z", b"z" * 60)}) == {"s#never-seen": tomb}


def test_period_keys_first_writer_wins_and_expire_for_readers(cloud):
    day = 20_000
    now = [day * DAY_S + 3600.0]
    port = cloud.port(retention_days=[30], clock=lambda: now[0])
    key = port.resolve(["ann"]).of("ann")
    where = site("customer_signed_up", "email", retention_days=30)
    token = key.seal("ann@example.com", where)
    stored_key = port.store.period(30, day)
    assert stored_key.expires == (day + 31) * DAY_S
    assert cloud.raw_item(f"p#30#{day}")["ttl"] == {"N": str(stored_key.expires)}
    assert port.store.period(30, day, PeriodKey(b"late", 1)) == stored_key  # the first writer's stays
    assert port.store.period(30, day + 1) is None
    reader = cloud.store(create_root=False)
    assert Opener(reader, clock=lambda: stored_key.expires - 1).open(token, where, key.link) == "ann@example.com"
    with pytest.raises(TokenError, match="expired"):
        Opener(reader, clock=lambda: stored_key.expires).open(token, where, key.link)


def test_a_period_key_written_meanwhile_wins(cloud):
    rival = cloud.store()
    real = cloud.client("dynamodb")

    def get_item(**kw):
        response = real.get_item(**kw)
        if "Item" not in response:
            rival.period(7, 5, PeriodKey(b"theirs", 99))
        return response

    store = cloud.store(dynamodb=Wrapper(real, get_item=get_item))
    assert store.period(7, 5, PeriodKey(b"ours", 98)) == PeriodKey(b"theirs", 99)
    assert store.calls == {"GetItem": 2, "PutItem": 1}


def test_opener_reads_what_another_container_sealed(cloud):
    port = cloud.port()
    key = port.resolve(["bo"]).of("bo")
    where = site("order_placed", "address.street", deterministic=True)
    token = key.seal("1 Main St", where)
    reader = cloud.store(create_root=False)
    assert Opener(reader).open(token, where, key.link) == "1 Main St"
    assert reader.calls == {"GetItem": 1, "kms:Decrypt": 1, "Query": 1}


def test_create_table_is_the_stacks_table_and_idempotent(cloud):
    table = create_table(cloud.dynamodb, TABLE, cloud.table_key)  # made by the fixture: found
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "by-link"
    assert index["KeySchema"] == [{"AttributeName": "link", "KeyType": "HASH"}]
    assert index["Projection"] == {"ProjectionType": "ALL"}
    assert table["SSEDescription"]["SSEType"] == "KMS"
    assert table["SSEDescription"]["KMSMasterKeyArn"] == cloud.table_key
    ttl = cloud.dynamodb.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}
    assert len(cloud.dynamodb.list_tables()["TableNames"]) == 1
    cloud.dynamodb.create_table(TableName="other", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                                BillingMode="PAY_PER_REQUEST")
    with pytest.raises(KeyStoreError, match="table other exists with another key schema"):
        create_table(cloud.dynamodb, "other")


def test_from_env(cloud):
    with pytest.raises(KeyStoreError, match="SUBJECT_KEYS_TABLE and SUBJECT_KEYS_ROOT_KEY not set"):
        from_env({})
    with pytest.raises(KeyStoreError, match="SUBJECT_KEYS_ROOT_KEY not set"):
        from_env({"SUBJECT_KEYS_TABLE": TABLE, "SUBJECT_KEYS_ROOT_KEY": ""})
    store = from_env({"SUBJECT_KEYS_TABLE": TABLE, "SUBJECT_KEYS_ROOT_KEY": ALIAS})
    assert (store.table_name, store.root_key_id, store.create_root) == (TABLE, ALIAS, True)
    assert len(store.root(1)) == 64  # its own clients, made on first use
    config = store.dynamodb.meta.config
    assert config.retries["mode"] == "standard" and config.connect_timeout == 2 and config.read_timeout == 5
    assert store.kms.meta.config.retries["mode"] == "standard"
    reader = from_env({"SUBJECT_KEYS_TABLE": TABLE, "SUBJECT_KEYS_ROOT_KEY": ALIAS}, create_root=False)
    assert reader.root(1) == store.root(1)


def test_an_item_that_is_neither_fails(cloud):
    cloud.dynamodb.put_item(TableName=TABLE, Item={"id": {"S": "s#odd"}, "link": {"S": "k:x"}})
    with pytest.raises(KeyStoreError, match="neither a tombstone nor link, dk and rv"):
        cloud.store().get_many(["s#odd"])

