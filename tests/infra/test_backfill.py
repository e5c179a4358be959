"""The lake-scale backfill on the synthesised template (README "Backfills at lake scale"): the
function S3 Batch Operations invokes, the role it assumes, the backfill bucket, and what each may
touch."""

from __future__ import annotations

import fnmatch
import json

import pytest
from aws_cdk.assertions import Annotations, Match

from tests.infra.conftest import ROOT, actions, policies_of, ref_id, synth

EXTERNAL_KEY = "arn:aws:kms:us-east-1:123456789012:key/0b7c2d4e-1111-2222-3333-444455556666"


def _text(value) -> str:
    return json.dumps(value, sort_keys=True)


def _resources(statement) -> list:
    r = statement["Resource"]
    return r if isinstance(r, list) else [r]


def _object_patterns(statement) -> list[str]:
    """The key patterns of a statement's object ARNs (``<bucket ARN>/<pattern>``, as CDK joins them)."""
    out = []
    for r in _resources(statement):
        if isinstance(r, dict) and "Fn::Join" in r:
            parts = r["Fn::Join"][1]
            out.append(parts[-1].lstrip("/") if isinstance(parts[-1], str) else "")
        elif isinstance(r, str) and r.startswith("arn:") and "/" in r:
            out.append(r.split("/", 1)[1])
    return out


@pytest.fixture(scope="module")
def ids(template):
    return {
        "function": ref_id(template, "AWS::Lambda::Function", "BackfillFunction"),
        "role": ref_id(template, "AWS::IAM::Role", "BackfillFunctionRole"),
        "job_role": ref_id(template, "AWS::IAM::Role", "BackfillJobRole"),
        "bucket": ref_id(template, "AWS::S3::Bucket", "BackfillBucket"),
        "key": ref_id(template, "AWS::KMS::Key", "BackfillKey"),
        "lake": ref_id(template, "AWS::S3::Bucket", "StorageLake"),
        "lake_key": ref_id(template, "AWS::KMS::Key", "LakeKey"),
        "log_key": ref_id(template, "AWS::KMS::Key", "LogKey"),
    }


def test_the_function_runs_the_scrubbers_configuration_over_the_lakes_layout(template, ids, config):
    fn = template.find_resources("AWS::Lambda::Function")[ids["function"]]["Properties"]
    b = config.backfill
    assert fn["FunctionName"] == "pii-scrub-backfill" and fn["Handler"] == "backfill.handler.lambda_handler"
    assert (fn["MemorySize"], fn["Timeout"], fn["EphemeralStorage"]) == (b.memory_mb, b.timeout_seconds, {"Size": b.ephemeral_storage_mib})
    env = fn["Environment"]["Variables"]
    scrubber = next(f["Properties"] for f in template.find_resources("AWS::Lambda::Function").values()
                    if f["Properties"]["FunctionName"] == "pii-scrub-scrubber")["Environment"]["Variables"]
    # the scrubber's own settings: the same contracts, selector, keyring and key table
    for name in ("CONTRACT_SELECTOR", "CONTRACTS_FILE", "PSEUDONYM_SECRET_ARN", "SUBJECT_KEYS_TABLE", "SUBJECT_KEYS_ROOT_KEY",
                 "SUBJECT_KEYS_CACHE_TTL_S", "SUBJECT_KEYS_CACHE_SIZE"):
        assert env[name] == scrubber[name], name
    assert env["LAKE_BUCKET"] == {"Ref": ids["lake"]}
    assert env["LAKE_KEY_ARN"] == {"Fn::GetAtt": [ids["lake_key"], "Arn"]}
    assert (env["DATA_PREFIX"], env["QUARANTINE_PREFIX"]) == (config.delivery.data_prefix, config.delivery.quarantine_prefix)
    assert env["TIME_FIELD"] == "event_time" and env["MAX_OBJECT_BYTES"] == str(b.max_object_mib * 1024 * 1024)
    # its own log group, under the stack's log key
    template.has_resource_properties("AWS::Logs::LogGroup", {
        "LogGroupName": "/aws/lambda/pii-scrub-backfill", "KmsKeyId": {"Fn::GetAtt": [ids["log_key"], "Arn"]}})


def test_the_function_writes_only_backfill_objects_to_the_lake_and_reads_only_the_source(template, ids):
    _, stmts = policies_of(template, "BackfillFunctionRole")
    on_lake = [s for s in stmts if f'"{ids["lake"]}"' in _text(s["Resource"])]
    assert {a for s in on_lake for a in actions(s)} == {"s3:PutObject", "s3:AbortMultipartUpload"}  # no read, no delete
    patterns = [p for s in on_lake for p in _object_patterns(s)]
    assert patterns == ["data/year=*/month=*/day=*/hour=*/backfill-*", "quarantine/backfill-failed/year=*/month=*/day=*/backfill-*"]
    # never Firehose's objects: a delivered object's key matches neither pattern
    firehose = "data/year=2026/month=01/day=15/hour=09/pii-scrub-delivery-1-2026-01-15-09-00-00-5f0c.gz"
    assert not any(fnmatch.fnmatchcase(firehose, p) for p in patterns)
    assert fnmatch.fnmatchcase("data/year=2023/month=06/day=03/hour=14/backfill-0123abcd.gz", patterns[0])
    reads = [s for s in stmts if "s3:GetObject" in actions(s)]
    assert len(reads) == 1 and f'"{ids["bucket"]}"' in _text(reads[0]["Resource"])
    assert _object_patterns(reads[0]) == ["backfill/*"]
    assert not [s for s in stmts if any(a.startswith("s3:Delete") or a == "s3:*" for a in actions(s))]
    # the scrubber's own grants: the keyring and creating subjects' keys (both fences name this role)
    assert any("secretsmanager:GetSecretValue" in actions(s) for s in stmts)
    assert any("dynamodb:PutItem" in actions(s) for s in stmts)


def test_the_job_role_is_for_s3_batch_operations_and_may_invoke_only_the_backfill_function(template, ids):
    role, stmts = policies_of(template, "BackfillJobRole")
    props = template.find_resources("AWS::IAM::Role")[role]["Properties"]
    [trust] = props["AssumeRolePolicyDocument"]["Statement"]
    assert trust == {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "batchoperations.s3.amazonaws.com"}}
    invoke = [s for s in stmts if any(a.startswith("lambda:") for a in actions(s))]
    assert len(invoke) == 1 and actions(invoke[0]) == ["lambda:InvokeFunction"]
    fn_arn = {"Fn::GetAtt": [ids["function"], "Arn"]}
    assert _resources(invoke[0]) == [fn_arn, {"Fn::Join": ["", [fn_arn, ":*"]]}]
    # manifests read; manifests and reports written; the source bucket listed (a generated manifest); no lake
    s3 = [s for s in stmts if any(a.startswith("s3:") for a in actions(s))]
    assert not any(f'"{ids["lake"]}"' in _text(s["Resource"]) for s in stmts)
    got = {(a, p) for s in s3 for a in actions(s) for p in _object_patterns(s)}
    assert got == {("s3:GetObject", "manifests/*"), ("s3:GetObjectVersion", "manifests/*"), ("s3:PutObject", "manifests/*"),
                   ("s3:PutObject", "reports/*")}
    bucket_level = {a for s in s3 for a in actions(s) if not _object_patterns(s)}
    assert bucket_level == {"s3:ListBucket", "s3:GetBucketLocation"}
    kms = [s for s in stmts if any(a.startswith("kms:") for a in actions(s))]
    assert all(s["Resource"] == {"Fn::GetAtt": [ids["key"], "Arn"]} for s in kms)  # the backfill bucket's key only


def test_the_backfill_bucket_is_private_encrypted_and_expires_what_it_holds(template, ids, config):
    b = config.backfill
    props = template.find_resources("AWS::S3::Bucket")[ids["bucket"]]["Properties"]
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [{
        "BucketKeyEnabled": True,
        "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Fn::GetAtt": [ids["key"], "Arn"]}}}]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["LoggingConfiguration"]["LogFilePrefix"] == "backfill/"
    rules = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}
    assert (rules["expire-manifests"]["Prefix"], rules["expire-manifests"]["ExpirationInDays"]) == ("manifests/", b.report_expiration_days)
    assert (rules["expire-reports"]["Prefix"], rules["expire-reports"]["ExpirationInDays"]) == ("reports/", b.report_expiration_days)
    # the uploaded history is raw personal data: it goes too
    assert (rules["expire-source"]["Prefix"], rules["expire-source"]["ExpirationInDays"]) == ("backfill/", b.source_expiration_days)


def test_outputs_name_the_function_the_role_and_the_bucket(template, ids):
    outputs = template.find_outputs("*")
    assert outputs["BackfillFunctionArn"]["Value"] == {"Fn::GetAtt": [ids["function"], "Arn"]}
    assert outputs["BackfillJobRoleArn"]["Value"] == {"Fn::GetAtt": [ids["job_role"], "Arn"]}
    assert outputs["BackfillBucketName"]["Value"] == {"Ref": ids["bucket"]}


@pytest.fixture(scope="module")
def external():
    """One more synth: the history in a bucket of its own, under a KMS key, another time field."""
    ctx = json.loads((ROOT / "cdk.json").read_text())["context"]["pipeline"]
    return synth({**ctx, "backfill": {"source_bucket": "acme-history", "source_prefix": "exports/2023/",
                                      "source_key_arn": EXTERNAL_KEY, "time_field": "occurred_at", "max_object_mib": 512,
                                      "ephemeral_storage_mib": 2048}})


def test_an_external_source_is_read_through_its_own_grants_and_stays_nag_clean(external):
    stack, t = external
    _, stmts = policies_of(t, "BackfillFunctionRole")
    [read] = [s for s in stmts if "s3:GetObject" in actions(s)]
    assert _text(read["Resource"]).endswith('":s3:::acme-history/exports/2023/*"]]}')
    assert any(s["Resource"] == EXTERNAL_KEY and actions(s) == ["kms:Decrypt"] for s in stmts)
    _, job = policies_of(t, "BackfillJobRole")
    [listing] = [s for s in job if "s3:ListBucket" in actions(s)]
    assert "acme-history" in _text(listing["Resource"])
    bucket = t.find_resources("AWS::S3::Bucket")[ref_id(t, "AWS::S3::Bucket", "BackfillBucket")]["Properties"]
    assert "expire-source" not in {r["Id"] for r in bucket["LifecycleConfiguration"]["Rules"]}  # not our bucket's objects
    t.has_resource_properties("AWS::Lambda::Function", {
        "FunctionName": "pii-scrub-backfill", "EphemeralStorage": {"Size": 2048},
        "Environment": {"Variables": Match.object_like({"TIME_FIELD": "occurred_at", "MAX_OBJECT_BYTES": str(512 << 20)})}})
    ann = Annotations.from_stack(stack)
    assert [e.entry.data for e in ann.find_error("*", Match.string_like_regexp("AwsSolutions-.*"))] == []
    assert [w.entry.data for w in ann.find_warning("*", Match.string_like_regexp("AwsSolutions-.*"))] == []
