"""The AWS adapters on moto: the lake and the receipts on S3, and the key table's existing root
read without ever creating one (the schema every part of issue 11 shares)."""

from __future__ import annotations

import gzip

import boto3
import pytest
from moto import mock_aws

from rights.aws import ROOT_CONTEXT_PURPOSE, DynamoRoot, S3Lake, S3Receipts

REGION = "us-east-1"


@pytest.fixture
def aws():
    with mock_aws():
        yield {name: boto3.client(name, region_name=REGION) for name in ("s3", "dynamodb", "kms")}


def _key_table(dynamodb, name="t-subject-keys"):
    dynamodb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}, {"AttributeName": "link", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[{"IndexName": "by-link", "KeySchema": [{"AttributeName": "link", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}],
    )
    return name


def test_the_lake_lists_under_a_prefix_and_reads_gzip_or_plain(aws):
    s3 = aws["s3"]
    s3.create_bucket(Bucket="lake")
    s3.put_object(Bucket="lake", Key="data/year=2026/a.gz", Body=gzip.compress(b'{"a":1}\n'))
    s3.put_object(Bucket="lake", Key="data/year=2026/b", Body=b'{"b":2}\n')
    s3.put_object(Bucket="lake", Key="quarantine/x.gz", Body=gzip.compress(b"raw"))
    lake = S3Lake(s3, "lake")
    assert list(lake.keys("data/")) == ["data/year=2026/a.gz", "data/year=2026/b"]
    assert lake.read("data/year=2026/a.gz") == b'{"a":1}\n' and lake.read("data/year=2026/b") == b'{"b":2}\n'


def test_receipts_are_put_and_read_back_and_a_missing_one_is_none(aws):
    s3 = aws["s3"]
    s3.create_bucket(Bucket="receipts")
    r = S3Receipts(s3, "receipts")
    r.put("receipts/2026/02/01/x.json", b"{}", "application/json")
    assert r.get("receipts/2026/02/01/x.json") == b"{}" and r.get("receipts/2026/02/01/y.json") is None
    assert s3.head_object(Bucket="receipts", Key="receipts/2026/02/01/x.json")["ContentType"] == "application/json"


def test_the_root_is_read_if_it_exists_and_never_created(aws):
    dynamodb, kms = aws["dynamodb"], aws["kms"]
    table = _key_table(dynamodb)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/t-subject-keys-root", TargetKeyId=key)
    reader = DynamoRoot(table, "alias/t-subject-keys-root", dynamodb=dynamodb, kms=kms)
    assert reader(1) is None
    assert dynamodb.scan(TableName=table)["Items"] == []  # nothing was created
    made = kms.generate_data_key(KeyId="alias/t-subject-keys-root", NumberOfBytes=64,
                                 EncryptionContext={"purpose": ROOT_CONTEXT_PURPOSE, "version": "1"})
    dynamodb.put_item(TableName=table, Item={"id": {"S": "root#1"}, "blob": {"B": made["CiphertextBlob"]}})
    assert reader(1) == made["Plaintext"] and len(reader(1)) == 64
    assert reader(2) is None


def test_deployed_a_receipt_states_the_tables_point_in_time_recovery_as_it_is_not_as_configured(aws):
    """Turned on outside the stack (the console, another tool), point-in-time recovery keeps a
    forgotten key restorable: the receipt reads the table at each forget, and says so."""
    from rights.settings import Settings

    table = _key_table(aws["dynamodb"])
    env = {"SUBJECT_KEYS_TABLE": table, "SUBJECT_KEYS_ROOT_KEY": "arn:aws:kms:us-east-1:123456789012:key/x",
           "LAKE_BUCKET": "lake", "RECEIPTS_BUCKET": "receipts", "SUBJECT_KEYS_PITR_DAYS": "0"}
    settings = Settings(env, contracts=[])
    assert settings.retention().pitr_days == 0
    aws["dynamodb"].update_continuous_backups(TableName=table, PointInTimeRecoverySpecification={
        "PointInTimeRecoveryEnabled": True})
    assert settings.retention().pitr_days == 35
    assert settings.rights().retention().pitr_days == 35


@pytest.mark.parametrize("memory, largest, window", [
    (None, "64", 8), ("1024", None, 8),  # outside Lambda, or no bound given: the default
    ("1024", "64", 3), ("1024", "128", 1), ("2048", "128", 3), ("10240", "1", 8), ("3008", "128", 4),
])
def test_an_export_holds_only_as_many_objects_as_the_largest_fit_in_memory(memory, largest, window):
    """At the largest buffer the configuration allows (128 MiB), 8 objects read ahead would not fit
    in the default 1,024 MB: those read ahead and the one being matched are each held about three
    times (compressed, decompressed, in lines)."""
    from rights.settings import read_ahead_from

    env = {k: v for k, v in (("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory), ("LAKE_OBJECT_MAX_MIB", largest)) if v}
    got = read_ahead_from(env)
    assert got == window
    if memory and largest:
        assert got == 1 or (got + 1) * 3 * int(largest) <= int(memory) * 0.75
