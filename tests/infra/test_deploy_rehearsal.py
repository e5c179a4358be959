"""The stack as the deploy rehearsal sees it: what moto will skip, and what the stand-ins leave for
moto to create (the rehearsal itself: tests/integration/test_deploy_local.py)."""

from __future__ import annotations

import tools.deploy_local as dl
from tests.conftest import CONFIG
from tools.rehearsal import referenced_ids, stand_in


def test_moto_skips_at_least_firehose_glue_athena_and_alarms_and_creates_the_core(template):
    resources = template.to_json()["Resources"]
    types = {r["Type"] for r in resources.values()}
    cannot = dl.moto_cannot_create(types)
    assert {"AWS::KinesisFirehose::DeliveryStream", "AWS::Glue::Database", "AWS::Glue::Table", "AWS::Athena::WorkGroup",
            "AWS::CloudWatch::Alarm"} <= cannot
    assert not cannot & {"AWS::Kinesis::Stream", "AWS::S3::Bucket", "AWS::DynamoDB::Table", "AWS::KMS::Key",
                         "AWS::Lambda::Function", "AWS::IAM::Role", "AWS::IAM::Policy"}


def test_after_the_stand_ins_every_policy_moto_creates_has_a_resource_in_each_statement(template):
    """moto resolves a reference to a resource it skipped to nothing, and IAM refuses a statement
    left with no resource (the keyring's secret is skipped; the scrubber's policy names it)."""
    doc = template.to_json()
    cannot = dl.moto_cannot_create({r["Type"] for r in doc["Resources"].values()})
    skipped_ids = {lid for lid, r in doc["Resources"].items() if r["Type"] in cannot}
    before = [s for r in doc["Resources"].values() if r["Type"] == "AWS::IAM::Policy"
              for s in r["Properties"]["PolicyDocument"]["Statement"]]
    assert any(referenced_ids(s["Resource"]) and referenced_ids(s["Resource"]) <= skipped_ids for s in before)

    out = stand_in(doc, cannot, "123456789012", "us-east-1")
    for lid, r in out.template["Resources"].items():
        if lid not in skipped_ids:
            assert not referenced_ids(r.get("Properties", {})) & skipped_ids, lid
    for r in out.template["Resources"].values():
        if r["Type"] == "AWS::IAM::Policy":
            for s in r["Properties"]["PolicyDocument"]["Statement"]:
                assert s.get("Resource"), s


def test_the_outputs_the_configuration_names_are_the_stacks(template):
    outputs = template.to_json()["Outputs"]
    expected = dl.expected_outputs(CONFIG)
    assert set(expected) <= set(outputs)
    assert outputs["DataPrefix"]["Value"] == expected["DataPrefix"]
    assert outputs["QuarantinePrefix"]["Value"] == expected["QuarantinePrefix"]
