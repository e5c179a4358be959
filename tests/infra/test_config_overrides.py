"""`cdk synth -c pipeline='{...}'` changes what it names and keeps the rest of cdk.json."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

import app as cdk_app

ROOT = Path(__file__).resolve().parents[2]


def _synth(tmp_path, pipeline_context):
    """Synth as the CLI runs the app: the context is cdk.json's (feature flags included) with the
    -c value in place of cdk.json's ``pipeline`` block, as a string."""
    doc = json.loads((ROOT / "cdk.json").read_text())
    # cdk.json's block, with values that differ from the code defaults so that a fall-back shows
    doc["context"]["pipeline"]["stream"]["retention_hours"] = 48
    doc["context"]["pipeline"]["delivery"].update(processor_buffer_size_mib=3, processor_retries=5)
    (tmp_path / "cdk.json").write_text(json.dumps(doc))
    app = cdk.App(context={**doc["context"], "pipeline": pipeline_context, "aws:cdk:bundling-stacks": []})
    stack = cdk_app.build_app(app, cdk_json=tmp_path / "cdk.json")
    return Template.from_stack(stack)


def test_a_name_prefix_override_keeps_the_other_cdk_json_settings(tmp_path):
    t = _synth(tmp_path, '{"name_prefix": "x-demo"}')
    t.has_resource_properties("AWS::Kinesis::Stream", {"Name": "x-demo-events", "RetentionPeriodHours": 48})
    t.has_resource_properties("AWS::KinesisFirehose::DeliveryStream", {
        "DeliveryStreamName": "x-demo-delivery",
        "ExtendedS3DestinationConfiguration": Match.object_like({"ProcessingConfiguration": {"Enabled": True, "Processors": [
            Match.object_like({"Parameters": Match.array_with([
                {"ParameterName": "BufferSizeInMBs", "ParameterValue": "3"},
                {"ParameterName": "NumberOfRetries", "ParameterValue": "5"},
            ])})
        ]}}),
    })
    t.has_resource_properties("AWS::IAM::Role", {"RoleName": "x-demo-quarantine-reader"})


def test_a_bad_override_fails_synth_naming_the_key(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        _synth(tmp_path, '{"delivery": {"typo": 1}}')
    assert exc.value.code == 1
    assert capsys.readouterr().err == "Invalid configuration: pipeline.delivery has unknown key(s): typo\n"
    with pytest.raises(SystemExit):
        _synth(tmp_path, '{"name_prefix": "x-demo"')
    assert "Invalid configuration: pipeline is not valid JSON" in capsys.readouterr().err


@pytest.mark.parametrize("override, message", [
    ('{"subject_keys": {"point_in_time_recovery_days": 36}}',
     "pipeline.subject_keys.point_in_time_recovery_days must be between 0 and 35, got 36"),
    ('{"subject_keys": {"cache_ttl_seconds": "300"}}', "pipeline.subject_keys.cache_ttl_seconds must be an integer, got '300'"),
    ('{"subject_keys": {"pitr_days": 7}}', "pipeline.subject_keys has unknown key(s): pitr_days"),
    ('{"subject_keys": null}', "pipeline.subject_keys must be an object, got null"),
])
def test_a_bad_subject_keys_value_fails_synth_naming_it(tmp_path, capsys, override, message):
    with pytest.raises(SystemExit) as exc:
        _synth(tmp_path, override)
    assert exc.value.code == 1
    assert capsys.readouterr().err == f"Invalid configuration: {message}\n"

