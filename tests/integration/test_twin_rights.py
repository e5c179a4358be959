"""The local cloud holds what the subject-rights commands and the per-subject keys need: the key
table (shared schema), the root's KMS key, the receipts bucket; the scrubber's and the rights
function's environments name them; and the commands find them without creating anything."""

from __future__ import annotations

import pytest

from tests.integration.conftest import fresh_config
from twin import server
from twin.resources import ACCOUNT, REGION, ResourceMismatch, ensure_resources, find_resources


def test_the_key_table_root_key_and_receipts_bucket_are_made_once_and_found(local_cloud, tmp_path):
    config = fresh_config()
    with pytest.raises(ResourceMismatch, match="run `make run` first"):
        find_resources(config, local_cloud)
    first = ensure_resources(config, local_cloud)
    receipts = config.receipts_bucket_name(ACCOUNT, REGION)
    assert {config.subject_keys_table_name, config.subject_keys_alias, receipts} <= set(first.created)
    table = local_cloud.client("dynamodb").describe_table(TableName=config.subject_keys_table_name)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert [(i["IndexName"], i["KeySchema"][0]["AttributeName"], i["Projection"]["ProjectionType"])
            for i in table["GlobalSecondaryIndexes"]] == [("by-link", "link", "ALL")]
    assert table["SSEDescription"]["SSEType"] == "KMS" and table["SSEDescription"]["KMSMasterKeyArn"] == first.keys["subject-keys"]
    s3 = local_cloud.client("s3")
    assert s3.get_public_access_block(Bucket=receipts)["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"]
    rule = s3.get_bucket_encryption(Bucket=receipts)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"

    again = ensure_resources(config, local_cloud)
    assert again.created == [] and again.keys == first.keys
    found = find_resources(config, local_cloud)
    assert (found.bucket, found.receipts_bucket, found.subject_keys_table) == (first.bucket, receipts, table["TableName"])
    assert found.keys["subject-keys-root"] == first.keys["subject-keys-root"]

    env = found.rights_environment(config, "/x/contracts.json")
    assert env["SUBJECT_KEYS_TABLE"] == config.subject_keys_table_name and env["LAKE_BUCKET"] == first.bucket
    assert env["LAKE_PREFIX"] == config.delivery.data_prefix and env["RECEIPTS_BUCKET"] == receipts
    assert env["SUBJECT_KEYS_PITR_DAYS"] == "0" and env["SUBJECT_KEYS_CACHE_TTL_S"] == "300"
    scrubber = first.scrubber_environment(config)
    assert scrubber == {"SUBJECT_KEYS_TABLE": config.subject_keys_table_name,
                        "SUBJECT_KEYS_ROOT_KEY": first.keys["subject-keys-root"],
                        "SUBJECT_KEYS_CACHE_TTL_S": "300", "SUBJECT_KEYS_CACHE_SIZE": "100000"}


def test_the_rights_commands_use_the_running_cloud_and_never_start_one(local_cloud, tmp_path):
    found = server.running(local_cloud.state_dir)
    assert (found.port, found.pid, found.token) == (local_cloud.port, local_cloud.pid, local_cloud.token)
    with pytest.raises(server.ServerError, match="run `make run` first"):
        server.running(tmp_path / "elsewhere")


def test_the_pipeline_hands_the_scrubber_the_key_store(local_cloud):
    from twin.pipeline import run_pipeline

    config = fresh_config()
    seen = {}

    def inspect(s3, bucket):
        import os

        seen.update({k: os.environ.get(k) for k in ("SUBJECT_KEYS_TABLE", "SUBJECT_KEYS_ROOT_KEY", "SUBJECT_KEYS_CACHE_TTL_S",
                                                    "SUBJECT_KEYS_CACHE_SIZE")})

    summary = run_pipeline(cloud=local_cloud, config=config, events=20, inspect=inspect)
    assert summary.counts_add_up
    assert seen["SUBJECT_KEYS_TABLE"] == config.subject_keys_table_name and seen["SUBJECT_KEYS_CACHE_SIZE"] == "100000"
    assert seen["SUBJECT_KEYS_ROOT_KEY"].startswith("arn:aws:kms:")


def test_receipts_state_what_the_local_cloud_ran_with_not_the_commands_context(local_cloud):
    """The key table records its point-in-time recovery (as the stack sets it) and the scrubbers'
    cache TTL; the rights commands read them there, whatever their own CONTEXT says."""
    from twin.resources import recorded_retention

    config = fresh_config(subject_keys={"point_in_time_recovery_days": 7, "cache_ttl_seconds": 60})
    ensure_resources(config, local_cloud)
    dynamodb = local_cloud.client("dynamodb")
    got = recorded_retention(dynamodb, config.subject_keys_table_name)
    assert got == {"SUBJECT_KEYS_CACHE_TTL_S": "60", "SUBJECT_KEYS_PITR_DAYS": "7"}
    status = dynamodb.describe_continuous_backups(TableName=config.subject_keys_table_name)
    assert status["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    # the same cloud run again with the defaults: recovery off, the default TTL
    plain = fresh_config()
    plain = type(plain)(**{**plain.__dict__, "name_prefix": config.name_prefix})
    ensure_resources(plain, local_cloud)
    assert recorded_retention(dynamodb, config.subject_keys_table_name) == {"SUBJECT_KEYS_CACHE_TTL_S": "300",
                                                                            "SUBJECT_KEYS_PITR_DAYS": "0"}
