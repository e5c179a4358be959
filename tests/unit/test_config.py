import json

import pytest

from stacks.config import ConfigError, load_config, load_from_cdk_json


def test_cdk_json_is_valid_and_matches_the_defaults():
    cfg = load_from_cdk_json()
    assert cfg == load_config({})
    assert cfg.stream_name == "pii-scrub-events" and cfg.delivery.quarantine_root == "quarantine/"


@pytest.mark.parametrize(
    "override, message",
    [
        ({"stream": {"retention_hours": 5}}, "pipeline.stream.retention_hours must be between 24 and 8760, got 5"),
        ({"stream": {"mode": "FAST"}}, "pipeline.stream.mode must be one of ON_DEMAND, PROVISIONED"),
        ({"stream": {"shard_count": 2}}, "pipeline.stream.shard_count only applies when pipeline.stream.mode is PROVISIONED"),
        ({"stream": {"mode": "PROVISIONED", "shard_count": 0}}, "pipeline.stream.shard_count must be between 1"),
        ({"delivery": {"processor_buffer_size_mib": 4}}, "pipeline.delivery.processor_buffer_size_mib must be between 1 and 3"),
        ({"delivery": {"buffering_size_mib": "64"}}, "pipeline.delivery.buffering_size_mib must be an integer"),
        ({"delivery": {"buffering_interval_seconds": True}}, "pipeline.delivery.buffering_interval_seconds must be an integer"),
        ({"delivery": {"data_prefix": "data"}}, "pipeline.delivery.data_prefix must end with '/'"),
        ({"delivery": {"quarantine_prefix": "errors/"}}, "pipeline.delivery.quarantine_prefix must contain !{firehose:error-output-type}"),
        ({"delivery": {"data_prefix": "x/!{foo}/"}}, "pipeline.delivery.data_prefix uses an unsupported Firehose expression"),
        ({"delivery": {"quarantine_prefix": "!{firehose:error-output-type}/"}}, "must start with a static folder"),
        ({"delivery": {"quarantine_prefix": "data/q/!{firehose:error-output-type}/"}}, "does not overlap"),
        ({"scrubber": {"timeout_seconds": 600}}, "pipeline.scrubber.timeout_seconds must be between 1 and 300"),
        ({"producer": {"memory_mb": 64}}, "pipeline.producer.memory_mb must be between 128 and 10240"),
        ({"log_retention_days": 10}, "pipeline.log_retention_days must be one of CloudWatch's retention values"),
        ({"name_prefix": "Bad_Name"}, "pipeline.name_prefix must be 3-32 characters"),
        ({"storage": {"quarantine_expiration_days": 90}}, "pipeline.storage.quarantine_expiration_days must be between 1 and 30"),
        ({"storage": {"data_expiration_days": 10}}, "pipeline.storage.data_expiration_days must be greater than"),
        ({"typo": 1}, "pipeline has unknown key(s): typo"),
        ({"delivery": {"data_prefix": "data/!{firehose:error-output-type}/"}}, "pipeline.delivery.data_prefix cannot use !{firehose:error-output-type}"),
        ({"delivery": {"data_prefix": "data/!{timestamp:yy}/"}}, "pipeline.delivery.data_prefix uses an unsupported Firehose expression"),
        ({"stream": {"retention": 48}}, "pipeline.stream has unknown key(s): retention"),
        ({"contracts": {"default_contract": "nope/1"}}, "pipeline.contracts.default_contract names no contract in contracts/: 'nope/1'"),
        ({"contracts": {"default_versions": {"order_placed": "7"}}}, "pipeline.contracts.default_versions: order_placed/7 is not a contract"),
        ({"contracts": {"default_versions": ["x"]}}, "pipeline.contracts.default_versions must map event types to versions"),
        ({"contracts": {"dir": "no_such_folder"}}, "pipeline.contracts: "),
        ({"contracts": {"type_field": "bad field"}}, "pipeline.contracts.type_field is not a valid field name"),
        ({"contracts": {"typo": 1}}, "pipeline.contracts has unknown key(s): typo"),
    ],
)
def test_bad_values_fail_with_a_message_that_names_them(override, message):
    with pytest.raises(ConfigError) as exc:
        load_config(override)
    assert message in str(exc.value)


def test_context_may_be_a_json_string():
    assert load_config(json.dumps({"stream": {"retention_hours": 48}})).stream.retention_hours == 48
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config("{nope")
