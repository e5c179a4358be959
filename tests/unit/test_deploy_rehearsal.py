"""The deploy rehearsal's pure parts: what moto skipped (from a template and the resources moto
lists), the stand-ins for references to skipped resources, the output check, the re-keyed
assembly, and the report. (The rehearsal itself runs the CDK CLI: tests/integration.)"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tools.deploy_local as dl
import tools.rehearsal_report as rr
from tools.deployed import ResourceCheck
from tools.rehearsal import OutputCheck, StandIns, check_outputs, literal, referenced_ids, skipped, stand_in, stand_in_arn

A, R = "123456789012", "us-east-1"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:moto-skipped/Keyring"

TEMPLATE = {
    "Resources": {
        "Keyring": {"Type": "AWS::SecretsManager::Secret", "Properties": {"Name": "p/keys"}},
        "Delivery": {"Type": "AWS::KinesisFirehose::DeliveryStream", "Properties": {"RoleARN": {"Fn::GetAtt": ["Role", "Arn"]}}},
        "Stream": {"Type": "AWS::Kinesis::Stream", "Properties": {"Name": "p-events"}},
        "Role": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": "p-role"}},
        "Policy": {"Type": "AWS::IAM::Policy", "Properties": {"PolicyName": "pol", "Roles": [{"Ref": "Role"}], "PolicyDocument": {
            "Statement": [
                {"Action": "secretsmanager:GetSecretValue", "Resource": {"Ref": "Keyring"}},
                {"Action": "firehose:PutRecord", "Resource": {"Fn::GetAtt": ["Delivery", "Arn"]}},
                {"Action": "kinesis:GetRecords", "Resource": {"Fn::GetAtt": ["Stream", "Arn"]}},
                {"Action": "s3:GetObject", "Resource": {"Fn::Sub": "arn:${AWS::Partition}:s3:::${Keyring}/x/${Stream}"}},
            ]}}},
        "Alarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"Dimensions": [{"Value": {"Ref": "Delivery"}}]}},
    },
    "Outputs": {
        "StreamName": {"Value": {"Ref": "Stream"}},
        "RoleArn": {"Value": {"Fn::GetAtt": ["Role", "Arn"]}},
        "DeliveryStreamName": {"Value": {"Ref": "Delivery"}},
        "Prefix": {"Value": "data/"},
    },
}
UNSUPPORTED = {"AWS::SecretsManager::Secret", "AWS::KinesisFirehose::DeliveryStream", "AWS::CloudWatch::Alarm"}


def test_references_to_skipped_resources_become_stand_ins_in_what_moto_creates():
    before = copy.deepcopy(TEMPLATE)
    out = stand_in(TEMPLATE, UNSUPPORTED, A, R)
    assert TEMPLATE == before  # the input is left as it was
    statements = out.template["Resources"]["Policy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statements[0]["Resource"] == SECRET
    assert statements[1]["Resource"] == "arn:aws:firehose:us-east-1:123456789012:moto-skipped/Delivery"
    assert statements[2]["Resource"] == {"Fn::GetAtt": ["Stream", "Arn"]}  # moto creates the stream: kept
    assert statements[3]["Resource"] == {"Fn::Sub": f"arn:${{AWS::Partition}}:s3:::{SECRET}/x/${{Stream}}"}
    assert (out.references, out.in_resources, out.of_resources) == (3, ("Policy",), ("Delivery", "Keyring"))
    # skipped resources and the outputs are untouched: an output naming a skipped resource stays missing on moto
    for lid in ("Keyring", "Delivery", "Alarm"):
        assert out.template["Resources"][lid] == TEMPLATE["Resources"][lid]
    assert out.template["Outputs"] == TEMPLATE["Outputs"]


def test_nothing_to_stand_in_leaves_the_template_as_it_is():
    out = stand_in(TEMPLATE, set(), A, R)
    assert (out.template, out.references, out.in_resources) == (TEMPLATE, 0, ())


_ids = st.sampled_from(["Keyring", "Delivery", "Stream", "Role", "AWS::Region"])
_refs = st.one_of(
    _ids.map(lambda i: {"Ref": i}),
    st.tuples(_ids, st.sampled_from(["Arn", "Name"])).map(lambda t: {"Fn::GetAtt": [t[0], t[1]]}),
    _ids.map(lambda i: {"Fn::GetAtt": f"{i}.Arn"}),
    st.lists(_ids, max_size=3).map(lambda ids: {"Fn::Sub": "x" + "".join(f"/${{{i}}}" for i in ids)}),
)
_values = st.recursive(
    st.one_of(st.text(max_size=5), st.integers(), st.booleans(), _refs),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(["A", "B", "Fn::Join"]), inner, max_size=3)),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(props=st.dictionaries(st.sampled_from(["X", "Y", "Z"]), _values, max_size=3))
def test_after_the_stand_ins_a_created_resource_refers_to_no_skipped_one_and_to_every_other_it_did(props):
    template = copy.deepcopy(TEMPLATE)
    template["Resources"]["Holder"] = {"Type": "AWS::Lambda::Function", "Properties": props}
    out = stand_in(template, UNSUPPORTED, A, R)
    skipped_ids = {"Keyring", "Delivery", "Alarm"}
    got = referenced_ids(out.template["Resources"]["Holder"]["Properties"])
    assert got == referenced_ids(props) - skipped_ids
    assert ("Holder" in out.in_resources) == bool(referenced_ids(props) & skipped_ids)


def test_what_moto_skipped_is_the_template_minus_what_it_lists():
    # moto lists a skipped resource with an empty logical id: only the named ones were created
    listed = {"Stream": "p-events", "Role": "p-role", "Policy": "Polic-Xyz"}
    assert skipped(TEMPLATE, listed) == {
        "AWS::CloudWatch::Alarm": ["Alarm"],
        "AWS::KinesisFirehose::DeliveryStream": ["Delivery"],
        "AWS::SecretsManager::Secret": ["Keyring"],
    }
    assert skipped(TEMPLATE, {**listed, "Keyring": "arn", "Delivery": "d", "Alarm": "a"}) == {}


CREATED = {"Stream": "p-events", "Role": "p-role", "Policy": "Polic-Xyz"}
GOOD = {"StreamName": "p-events", "RoleArn": "arn:aws:iam::123456789012:role/p-role", "Prefix": "data/"}


def test_outputs_as_the_template_says_pass_and_those_of_skipped_resources_are_not_produced():
    check = check_outputs(TEMPLATE, GOOD, CREATED, {"StreamName": "p-events"})
    assert check.passed and sorted(check.ok) == ["Prefix", "RoleArn", "StreamName"]
    assert check.not_produced == {"DeliveryStreamName": ["AWS::KinesisFirehose::DeliveryStream"]}


@pytest.mark.parametrize("outputs, expected, problem", [
    ({k: v for k, v in GOOD.items() if k != "StreamName"}, {}, ("missing", "StreamName")),
    ({**GOOD, "StreamName": ""}, {}, ("missing", "StreamName")),
    ({**GOOD, "StreamName": "other"}, {}, ("wrong", "StreamName: is other, Stream is p-events")),
    ({**GOOD, "Prefix": "raw/"}, {}, ("wrong", "Prefix: is raw/, the template says data/")),
    ({**GOOD, "RoleArn": "arn:aws:iam::123456789012:role/other"}, {}, ("wrong", "RoleArn: is arn:aws:iam::123456789012:role/other, "
                                                                              "not the ARN of Role (p-role)")),
    ({**GOOD, "RoleArn": "p-role"}, {}, ("wrong", "RoleArn: is p-role, not the ARN of Role (p-role)")),
    (GOOD, {"StreamName": "q-events"}, ("wrong", "StreamName: is p-events, the configuration names q-events")),
    ({**GOOD, "Extra": "x"}, {}, ("unexpected", "Extra")),
])
def test_a_missing_wrong_or_unexpected_output_fails_the_check(outputs, expected, problem):
    check = check_outputs(TEMPLATE, outputs, CREATED, expected)
    assert not check.passed
    assert getattr(check, problem[0]) == [problem[1]]


def test_an_output_moto_could_not_resolve_is_not_produced_even_if_the_stand_in_resource_exists():
    # the output of a skipped resource is not checked against anything, present or not
    check = check_outputs(TEMPLATE, {**GOOD, "DeliveryStreamName": "None"}, CREATED)
    assert check.passed and "DeliveryStreamName" in check.not_produced


def test_literal_names_resolve_the_pseudo_parameters_the_stack_uses_for_bucket_names():
    join = {"Fn::Join": ["", ["p-lake-", {"Ref": "AWS::AccountId"}, "-", {"Ref": "AWS::Region"}]]}
    assert literal(join, A, R) == "p-lake-123456789012-us-east-1"
    assert literal("plain", A, R) == "plain"
    assert literal({"Fn::Join": ["", ["x", {"Ref": "Stream"}]]}, A, R) is None
    assert literal({"Fn::GetAtt": ["Role", "Arn"]}, A, R) is None
    assert stand_in_arn("AWS::Glue::Table", "T", A, R) == "arn:aws:glue:us-east-1:123456789012:moto-skipped/T"


def _assembly(tmp_path: Path, template: dict) -> Path:
    out = tmp_path / "asm"
    out.mkdir()
    key = "ab" * 32
    (out / "S.template.json").write_text(json.dumps(template))
    (out / "S.assets.json").write_text(json.dumps({"files": {
        key: {"source": {"path": "S.template.json", "packaging": "file"},
              "destinations": {"d": {"bucketName": "b", "objectKey": f"{key}.json"}}},
        "cd" * 32: {"source": {"path": "asset.x", "packaging": "zip"}, "destinations": {}},
    }}))
    (out / "manifest.json").write_text(json.dumps({"artifacts": {
        "S.assets": {"type": "cdk:asset-manifest", "properties": {"file": "S.assets.json"}},
        "S": {"type": "aws:cloudformation:stack", "dependencies": ["S.assets"], "properties": {
            "templateFile": "S.template.json", "stackTemplateAssetObjectUrl": f"s3://b/{key}.json"}},
    }}))
    return out


def test_the_patched_template_is_uploaded_under_its_own_key(tmp_path):
    out = _assembly(tmp_path, TEMPLATE)
    name, original, result = dl.patch_assembly(out)
    assert (name, original) == ("S", TEMPLATE) and result.references == 3
    written = (out / "S.template.json").read_bytes()
    assert json.loads(written) == result.template
    manifest = json.loads((out / "manifest.json").read_text())
    assets = json.loads((out / "S.assets.json").read_text())["files"]
    new_key = next(k for k, f in assets.items() if f["source"]["path"] == "S.template.json")
    assert new_key != "ab" * 32 and "ab" * 32 not in (out / "manifest.json").read_text() + (out / "S.assets.json").read_text()
    assert manifest["artifacts"]["S"]["properties"]["stackTemplateAssetObjectUrl"] == f"s3://b/{new_key}.json"
    assert assets[new_key]["destinations"]["d"]["objectKey"] == f"{new_key}.json" and "cd" * 32 in assets
    # the same synth patched again gives the same key: a second run uploads nothing new
    (tmp_path / "again").mkdir()
    again = _assembly(tmp_path / "again", TEMPLATE)
    dl.patch_assembly(again)
    assert json.loads((again / "S.assets.json").read_text())["files"].keys() == assets.keys()


def test_a_template_with_nothing_to_stand_in_is_not_rewritten(tmp_path):
    plain = {"Resources": {"Stream": TEMPLATE["Resources"]["Stream"]}, "Outputs": {}}
    out = _assembly(tmp_path, plain)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert dl.patch_assembly(out)[2].references == 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_moto_cannot_create_what_it_has_no_model_for():
    assert dl.moto_cannot_create({"AWS::Kinesis::Stream", "AWS::KinesisFirehose::DeliveryStream", "AWS::Glue::Table",
                                  "AWS::Athena::WorkGroup", "AWS::CloudWatch::Alarm", "AWS::S3::Bucket"}) == {
        "AWS::KinesisFirehose::DeliveryStream", "AWS::Glue::Table", "AWS::Athena::WorkGroup", "AWS::CloudWatch::Alarm"}


def _rehearsal(**kw) -> rr.Rehearsal:
    base = dict(
        endpoint="http://127.0.0.1:1", server="moto server pid 1, already running", prefix="rehearsal", stack="S",
        out_dir=Path("asm"), timings={"cdk bootstrap": 1.0, "cdk synth": 2.0, "cdk deploy": 3.0}, deploy="created", assets=3,
        stand_ins=StandIns(TEMPLATE, 3, ("Policy",), ("Delivery", "Keyring")), template=TEMPLATE, created=CREATED,
        skipped=skipped(TEMPLATE, CREATED), predicted=UNSUPPORTED,
        outputs=check_outputs(TEMPLATE, GOOD, CREATED), resources=ResourceCheck(found={"AWS::Kinesis::Stream": 1}),
    )
    return rr.Rehearsal(**{**base, **kw})


def test_the_report_names_what_moto_skipped_and_passes():
    r = _rehearsal()
    text = rr.report(r, 6.5)
    assert r.passed and text.endswith("result              ok")
    assert ("  moto skipped:       AWS::CloudWatch::Alarm, AWS::KinesisFirehose::DeliveryStream, AWS::SecretsManager::Secret"
            in text.splitlines())
    assert "3 of 4 as the template and the configuration say; 1 not produced" in text and "PROBLEM" not in text


def test_a_resource_moto_can_create_but_the_stack_lacks_fails_the_report():
    created = {k: v for k, v in CREATED.items() if k != "Role"}
    r = _rehearsal(created=created, skipped=skipped(TEMPLATE, created), deploy="updated",
                   outputs=check_outputs(TEMPLATE, GOOD, created))
    text = rr.report(r, 1.0)
    assert not r.passed and r.lost == {"AWS::IAM::Role": ["Role"]}
    assert "PROBLEM             1 AWS::IAM::Role lost in the update" in text
    assert "AWS::IAM::Role" not in next(ln for ln in text.splitlines() if ln.startswith("  moto skipped:"))
    assert text.endswith("FAILED: 1 problem(s)")


def test_missing_outputs_and_resources_fail_the_report():
    r = _rehearsal(outputs=OutputCheck(missing=["StreamName"]), resources=ResourceCheck(missing=["AWS::Kinesis::Stream Stream (p)"]))
    text = rr.report(r, 1.0)
    assert not r.passed and "output StreamName: missing" in text and "resource AWS::Kinesis::Stream Stream (p): not found" in text


def test_a_bad_configuration_is_refused_before_the_local_cloud_is_touched(tmp_path, capsys):
    state = tmp_path / "state"
    assert dl.main(["--prefix", "No_Good", "--state-dir", str(state)]) == 1
    assert dl.main(["-c", 'pipeline={"delivery": {"typo": 1}}', "--state-dir", str(state)]) == 1
    err = capsys.readouterr().err
    assert "Invalid configuration: pipeline.name_prefix must be 3-32 characters" in err
    assert "Invalid configuration: pipeline.delivery has unknown key(s): typo" in err
    assert not state.exists()


def test_the_cli_runs_with_this_server_dummy_credentials_and_no_profile(monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "prod")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "real")
    monkeypatch.setenv("CDK_DEFAULT_ACCOUNT", "999999999999")
    env = dl.cdk_env("http://127.0.0.1:4999", 4999)
    assert "AWS_PROFILE" not in env and "CDK_DEFAULT_ACCOUNT" not in env
    assert env["AWS_SECRET_ACCESS_KEY"] == "testing" and env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4999"
    assert env["AWS_ENDPOINT_URL_S3_FOR_CLOUDFORMATION"] == "http://localhost:4999"
    assert env["AWS_CONFIG_FILE"] == env["AWS_SHARED_CREDENTIALS_FILE"]
