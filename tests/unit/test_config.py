import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stacks.config import ConfigError, cdk_json_context, load_config, load_from_cdk_json, merge_context, resolve_pipeline


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
        ({"delivery": {"data_prefix": "data/!{firehose:error-output-type}/"}},
         "pipeline.delivery.data_prefix cannot use !{firehose:error-output-type}"),
        ({"delivery": {"data_prefix": "data/!{timestamp:yy}/"}}, "pipeline.delivery.data_prefix uses an unsupported Firehose expression"),
        ({"stream": {"retention": 48}}, "pipeline.stream has unknown key(s): retention"),
        ({"contracts": {"default_contract": "nope/1"}}, "pipeline.contracts.default_contract names no contract in contracts/: 'nope/1'"),
        ({"contracts": {"default_versions": {"order_placed": "7"}}},
         "pipeline.contracts.default_versions: order_placed/7 is not a contract"),
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


# --- overrides: -c pipeline='{...}' deep-merged over cdk.json's block --------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers(0, 9) | st.sampled_from(["", "s"]),
    lambda kids: st.lists(kids, max_size=2) | st.dictionaries(st.sampled_from("abc"), kids, max_size=3),
    max_leaves=8,
)


def _leaves(v, path=()):
    """Each non-object value (or empty object) of a JSON value, by its key path."""
    if isinstance(v, dict) and v:
        for k, x in v.items():
            yield from _leaves(x, path + (k,))
    else:
        yield path, v


def _at(v, path):
    for k in path:
        if not isinstance(v, dict) or k not in v:
            return KeyError
        v = v[k]
    return v


@given(base=st.dictionaries(st.sampled_from("abc"), _json, max_size=3),
       override=st.dictionaries(st.sampled_from("abc"), _json, max_size=3))
def test_merge_keeps_what_the_override_leaves_out_and_takes_what_it_says(base, override):
    before = (json.dumps(base, sort_keys=True), json.dumps(override, sort_keys=True))
    merged = merge_context(base, override)
    for path, v in _leaves(override):
        if isinstance(v, dict):  # an empty object merges into whatever object is there
            assert isinstance(_at(merged, path), dict)
        else:  # scalars and lists replace
            assert _at(merged, path) == v
    for path, v in _leaves(base):
        if not path:
            continue  # an empty base
        said = [_at(override, path[:i]) for i in range(1, len(path) + 1)]
        if any(x is not KeyError and not isinstance(x, dict) for x in said):
            continue  # a scalar or a list at or above it replaced it
        got = _at(merged, path)
        if said[-1] is KeyError:
            assert got == v  # the override says nothing about it: kept
        elif isinstance(v, dict):
            assert isinstance(got, dict)  # an (empty) object merged with the override's object
        else:
            assert got == said[-1]  # a scalar or list replaced by the override's object
    assert (json.dumps(base, sort_keys=True), json.dumps(override, sort_keys=True)) == before  # pure


def test_lists_and_scalars_replace_objects_merge():
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 2, "c": {"z": 1}}
    assert merge_context(base, {"a": {"y": [3]}, "c": None}) == {"a": {"x": 1, "y": [3]}, "b": 2, "c": None}
    assert merge_context(base, None) is None and merge_context(None, {"a": 1}) == {"a": 1}


def _cdk_json(tmp_path, pipeline: dict):
    (tmp_path / "cdk.json").write_text(json.dumps({"app": "x", "context": {"pipeline": pipeline, "other": 1}}))
    return tmp_path / "cdk.json"


# cdk.json's block with non-default values, so that falling back to the code defaults shows
NON_DEFAULT = {"name_prefix": "pii-scrub", "stream": {"retention_hours": 48},
               "delivery": {"processor_buffer_size_mib": 3, "processor_retries": 5}, "log_retention_days": 60}


@pytest.mark.parametrize("override", ['{"name_prefix": "x-demo"}', {"name_prefix": "x-demo"}])
def test_an_override_keeps_every_cdk_json_setting_it_does_not_name(tmp_path, override):
    cfg = load_from_cdk_json(_cdk_json(tmp_path, NON_DEFAULT), override)
    assert cfg.name_prefix == "x-demo" and cfg.stream_name == "x-demo-events"
    assert cfg.delivery.processor_buffer_size_mib == 3 and cfg.delivery.processor_retries == 5
    assert cfg.stream.retention_hours == 48 and cfg.log_retention_days == 60
    assert cfg.quarantine_reader_role_name == "x-demo-quarantine-reader"  # derived, as cdk.json does not set it
    assert load_config(NON_DEFAULT).delivery.processor_buffer_size_mib == 3 != load_config({}).delivery.processor_buffer_size_mib


def test_a_nested_override_merges_key_by_key(tmp_path):
    cfg = load_from_cdk_json(_cdk_json(tmp_path, NON_DEFAULT), '{"delivery": {"processor_retries": 0}}')
    assert cfg.delivery.processor_retries == 0 and cfg.delivery.processor_buffer_size_mib == 3
    assert load_from_cdk_json(_cdk_json(tmp_path, NON_DEFAULT)).delivery.processor_retries == 5  # no override


@pytest.mark.parametrize("override, message", [
    ('{"typo": 1}', "pipeline has unknown key(s): typo"),
    ('{"delivery": {"typo": 1}}', "pipeline.delivery has unknown key(s): typo"),
    ('{"delivery": {"processor_buffer_size_mib": 9}}', "pipeline.delivery.processor_buffer_size_mib must be between 1 and 3, got 9"),
    ('{"name_prefix": ', "pipeline is not valid JSON"),
    ('{"delivery": ' + "[" * 100_000 + "]" * 100_000 + "}", "pipeline is nested too deep to be a configuration"),
    ("[1]", "pipeline must be an object, got list"),
    ('{"delivery": 5}', "pipeline.delivery must be an object, got int"),
])
def test_a_bad_override_fails_naming_the_key(tmp_path, override, message):
    with pytest.raises(ConfigError) as exc:
        load_from_cdk_json(_cdk_json(tmp_path, NON_DEFAULT), override)
    assert message in str(exc.value)


def test_the_cdk_json_file_itself(tmp_path):
    with pytest.raises(ConfigError, match=r"none.json: cannot be read as JSON \(No such file or directory\)"):
        cdk_json_context(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(ConfigError, match="bad.json: cannot be read as JSON"):
        cdk_json_context(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text('{"context": [1]}')
    with pytest.raises(ConfigError, match="list.json: its context must be an object"):
        cdk_json_context(tmp_path / "list.json")
    assert resolve_pipeline('{"a": {"b": 1}}', '{"a": {"c": 2}}') == {"a": {"b": 1, "c": 2}}


@pytest.mark.parametrize("override, message", [
    ("null", "pipeline must be an object, got null"),
    ('"str"', "pipeline must be an object, got str"),
    ('{"delivery": null}', "pipeline.delivery must be an object, got null"),
    ('{"stream": []}', "pipeline.stream must be an object, got list"),
])
def test_a_null_or_non_object_override_is_refused_not_read_as_every_default(override, message):
    from stacks.config import ConfigError, load_from_cdk_json

    with pytest.raises(ConfigError, match=re.escape(message)):
        load_from_cdk_json("cdk.json", override)
