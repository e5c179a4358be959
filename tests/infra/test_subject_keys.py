"""Per-subject keys and subject rights, on the synthesised template: the key table, its keys, the
receipts bucket, and who may create, forget and read keys (README "Who can read which keys")."""

from __future__ import annotations

import fnmatch
import json

import pytest
from aws_cdk.assertions import Annotations, Match

from tests.infra.conftest import actions, policies_of, ref_id, synth
from tests.infra.test_export_search import export_search_statements
from tests.infra.test_security import ADMIN, ROOT_ARN, _denied, _resolve

ROOT_CONTEXT = {"StringEquals": {"kms:EncryptionContext:purpose": "pii-subject-keys-root"}}


def _mentions(resource, logical_id: str) -> bool:
    """Whether a statement's resource (one or a list) is, or is inside, the resource ``logical_id``
    (or is every resource)."""
    resources = resource if isinstance(resource, list) else [resource]
    return any(r == "*" or f'"{logical_id}"' in json.dumps(r) for r in resources)


def _allows(statement, action: str) -> bool:
    return statement["Effect"] == "Allow" and any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions(statement))


def _who_may(template, action: str, logical_id: str) -> dict[str, list]:
    """Every role whose IAM policies allow ``action`` on the resource ``logical_id``, with the
    allowing statements. Complete: no role in the stack has a managed or an inline policy (checked)."""
    roles = template.find_resources("AWS::IAM::Role")
    assert all("ManagedPolicyArns" not in r["Properties"] and "Policies" not in r["Properties"] for r in roles.values())
    assert template.find_resources("AWS::IAM::ManagedPolicy") == {} and template.find_resources("AWS::IAM::User") == {}
    found: dict[str, list] = {}
    for policy in template.find_resources("AWS::IAM::Policy").values():
        for s in policy["Properties"]["PolicyDocument"]["Statement"]:
            if _allows(s, action) and _mentions(s["Resource"], logical_id):
                for role in policy["Properties"]["Roles"]:
                    found.setdefault(role["Ref"], []).append(s)
    return found


@pytest.fixture(scope="module")
def ids(template):
    return {
        "table": ref_id(template, "AWS::DynamoDB::Table", "SubjectKeysTable"),
        "root": ref_id(template, "AWS::KMS::Key", "SubjectKeysRootKey"),
        "table_key": ref_id(template, "AWS::KMS::Key", "SubjectKeysTableKey"),
        "scrubber": ref_id(template, "AWS::IAM::Role", "ScrubberRole"),
        "rights": ref_id(template, "AWS::IAM::Role", "RightsFunctionRole"),
        "backfill": ref_id(template, "AWS::IAM::Role", "BackfillFunctionRole"),
        "lake": ref_id(template, "AWS::S3::Bucket", "StorageLake"),
        "lake_key": ref_id(template, "AWS::KMS::Key", "LakeKey"),
        "receipts": ref_id(template, "AWS::S3::Bucket", "RightsReceipts"),
        "receipts_key": ref_id(template, "AWS::KMS::Key", "ReceiptsKey"),
    }


# --- the table and its keys ----------------------------------------------------------------------

def test_the_key_table_has_the_shared_schema_and_its_own_cmk(template, ids):
    [(table_id, table)] = template.find_resources("AWS::DynamoDB::Table").items()
    assert table_id == ids["table"]
    assert table["Properties"] == {
        "TableName": "pii-scrub-subject-keys",
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],  # no sort key
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}, {"AttributeName": "link", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
        "GlobalSecondaryIndexes": [
            {"IndexName": "by-link", "KeySchema": [{"AttributeName": "link", "KeyType": "HASH"}], "Projection": {"ProjectionType": "ALL"}}
        ],
        "TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": True},
        "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": {"Fn::GetAtt": [ids["table_key"], "Arn"]}},
        # off by default: backups would keep forgotten keys restorable
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": False},
        "DeletionProtectionEnabled": True,  # removal_policy RETAIN
    }
    assert table["DeletionPolicy"] == "Retain" and table["UpdateReplacePolicy"] == "Retain"


def test_the_root_and_table_cmks_are_separate_rotating_and_retained(template, ids):
    keys = template.find_resources("AWS::KMS::Key")
    assert ids["root"] != ids["table_key"]
    for key in (ids["root"], ids["table_key"]):
        assert keys[key]["Properties"]["EnableKeyRotation"] is True
        assert keys[key]["DeletionPolicy"] == "Retain"
    for alias, key in (("alias/pii-scrub-subject-keys-root", "root"), ("alias/pii-scrub/subject-keys-table", "table_key")):
        template.has_resource_properties("AWS::KMS::Alias", {"AliasName": alias, "TargetKeyId": {"Fn::GetAtt": [ids[key], "Arn"]}})


def test_pitr_off_is_acknowledged_for_crypto_shredding(template, ids):
    table = template.find_resources("AWS::DynamoDB::Table")[ids["table"]]
    [ack] = table["Metadata"]["cdk_nag"]["rules_to_suppress"]
    assert ack["id"] == "AwsSolutions-DDB3"
    assert "crypto-shredding" in ack["reason"] and "restorable" in ack["reason"] and "receipt" in ack["reason"]


@pytest.fixture(scope="module")
def with_pitr():
    """One more synth: point-in-time recovery on (35 days) in a throwaway environment."""
    return synth({"subject_keys": {"point_in_time_recovery_days": 35}, "storage": {"removal_policy": "DESTROY"}})


def test_pitr_and_its_window_follow_the_configuration(with_pitr):
    stack, t = with_pitr
    [table] = t.find_resources("AWS::DynamoDB::Table").values()
    props = table["Properties"]
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 35}
    assert props["DeletionProtectionEnabled"] is False and table["DeletionPolicy"] == "Delete"
    assert "Metadata" not in table or "cdk_nag" not in table["Metadata"]  # nothing to acknowledge
    # the receipt states the window: the rights function is told it
    t.has_resource_properties("AWS::Lambda::Function", {
        "FunctionName": "pii-scrub-subject-rights",
        # the receipt states what it does not touch from the same configuration as the stack
        "Environment": {"Variables": Match.object_like({"SUBJECT_KEYS_PITR_DAYS": "35", "STREAM_RETENTION_HOURS": "24",
                                                        "QUARANTINE_EXPIRATION_DAYS": "7",
                                                        "LAKE_OBJECT_MAX_MIB": Match.any_value()})},
    })
    ann = Annotations.from_stack(stack)
    assert [e.entry.data for e in ann.find_error("*", Match.string_like_regexp("AwsSolutions-.*"))] == []
    assert [w.entry.data for w in ann.find_warning("*", Match.string_like_regexp("AwsSolutions-.*"))] == []


# --- who may create, forget and read keys --------------------------------------------------------

def test_only_the_rights_function_may_forget_keys(template, ids):
    assert set(_who_may(template, "dynamodb:UpdateItem", ids["table"])) == {ids["rights"]}
    # nobody may delete an item: a deleted root would change every lookup id, and every tombstone
    assert _who_may(template, "dynamodb:DeleteItem", ids["table"]) == {}
    # nobody may write around those: batch writes and PartiQL would put or delete items too
    for action in ("dynamodb:BatchWriteItem", "dynamodb:PartiQLInsert", "dynamodb:PartiQLUpdate", "dynamodb:PartiQLDelete"):
        assert _who_may(template, action, ids["table"]) == {}, action


def test_only_the_scrubbers_may_create_keys_and_roots(template, ids):
    # the stream's scrubber, and the backfill running the same scrubber over historic objects
    assert set(_who_may(template, "dynamodb:PutItem", ids["table"])) == {ids["scrubber"], ids["backfill"]}
    assert set(_who_may(template, "kms:GenerateDataKey", ids["root"])) == {ids["scrubber"], ids["backfill"]}


def test_only_the_scrubbers_and_the_rights_function_may_open_root_secrets(template, ids):
    for action in ("kms:Decrypt", "kms:ReEncryptFrom"):
        allowed = _who_may(template, action, ids["root"])
        assert set(allowed) == ({ids["scrubber"], ids["rights"], ids["backfill"]} if action == "kms:Decrypt" else set()), action
        for statements in allowed.values():  # and only for root secrets (their encryption context)
            assert all(s["Condition"] == ROOT_CONTEXT for s in statements)
    # the key policy grants nothing but the account's administration ...
    statements = template.find_resources("AWS::KMS::Key")[ids["root"]]["Properties"]["KeyPolicy"]["Statement"]
    allows = [s for s in _resolve(statements) if s["Effect"] == "Allow"]
    assert allows == [{"Action": "kms:*", "Effect": "Allow", "Principal": {"AWS": ROOT_ARN}, "Resource": "*"}]
    # ... and denies decryption to every other principal, whatever their IAM policies allow
    scrubber, rights, backfill = (_resolve({"Fn::GetAtt": [ids[r], "Arn"]}) for r in ("scrubber", "rights", "backfill"))
    context = {"kms:EncryptionContext:purpose": "pii-subject-keys-root"}
    for action in ("kms:Decrypt", "kms:ReEncryptFrom"):
        for principal in (ADMIN, ROOT_ARN, _resolve({"Fn::GetAtt": [ref_id(template, "AWS::IAM::Role", "QuarantineReader"), "Arn"]})):
            assert _denied(statements, principal=principal, action=action, context=context), (principal, action)
    for principal in (scrubber, rights, backfill):
        assert not _denied(statements, principal=principal, action="kms:Decrypt", context=context)
    # nothing but decryption is denied: the key stays administrable
    for action in ("kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:EnableKeyRotation", "kms:DescribeKey", "kms:GenerateDataKey"):
        assert not _denied(statements, principal=ROOT_ARN, action=action, context={})


def test_the_scrubbers_key_table_grants(template, ids):
    _, stmts = policies_of(template, "ScrubberRole")
    mine = [s for s in stmts if any(_mentions(s["Resource"], ids[k]) for k in ("table", "root", "table_key"))]
    assert sorted((actions(s), json.dumps(s["Resource"]), json.dumps(s.get("Condition"))) for s in mine) == sorted([
        (["dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:PutItem"],
         json.dumps({"Fn::GetAtt": [ids["table"], "Arn"]}), "null"),
        (["kms:Decrypt", "kms:GenerateDataKey"], json.dumps({"Fn::GetAtt": [ids["root"], "Arn"]}), json.dumps(ROOT_CONTEXT)),
        (_TABLE_KEY_ACTIONS, json.dumps({"Fn::GetAtt": [ids["table_key"], "Arn"]}), json.dumps(_VIA_DYNAMODB)),
    ])


_TABLE_KEY_ACTIONS = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey",
                      "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo"]
_VIA_DYNAMODB = {"StringEquals": {"kms:ViaService": {"Fn::Join": ["", ["dynamodb.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}}}


def test_the_rights_function_may_only_forget_read_the_data_prefix_and_write_receipts(template, ids):
    role, stmts = policies_of(template, "RightsFunctionRole")
    arn = {k: {"Fn::GetAtt": [ids[k], "Arn"]} for k in ids}
    logs = ref_id(template, "AWS::Logs::LogGroup", "RightsFunctionLogs")
    # (action, resource, condition), whatever statements CDK merged them into
    got = sorted({(a, json.dumps(r), json.dumps(s.get("Condition"))) for s in stmts for a in actions(s)
                  for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])})
    assert all(s["Effect"] == "Allow" for s in stmts)
    receipts = {"Fn::Join": ["", [arn["receipts"], "/receipts/*"]]}
    exports = {"Fn::Join": ["", [arn["receipts"], "/exports/*"]]}
    want = [
        (["logs:CreateLogStream", "logs:PutLogEvents"], {"Fn::GetAtt": [logs, "Arn"]}, None),
        (["dynamodb:BatchGetItem", "dynamodb:DescribeContinuousBackups", "dynamodb:GetItem"], arn["table"], None),
        (["dynamodb:UpdateItem"], arn["table"], {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["s#*"]}}),
        (["dynamodb:Query"], arn["table"], None),
        (["dynamodb:Query"], {"Fn::Join": ["", [arn["table"], "/index/by-link"]]}, None),
        (["kms:Decrypt"], arn["root"], ROOT_CONTEXT),  # no GenerateDataKey: never creates a root
        (_TABLE_KEY_ACTIONS, arn["table_key"], _VIA_DYNAMODB),
        (["s3:ListBucket"], arn["lake"], {"StringLike": {"s3:prefix": ["data/*"]}}),
        (["s3:GetObject"], {"Fn::Join": ["", [arn["lake"], "/data/*"]]}, None),
        (["kms:Decrypt"], arn["lake_key"], None),
        (["s3:PutObject"], receipts, None),
        (["s3:PutObject"], exports, None),
        (["s3:GetObject"], receipts, None),  # receipts, never exports
        (["kms:Decrypt", "kms:GenerateDataKey"], arn["receipts_key"], None),
        *export_search_statements(template),  # the export's Athena search (tests/infra/test_export_search.py)
    ]
    assert got == sorted({(a, json.dumps(r), json.dumps(c)) for acts, r, c in want for a in acts})
    assert "ManagedPolicyArns" not in template.find_resources("AWS::IAM::Role")[role]["Properties"]


def test_the_rights_function_cannot_read_the_quarantine(template, ids):
    _, stmts = policies_of(template, "RightsFunctionRole")
    lake_reads = [r for s in stmts if _allows(s, "s3:GetObject")
                  for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]) if _mentions(r, ids["lake"])]
    data = {"Fn::Join": ["", [{"Fn::GetAtt": [ids["lake"], "Arn"]}, "/data/*"]]}
    assert lake_reads == [data]
    # and the lake's bucket policy denies it the quarantine, as everyone but the reader role
    [policy] = [p for p in template.find_resources("AWS::S3::BucketPolicy").values() if p["Properties"]["Bucket"] == {"Ref": ids["lake"]}]
    [fence] = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s.get("Sid") == "QuarantineReadableOnlyByReaderRole"]
    assert fence["Resource"]["Fn::Join"][1][-1] == "/quarantine/*"
    rights = _resolve({"Fn::GetAtt": [ids["rights"], "Arn"]})
    for action in ("s3:GetObject", "s3:GetObjectVersion", "s3:RestoreObject"):
        assert _denied([fence], principal=rights, action=action, context={})


# --- the functions, the receipts, the outputs ----------------------------------------------------

def test_the_scrubber_and_the_rights_function_are_told_where_the_keys_are(template, ids, config):
    keys = {
        "SUBJECT_KEYS_TABLE": {"Ref": ids["table"]},
        "SUBJECT_KEYS_ROOT_KEY": {"Fn::GetAtt": [ids["root"], "Arn"]},
        "SUBJECT_KEYS_CACHE_TTL_S": "300",
        "SUBJECT_KEYS_CACHE_SIZE": "100000",
    }
    template.has_resource_properties("AWS::Lambda::Function", {
        "FunctionName": "pii-scrub-scrubber", "Environment": {"Variables": Match.object_like(keys)},
    })
    template.has_resource_properties("AWS::Lambda::Function", {
        "FunctionName": "pii-scrub-subject-rights",
        "Handler": "rights.handler.lambda_handler",
        "Runtime": "python3.13",
        "MemorySize": 1024,
        "Timeout": 900,
        "Environment": {"Variables": {
            "POWERTOOLS_SERVICE_NAME": "rights", "METRICS_NAMESPACE": "PiiScrubbing", "POWERTOOLS_LOG_LEVEL": "INFO",
            **keys,
            "SUBJECT_KEYS_PITR_DAYS": "0",
            "LAKE_BUCKET": {"Ref": ids["lake"]},
            "LAKE_PREFIX": config.delivery.data_prefix,
            "RECEIPTS_BUCKET": {"Ref": ids["receipts"]},
            "CONTRACT_SELECTOR": config.contracts.selector_json(),
            "CONTRACTS_FILE": "/var/task/contracts.json",
        }},
    })


def test_the_receipts_bucket_has_its_own_key_keeps_everything_and_logs_access(template, ids):
    bucket = template.find_resources("AWS::S3::Bucket")[ids["receipts"]]
    props = bucket["Properties"]
    assert props["BucketEncryption"] == {"ServerSideEncryptionConfiguration": [{
        "BucketKeyEnabled": True,
        "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Fn::GetAtt": [ids["receipts_key"], "Arn"]}},
    }]}
    assert ids["receipts_key"] != ids["lake_key"]
    assert template.find_resources("AWS::KMS::Key")[ids["receipts_key"]]["Properties"]["EnableKeyRotation"] is True
    assert props["BucketName"] == {"Fn::Join": ["", ["pii-scrub-receipts-", {"Ref": "AWS::AccountId"}, "-", {"Ref": "AWS::Region"}]]}
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True,
    }
    access_logs = ref_id(template, "AWS::S3::Bucket", "AccessLogs")
    assert props["LoggingConfiguration"] == {"DestinationBucketName": {"Ref": access_logs}, "LogFilePrefix": "receipts/"}
    # receipts are the proof of erasure: nothing expires them, current or noncurrent; exports
    # (personal data in clear, too large for a response) expire after a day
    for rule in props["LifecycleConfiguration"]["Rules"]:
        if rule.get("Prefix") == "exports/":
            assert rule["ExpirationInDays"] == 1 and rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}, rule
        else:
            assert "Prefix" not in rule and not {k for k in rule if "Expiration" in k or "Transition" in k}, rule
    assert bucket["DeletionPolicy"] == "Retain"


def test_outputs_name_the_rights_function_the_table_and_the_receipts_bucket(template, ids):
    outputs = template.find_outputs("*")
    function = ref_id(template, "AWS::Lambda::Function", "RightsFunction")
    assert outputs["RightsFunctionName"]["Value"] == {"Ref": function}
    assert outputs["SubjectKeysTableName"]["Value"] == {"Ref": ids["table"]}
    assert outputs["ReceiptsBucketName"]["Value"] == {"Ref": ids["receipts"]}
