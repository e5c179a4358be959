"""Infrastructure: the synthesised template has the properties that matter, and cdk-nag is clean."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Annotations, Match

import app as cdk_app
from tests.infra.conftest import ROOT, synth
from tests.infra.conftest import actions as _actions
from tests.infra.conftest import policies_of as _policies_of
from tests.infra.conftest import ref_id as _ref_id


def test_keys_are_customer_managed_with_rotation(template):
    # stream, lake, logs, keyring, subject-keys root, subject-keys table, receipts, query results, alarm topic, backfill
    template.resource_count_is("AWS::KMS::Key", 10)
    template.all_resources_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_stream_is_encrypted_with_its_own_key_on_demand(template):
    key = _ref_id(template, "AWS::KMS::Key", "StreamKey")
    template.has_resource_properties(
        "AWS::Kinesis::Stream",
        {
            "Name": "pii-scrub-events",
            "StreamEncryption": {"EncryptionType": "KMS", "KeyId": {"Fn::GetAtt": [key, "Arn"]}},
            "StreamModeDetails": {"StreamMode": "ON_DEMAND"},
            "RetentionPeriodHours": 24,
        },
    )


def test_lake_bucket_is_kms_tls_only_private_versioned_with_lifecycle(template):
    key = _ref_id(template, "AWS::KMS::Key", "LakeKey")
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {
                        "BucketKeyEnabled": True,
                        "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Fn::GetAtt": [key, "Arn"]}},
                    }
                ]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True,
            },
            "VersioningConfiguration": {"Status": "Enabled"},
            "LoggingConfiguration": Match.object_like({"LogFilePrefix": "lake/"}),
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [
                        Match.object_like({"Id": "data-tiering", "Prefix": "data/"}),
                        Match.object_like({"Id": "quarantine-expiry", "Prefix": "quarantine/", "ExpirationInDays": 7, "Status": "Enabled"}),
                    ]
                )
            },
        },
    )


def test_every_bucket_denies_plain_http_and_blocks_public_access(template):
    buckets = template.find_resources("AWS::S3::Bucket")
    policies = template.find_resources("AWS::S3::BucketPolicy")
    assert len(buckets) == 5 and len(policies) == 5
    for b in buckets.values():
        assert b["Properties"]["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
    for p in policies.values():
        stmts = p["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false" for s in stmts
        )


def test_quarantine_is_readable_only_by_the_named_role_and_the_redrive(template):
    reader = _ref_id(template, "AWS::IAM::Role", "QuarantineReader")
    redrive = _ref_id(template, "AWS::IAM::Role", "RedriveFunctionRole")
    template.has_resource_properties("AWS::IAM::Role", {"RoleName": "pii-scrub-quarantine-reader"})
    lake_policy = [
        p for p in template.find_resources("AWS::S3::BucketPolicy").values()
        if any(s.get("Sid") == "QuarantineReadableOnlyByReaderRole" for s in p["Properties"]["PolicyDocument"]["Statement"])
    ]
    assert len(lake_policy) == 1
    statements = lake_policy[0]["Properties"]["PolicyDocument"]["Statement"]
    stmt = next(s for s in statements if s.get("Sid") == "QuarantineReadableOnlyByReaderRole")
    assert stmt["Effect"] == "Deny" and stmt["Principal"] == {"AWS": "*"}
    assert set(stmt["Action"]) == {"s3:GetObject*", "s3:RestoreObject"}  # every version, replication included
    assert stmt["Resource"]["Fn::Join"][1][-1] == "/quarantine/*"
    assert stmt["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": [
        {"Fn::GetAtt": [reader, "Arn"]}, {"Fn::GetAtt": [redrive, "Arn"]}]}}


def test_firehose_reads_the_stream_and_runs_the_scrubber_with_buffering(template, config):
    scrubber = _ref_id(template, "AWS::Lambda::Function", "Scrubber")
    stream = _ref_id(template, "AWS::Kinesis::Stream", "Stream")
    lake_key = _ref_id(template, "AWS::KMS::Key", "LakeKey")
    template.has_resource_properties(
        "AWS::KinesisFirehose::DeliveryStream",
        {
            "DeliveryStreamName": "pii-scrub-delivery",
            "DeliveryStreamType": "KinesisStreamAsSource",
            "KinesisStreamSourceConfiguration": Match.object_like({"KinesisStreamARN": {"Fn::GetAtt": [stream, "Arn"]}}),
            "ExtendedS3DestinationConfiguration": Match.object_like(
                {
                    "CompressionFormat": "GZIP",
                    "Prefix": config.delivery.data_prefix,
                    "ErrorOutputPrefix": config.delivery.quarantine_prefix,
                    "BufferingHints": {"IntervalInSeconds": 300, "SizeInMBs": 64},
                    "EncryptionConfiguration": {"KMSEncryptionConfig": {"AWSKMSKeyARN": {"Fn::GetAtt": [lake_key, "Arn"]}}},
                    "CloudWatchLoggingOptions": Match.object_like({"Enabled": True, "LogGroupName": Match.any_value()}),
                    "ProcessingConfiguration": {
                        "Enabled": True,
                        "Processors": [
                            {
                                "Type": "Lambda",
                                "Parameters": Match.array_with(
                                    [
                                        {"ParameterName": "LambdaArn", "ParameterValue": {"Fn::GetAtt": [scrubber, "Arn"]}},
                                        {"ParameterName": "BufferIntervalInSeconds", "ParameterValue": "60"},
                                        {"ParameterName": "BufferSizeInMBs", "ParameterValue": "2"},
                                        {"ParameterName": "NumberOfRetries", "ParameterValue": "3"},
                                    ]
                                ),
                            }
                        ],
                    },
                }
            ),
        },
    )
    template.has_resource_properties("AWS::Logs::LogGroup", {"LogGroupName": "/aws/kinesisfirehose/pii-scrub-delivery"})


def test_lambdas_run_python_3_13_with_their_configuration(template, config):
    functions = template.find_resources("AWS::Lambda::Function")
    assert len(functions) == 5 and {f["Properties"]["Runtime"] for f in functions.values()} == {"python3.13"}
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "FunctionName": "pii-scrub-scrubber",
            "Runtime": "python3.13",
            "Handler": "scrubber.handler.lambda_handler",
            "MemorySize": 1024,
            "Timeout": 120,
            "Environment": {"Variables": Match.object_like({
                "CONTRACT_SELECTOR": config.contracts.selector_json(),
                "CONTRACTS_FILE": "/var/task/contracts.json",
                "PSEUDONYM_SECRET_ARN": {"Ref": Match.string_like_regexp("PseudonymisationKeyring")},
            })},
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "FunctionName": "pii-scrub-producer",
            "Handler": "producer.handler.lambda_handler",
            "Environment": {"Variables": Match.object_like({"STREAM_NAME": Match.any_value()})},
        },
    )


def test_producer_may_only_put_records_and_use_the_stream_key(template):
    role, stmts = _policies_of(template, "ProducerRole")
    stream = _ref_id(template, "AWS::Kinesis::Stream", "Stream")
    key = _ref_id(template, "AWS::KMS::Key", "StreamKey")
    by_action = {tuple(_actions(s)): s for s in stmts}
    assert set(by_action) == {
        ("logs:CreateLogStream", "logs:PutLogEvents"),
        ("kinesis:PutRecord", "kinesis:PutRecords"),
        ("kms:GenerateDataKey",),
    }
    assert by_action[("kinesis:PutRecord", "kinesis:PutRecords")]["Resource"] == {"Fn::GetAtt": [stream, "Arn"]}
    assert by_action[("kms:GenerateDataKey",)]["Resource"] == {"Fn::GetAtt": [key, "Arn"]}
    assert "ManagedPolicyArns" not in template.find_resources("AWS::IAM::Role")[role]["Properties"]


def test_scrubber_may_only_write_its_logs_read_the_keyring_and_put_records_back(template):
    role, stmts = _policies_of(template, "ScrubberRole")
    # its grants on the per-subject keys: tests/infra/test_subject_keys.py
    subject_keys = [_ref_id(template, t, p) for t, p in (("AWS::DynamoDB::Table", "SubjectKeysTable"),
                    ("AWS::KMS::Key", "SubjectKeysRootKey"), ("AWS::KMS::Key", "SubjectKeysTableKey"))]
    stmts = [s for s in stmts if not any(f'"{k}"' in json.dumps(s["Resource"]) for k in subject_keys)]
    assert len(stmts) == 4
    secret = _ref_id(template, "AWS::SecretsManager::Secret", "Keyring")
    key = _ref_id(template, "AWS::KMS::Key", "PseudonymisationKey")
    stream = _ref_id(template, "AWS::Kinesis::Stream", "Stream")
    stream_key = _ref_id(template, "AWS::KMS::Key", "StreamKey")
    by_action = {tuple(_actions(s)): s for s in stmts}
    assert set(by_action) == {
        ("logs:CreateLogStream", "logs:PutLogEvents"),
        ("secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"),
        ("kinesis:PutRecords",),  # records the response has no room for go back on the stream
        ("kms:GenerateDataKey",),
    }
    assert by_action[("kinesis:PutRecords",)]["Resource"] == {"Fn::GetAtt": [stream, "Arn"]}
    assert by_action[("kms:GenerateDataKey",)]["Resource"] == {"Fn::GetAtt": [stream_key, "Arn"]}
    assert by_action[("secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue")]["Resource"] == {"Ref": secret}
    # decrypting the keyring is granted in the key policy, and only through Secrets Manager
    key_stmts = template.find_resources("AWS::KMS::Key")[key]["Properties"]["KeyPolicy"]["Statement"]
    me = {"Fn::GetAtt": [role, "Arn"]}
    mine = [s for s in key_stmts if s["Effect"] == "Allow"
            and me in (s["Principal"]["AWS"] if isinstance(s["Principal"]["AWS"], list) else [s["Principal"]["AWS"]])]
    assert len(mine) == 1 and mine[0]["Action"] == "kms:Decrypt"
    assert "secretsmanager." in json.dumps(mine[0]["Condition"]["StringEquals"]["kms:ViaService"])
    assert "ManagedPolicyArns" not in template.find_resources("AWS::IAM::Role")[role]["Properties"]


def test_keyring_secret_is_generated_and_encrypted_with_its_own_key(template):
    key = _ref_id(template, "AWS::KMS::Key", "PseudonymisationKey")
    template.has_resource_properties(
        "AWS::SecretsManager::Secret",
        {
            "Name": "pii-scrub/pseudonymisation-keys",
            "KmsKeyId": {"Fn::GetAtt": [key, "Arn"]},
            "GenerateSecretString": {"SecretStringTemplate": '{"current": "v1"}', "GenerateStringKey": "v1",
                                     "PasswordLength": 64, "ExcludePunctuation": True},
        },
    )
    # no principal but the scrubbers (the stream's, the backfill's) and the break-glass role is granted the keyring
    readers = [p["Properties"]["Roles"] for p in template.find_resources("AWS::IAM::Policy").values()
               if any("secretsmanager:GetSecretValue" in _actions(s) for s in p["Properties"]["PolicyDocument"]["Statement"])]
    scrubber = _ref_id(template, "AWS::IAM::Role", "ScrubberRole")
    backfill = _ref_id(template, "AWS::IAM::Role", "BackfillFunctionRole")
    break_glass = _ref_id(template, "AWS::IAM::Role", "BreakGlass")
    assert sorted(readers, key=str) == sorted([[{"Ref": scrubber}], [{"Ref": backfill}], [{"Ref": break_glass}]], key=str)


def test_firehose_destination_role_cannot_delete_or_rewrite_policy(template):
    _, stmts = _policies_of(template, "DestinationRole")
    deny = [s for s in stmts if s["Effect"] == "Deny"]
    assert len(deny) == 1 and "s3:DeleteObject" in deny[0]["Action"] and "s3:PutBucketPolicy" in deny[0]["Action"]
    invoke = [s for s in stmts if "lambda:InvokeFunction" in _actions(s)]
    assert len(invoke) == 1


def test_outputs(template):
    outputs = template.find_outputs("*")
    assert set(outputs) == {
        "StreamName", "ProducerFunctionName", "DeliveryStreamName", "BucketName", "DataPrefix", "QuarantinePrefix",
        "QuarantineReaderRoleArn", "PseudonymKeyringSecretArn", "KeyringBreakGlassRoleArn",
        "RightsFunctionName", "SubjectKeysTableName", "ReceiptsBucketName", "AlarmTopicArn",
        "GlueDatabaseName", "AthenaWorkGroup", "QueryResultsBucketName",
        "BackfillFunctionArn", "BackfillJobRoleArn", "BackfillBucketName", "RedriveFunctionName",
    }
    break_glass = _ref_id(template, "AWS::IAM::Role", "BreakGlass")
    assert outputs["KeyringBreakGlassRoleArn"]["Value"] == {"Fn::GetAtt": [break_glass, "Arn"]}
    assert outputs["QuarantinePrefix"]["Value"] == "quarantine/"


def test_configuration_reaches_the_template():
    _, t = synth({"stream": {"mode": "PROVISIONED", "shard_count": 3, "retention_hours": 48},
                  "delivery": {"buffering_interval_seconds": 60, "buffering_size_mib": 32, "processor_buffer_size_mib": 1}})
    t.has_resource_properties(
        "AWS::Kinesis::Stream", {"ShardCount": 3, "RetentionPeriodHours": 48, "StreamModeDetails": {"StreamMode": "PROVISIONED"}}
    )
    t.has_resource_properties(
        "AWS::KinesisFirehose::DeliveryStream",
        {"ExtendedS3DestinationConfiguration": Match.object_like({"BufferingHints": {"IntervalInSeconds": 60, "SizeInMBs": 32}})},
    )


def test_cdk_nag_has_no_unacknowledged_findings(synthed):
    stack, _ = synthed
    ann = Annotations.from_stack(stack)
    errors = ann.find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
    warnings = ann.find_warning("*", Match.string_like_regexp("AwsSolutions-.*"))
    assert [e.entry.data for e in errors] == []
    assert [w.entry.data for w in warnings] == []


def test_every_acknowledgment_gives_a_specific_reason(template):
    reasons = []
    for res in template.to_json()["Resources"].values():
        for s in res.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
            reasons.append((s["id"], s["reason"]))
    assert reasons, "expected the documented acknowledgments"
    assert {r for r, _ in reasons} == {
        "AwsSolutions-KDS3", "AwsSolutions-KDF1", "AwsSolutions-IAM5", "AwsSolutions-SMG4", "AwsSolutions-L1",
        "AwsSolutions-DDB3",
    }
    for rule, reason in reasons:
        assert len(reason) > 80, rule


def test_nag_would_catch_a_new_wildcard():
    """A suppression is scoped: a new wildcard grant on the producer must surface as an error."""
    ctx = json.loads((ROOT / "cdk.json").read_text())["context"]
    ctx["aws:cdk:bundling-stacks"] = []
    app = cdk.App(context=ctx)
    stack = cdk_app.build_app(app)
    stack.storage.bucket.grant_read(stack.ingest.producer.role)
    app.synth()
    errors = Annotations.from_stack(stack).find_error("*", Match.string_like_regexp("AwsSolutions-IAM5.*"))
    assert any("Producer" in e.id for e in errors)


def _run_app(context: dict, tmp_path) -> subprocess.CompletedProcess:
    env = dict(os.environ, CDK_CONTEXT_JSON=json.dumps(context), CDK_OUTDIR=str(tmp_path))
    return subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_bad_config_fails_synth_with_a_message_naming_the_value(tmp_path):
    ctx = json.loads((ROOT / "cdk.json").read_text())["context"]
    ctx["pipeline"] = {**ctx["pipeline"], "delivery": {"processor_buffer_size_mib": 5}}
    r = _run_app(ctx, tmp_path)
    assert r.returncode == 1
    assert "Invalid configuration: pipeline.delivery.processor_buffer_size_mib must be between 1 and 3, got 5" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_broken_contract_fails_synth_naming_the_file_and_the_reason(tmp_path):
    import shutil

    shutil.copytree(ROOT / "contracts", tmp_path / "contracts")
    bad = tmp_path / "contracts" / "order_placed" / "1.yaml"
    bad.write_text(bad.read_text().replace("action: mask, mask: ssn", "action: hash"))
    ctx = json.loads((ROOT / "cdk.json").read_text())["context"]
    ctx["pipeline"] = {**ctx["pipeline"], "contracts": {**ctx["pipeline"]["contracts"], "dir": str(tmp_path / "contracts")}}
    r = _run_app(ctx, tmp_path / "out")
    assert r.returncode == 1
    assert "Invalid configuration: pipeline.contracts: contracts/order_placed/1.yaml: fields.ssn.pii.action: must be one of" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize(
    "old, new, message",
    [
        ('generate: {template: "SKU-%####"}', 'generate: {template: "SKU-%###"}',
         "contracts/order_placed/1.yaml: the producer's events for it do not conform to it (validation_failed): "
         "check fields.order.items[*].sku.generate"),
        ("generate: {between: [1, 4]}", "generate: {between: [1, 4000]}", "check fields.order.items[*].qty.generate"),
        ("generate: {count: [1, 5]}", "generate: {kount: [1, 5]}",
         "contracts/order_placed/1.yaml: fields.order.items.generate: must name exactly one generator"),
    ],
)
def test_generator_hints_that_break_their_contract_fail_synth(tmp_path, old, new, message):
    import shutil

    shutil.copytree(ROOT / "contracts", tmp_path / "contracts")
    bad = tmp_path / "contracts" / "order_placed" / "1.yaml"
    assert old in bad.read_text()
    bad.write_text(bad.read_text().replace(old, new))
    ctx = json.loads((ROOT / "cdk.json").read_text())["context"]
    ctx["pipeline"] = {**ctx["pipeline"], "contracts": {**ctx["pipeline"]["contracts"], "dir": str(tmp_path / "contracts")}}
    r = _run_app(ctx, tmp_path / "out")
    assert r.returncode == 1
    assert message in r.stderr, r.stderr[-2000:]
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("edit, message", [
    (lambda t: t + "  ssn: {type: string, generate: {subject: ssn}}\n", "fields.ssn: the key 'ssn' appears twice, at lines"),
    (lambda t: t.replace('pattern: "^SKU-\\\\d{5}$"', 'pattern: "^(SKU)-\\\\d{5}\\\\1$"'),
     "fields.order.items[*].sku.pattern: RE2 cannot compile it"),
])
def test_a_repeated_key_or_a_backtracking_construct_fails_synth(tmp_path, edit, message):
    import shutil

    shutil.copytree(ROOT / "contracts", tmp_path / "contracts")
    bad = tmp_path / "contracts" / "order_placed" / "1.yaml"
    bad.write_text(edit(bad.read_text()))
    ctx = json.loads((ROOT / "cdk.json").read_text())["context"]
    ctx["pipeline"] = {**ctx["pipeline"], "contracts": {**ctx["pipeline"]["contracts"], "dir": str(tmp_path / "contracts")}}
    r = _run_app(ctx, tmp_path / "out")
    assert r.returncode == 1
    assert f"Invalid configuration: pipeline.contracts: contracts/order_placed/1.yaml: {message}" in r.stderr
    assert "Traceback" not in r.stderr
