"""The ``backfill`` block: optional, validated at synth, errors that name the key."""

from __future__ import annotations

import pytest

from stacks.config import BackfillConfig, ConfigError, load_config


def test_defaults_need_no_block():
    b = load_config({}).backfill
    assert b == BackfillConfig()
    assert (b.source_bucket, b.source_prefix, b.time_field) == ("", "backfill/", "event_time")
    assert b.max_object_bytes == 1024 << 20 and b.function_name("pii-scrub") == "pii-scrub-backfill"
    assert b.bucket_name("acme", "1", "eu-west-1") == "acme-backfill-1-eu-west-1"


KEY = "arn:aws:kms:eu-west-1:123456789012:key/abc-123"


def test_an_external_source_is_read_with_its_key():
    b = load_config({"backfill": {"source_bucket": "acme-history", "source_prefix": "exports/2023/", "source_key_arn": KEY}}).backfill
    assert (b.source_bucket, b.source_prefix, b.source_key_arn) == ("acme-history", "exports/2023/", KEY)


@pytest.mark.parametrize("block, message", [
    ({"source_bucket": "Has_Upper"}, r"pipeline\.backfill\.source_bucket must be an S3 bucket name"),
    ({"source_bucket": 7}, r"pipeline\.backfill\.source_bucket must be an S3 bucket name"),
    ({"source_prefix": "no-slash"}, r"pipeline\.backfill\.source_prefix must be a key prefix ending with '/'"),
    ({"source_prefix": "/abs/"}, r"pipeline\.backfill\.source_prefix must not start with '/'"),
    ({"source_prefix": "reports/"}, r"pipeline\.backfill\.source_prefix must not overlap manifests/ or reports/"),
    ({"source_prefix": "manifests/old/"}, r"must not overlap"),
    ({"source_key_arn": "arn:aws:kms:eu-west-1:123456789012:key/abc"}, r"applies to an external pipeline\.backfill\.source_bucket only"),
    ({"source_bucket": "acme-history", "source_key_arn": "alias/x"}, r"pipeline\.backfill\.source_key_arn must be a KMS key ARN"),
    ({"time_field": "event time"}, r"pipeline\.backfill\.time_field is not a valid field name"),
    ({"timeout_seconds": 901}, r"pipeline\.backfill\.timeout_seconds must be between 60 and 900"),
    ({"ephemeral_storage_mib": 256}, r"pipeline\.backfill\.ephemeral_storage_mib must be between 512 and 10240"),
    ({"max_object_mib": 1400}, r"max_object_mib must be at most pipeline\.backfill\.ephemeral_storage_mib / 3 \(1365\)"),
    ({"max_object_mib": 0}, r"pipeline\.backfill\.max_object_mib must be between 1 and"),
    ({"source_expiration_days": 0}, r"pipeline\.backfill\.source_expiration_days must be between 1 and 3650"),
    ({"colour": "red"}, r"pipeline\.backfill has unknown key\(s\): colour"),
])
def test_bad_values_are_refused_naming_the_key(block, message):
    with pytest.raises(ConfigError, match=message):
        load_config({"backfill": block})


def test_a_reserved_prefix_is_fine_in_an_external_bucket():
    assert load_config({"backfill": {"source_bucket": "acme-history", "source_prefix": "reports/"}}).backfill.source_prefix == "reports/"
