"""The deployed redrive: its function, its own encrypted log group, and exactly the permissions
the README states (the quarantine's error and redriven folders, the lake key, PutRecords on the
stream); let through the quarantine's fence, which still stops everyone else."""

from __future__ import annotations

import json

from aws_cdk.assertions import Match

from tests.infra.conftest import actions, policies_of, ref_id, synth
from tests.infra.test_security import ADMIN, _denied, _resolve


def _join(lake: str, suffix: str) -> dict:
    return {"Fn::Join": ["", [{"Fn::GetAtt": [lake, "Arn"]}, suffix]]}


def test_the_function_runs_the_quarantine_package_with_its_configuration(template):
    log_key = ref_id(template, "AWS::KMS::Key", "LogKey")
    template.has_resource_properties("AWS::Lambda::Function", {
        "FunctionName": "pii-scrub-redrive",
        "Handler": "quarantine.handler.lambda_handler",
        "Runtime": "python3.13",
        "MemorySize": 1024,
        "Timeout": 900,
        "Environment": {"Variables": Match.object_like({
            "LAKE_BUCKET": {"Ref": ref_id(template, "AWS::S3::Bucket", "StorageLake")},
            "STREAM_NAME": {"Ref": ref_id(template, "AWS::Kinesis::Stream", "IngestStream")},
            "QUARANTINE_PREFIX": "quarantine/!{firehose:error-output-type}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/"
                                 "day=!{timestamp:dd}/",
            "MAX_ATTEMPTS": "5",
        })},
        "LoggingConfig": {"LogGroup": {"Ref": ref_id(template, "AWS::Logs::LogGroup", "RedriveFunctionLogs")}},
    })
    template.has_resource_properties("AWS::Logs::LogGroup", {
        "LogGroupName": "/aws/lambda/pii-scrub-redrive", "KmsKeyId": {"Fn::GetAtt": [log_key, "Arn"]},
    })
    function = ref_id(template, "AWS::Lambda::Function", "RedriveFunction")
    assert template.find_outputs("RedriveFunctionName")["RedriveFunctionName"]["Value"] == {"Ref": function}


def test_it_may_do_exactly_what_a_redrive_needs(template):
    role, stmts = policies_of(template, "RedriveFunctionRole")
    lake = ref_id(template, "AWS::S3::Bucket", "StorageLake")
    errors, redriven = "/quarantine/processing-failed/*", "/quarantine/redriven/processing-failed/*"
    logs = ref_id(template, "AWS::Logs::LogGroup", "RedriveFunctionLogs")
    got = sorted((a, json.dumps(s["Resource"], sort_keys=True), json.dumps(s.get("Condition"), sort_keys=True))
                 for s in stmts if s["Effect"] == "Allow" for a in actions(s))
    want = [
        (["logs:CreateLogStream", "logs:PutLogEvents"], {"Fn::GetAtt": [logs, "Arn"]}, None),
        (["s3:ListBucket"], {"Fn::GetAtt": [lake, "Arn"]},
         {"StringLike": {"s3:prefix": ["quarantine/processing-failed/*", "quarantine/redriven/processing-failed/*"]}}),
        (["s3:GetObject", "s3:DeleteObject"], _join(lake, errors), None),
        (["s3:PutObject"], [_join(lake, errors), _join(lake, redriven)], None),
        (["kms:Decrypt", "kms:GenerateDataKey"], {"Fn::GetAtt": [ref_id(template, "AWS::KMS::Key", "LakeKey"), "Arn"]}, None),
        (["kinesis:PutRecords"], {"Fn::GetAtt": [ref_id(template, "AWS::Kinesis::Stream", "IngestStream"), "Arn"]}, None),
        (["kms:GenerateDataKey"], {"Fn::GetAtt": [ref_id(template, "AWS::KMS::Key", "StreamKey"), "Arn"]}, None),
    ]
    assert got == sorted((a, json.dumps(r, sort_keys=True), json.dumps(c, sort_keys=True)) for acts, r, c in want for a in acts)
    assert not [s for s in stmts if s["Effect"] != "Allow"]
    assert "ManagedPolicyArns" not in template.find_resources("AWS::IAM::Role")[role]["Properties"]


def test_the_fence_lets_the_redrive_and_the_reader_through_and_no_one_else(template):
    lake = ref_id(template, "AWS::S3::Bucket", "StorageLake")
    [policy] = [p for p in template.find_resources("AWS::S3::BucketPolicy").values() if p["Properties"]["Bucket"] == {"Ref": lake}]
    [fence] = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s.get("Sid") == "QuarantineReadableOnlyByReaderRole"]
    redrive = _resolve({"Fn::GetAtt": [ref_id(template, "AWS::IAM::Role", "RedriveFunctionRole"), "Arn"]})
    reader = _resolve({"Fn::GetAtt": [ref_id(template, "AWS::IAM::Role", "QuarantineReader"), "Arn"]})
    rights = _resolve({"Fn::GetAtt": [ref_id(template, "AWS::IAM::Role", "RightsFunctionRole"), "Arn"]})
    scrubber = _resolve({"Fn::GetAtt": [ref_id(template, "AWS::IAM::Role", "ScrubberRole"), "Arn"]})
    for action in ("s3:GetObject", "s3:GetObjectVersion"):
        assert not _denied([fence], principal=redrive, action=action, context={})
        assert not _denied([fence], principal=reader, action=action, context={})
        for other in (ADMIN, rights, scrubber):
            assert _denied([fence], principal=other, action=action, context={})
    assert _resolve(fence["Resource"]).endswith("/quarantine/*")  # the redriven folder is inside it


def test_a_custom_quarantine_prefix_scopes_the_permissions_to_its_folders():
    _, t = synth({"delivery": {"quarantine_prefix": "errors/!{timestamp:yyyy}/!{firehose:error-output-type}/"}})
    _, stmts = policies_of(t, "RedriveFunctionRole")
    [listing] = [s for s in stmts if "s3:ListBucket" in actions(s)]
    # the error type comes after a timestamp: the folder to list is the prefix's static root
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["errors/*", "errors/redriven/*"]}}
    t.has_resource_properties("AWS::Lambda::Function", {
        "FunctionName": "pii-scrub-redrive",
        "Environment": {"Variables": Match.object_like({"QUARANTINE_PREFIX": "errors/!{timestamp:yyyy}/!{firehose:error-output-type}/"})},
    })
