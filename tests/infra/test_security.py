"""Security claims of the README, on the synthesised template: who can read the keyring, and TLS
on every bucket."""

from __future__ import annotations

import fnmatch

import pytest

from stacks.config import ConfigError, load_config
from tests.infra.conftest import actions, policies_of, ref_id

ACCOUNT = "123456789012"
SECRETS_MANAGER = "secretsmanager.us-east-1.amazonaws.com"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/Admin"  # any other principal, with every IAM permission
ROOT_ARN = f"arn:aws:iam::{ACCOUNT}:root"


# --- A minimal evaluator of the template's explicit denies (the part of policy evaluation the
# --- fence relies on: an explicit deny wins over any allow, in IAM or in the resource policy).
def _resolve(value):
    """Template intrinsics -> concrete values: a role's Arn becomes arn:...:role/<logical id>."""
    if isinstance(value, list):
        return [_resolve(v) for v in value]
    if isinstance(value, dict):
        if "Fn::GetAtt" in value:
            logical_id, attr = value["Fn::GetAtt"]
            assert attr == "Arn", value
            return f"arn:aws:iam::{ACCOUNT}:role/{logical_id}"
        if "Fn::Join" in value:
            sep, parts = value["Fn::Join"]
            return sep.join(_resolve(p) for p in parts)
        if "Ref" in value:
            return {"AWS::Partition": "aws", "AWS::AccountId": ACCOUNT, "AWS::Region": "us-east-1"}[value["Ref"]]
        return {k: _resolve(v) for k, v in value.items()}
    return value


def _condition_holds(operator: str, key: str, expected, context: dict) -> bool:
    expected = expected if isinstance(expected, list) else [expected]
    present = key in context
    if operator in ("ArnNotEquals", "StringNotEquals"):
        return not present or context[key] not in expected  # a missing key satisfies a negation
    if operator in ("ArnEquals", "StringEquals"):
        return present and context[key] in expected
    raise AssertionError(f"the test's evaluator does not know {operator}: extend it before relying on it")


def _denied(statements, *, principal: str, action: str, context: dict) -> bool:
    context = {"aws:PrincipalArn": principal, **context}
    for s in _resolve(statements):
        if s["Effect"] != "Deny" or not any(fnmatch.fnmatchcase(action, a) for a in actions(s)):
            continue
        assert s["Principal"] == {"AWS": "*"}, s  # the fences name no principal, they except ARNs
        if all(
            _condition_holds(op, key, expected, context)
            for op, pairs in s.get("Condition", {}).items()
            for key, expected in pairs.items()
        ):
            return True
    return False


def _principals(statement) -> list:
    aws = statement["Principal"].get("AWS", [])
    return aws if isinstance(aws, list) else [aws]


@pytest.fixture(scope="module")
def fence(template):
    key = ref_id(template, "AWS::KMS::Key", "PseudonymisationKey")
    secret = ref_id(template, "AWS::SecretsManager::Secret", "Keyring")
    secret_policies = [
        p["Properties"]["ResourcePolicy"]["Statement"]
        for p in template.find_resources("AWS::SecretsManager::ResourcePolicy").values()
        if p["Properties"]["SecretId"] == {"Ref": secret}
    ]
    assert len(secret_policies) == 1
    return {
        "key": template.find_resources("AWS::KMS::Key")[key]["Properties"]["KeyPolicy"]["Statement"],
        "secret": secret_policies[0],
        "scrubber": _resolve({"Fn::GetAtt": [ref_id(template, "AWS::IAM::Role", "ScrubberRole"), "Arn"]}),
        "backfill": _resolve({"Fn::GetAtt": [ref_id(template, "AWS::IAM::Role", "BackfillFunctionRole"), "Arn"]}),
        "break_glass": _resolve({"Fn::GetAtt": [ref_id(template, "AWS::IAM::Role", "BreakGlass"), "Arn"]}),
    }


def test_the_secret_policy_denies_reading_to_all_but_the_scrubber_and_break_glass(template, fence):
    [deny] = [s for s in fence["secret"] if s["Effect"] == "Deny"]
    assert [s for s in fence["secret"] if s["Effect"] == "Allow"] == []  # it grants nothing
    assert deny["Action"] == "secretsmanager:GetSecretValue" and deny["Principal"] == {"AWS": "*"}
    assert deny["Resource"] == "*"
    assert set(deny["Condition"]) == {"ArnNotEquals"}
    assert sorted(_resolve(deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"])) == sorted(
        [fence["scrubber"], fence["backfill"], fence["break_glass"]]
    )
    read = {"action": "secretsmanager:GetSecretValue", "context": {}}
    assert _denied(fence["secret"], principal=ADMIN, **read)
    assert _denied(fence["secret"], principal=ROOT_ARN, **read)
    assert not _denied(fence["secret"], principal=fence["scrubber"], **read)
    assert not _denied(fence["secret"], principal=fence["backfill"], **read)  # it runs the same scrubber
    assert not _denied(fence["secret"], principal=fence["break_glass"], **read)
    assert not _denied(fence["secret"], principal=ADMIN, action="secretsmanager:DescribeSecret", context={})


def test_the_key_policy_denies_decrypting_to_all_but_the_scrubber_and_break_glass(fence):
    [deny] = [s for s in fence["key"] if s["Effect"] == "Deny"]
    assert sorted(actions(deny)) == ["kms:Decrypt", "kms:ReEncryptFrom"]
    assert deny["Principal"] == {"AWS": "*"} and deny["Resource"] == "*"
    assert deny["Condition"] == {
        "ArnNotEquals": {"aws:PrincipalArn": deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]},
        # Secrets Manager's own check that the caller may use the key, when a secret is created
        # with it: a data key made for the check, never the keyring's (see stacks/pseudonymisation.py)
        "StringNotEquals": {"kms:EncryptionContext:SecretVersionId": "RequestToValidateKeyAccess"},
    }
    assert sorted(_resolve(deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"])) == sorted(
        [fence["scrubber"], fence["backfill"], fence["break_glass"]]
    )
    version = {"kms:EncryptionContext:SecretVersionId": "0f5c3d2e-version-of-the-keyring"}
    via_secrets_manager = {"kms:ViaService": SECRETS_MANAGER, **version}
    for action in ("kms:Decrypt", "kms:ReEncryptFrom"):
        # an administrator: neither directly nor through Secrets Manager, with or without context
        assert _denied(fence["key"], principal=ADMIN, action=action, context=version)
        assert _denied(fence["key"], principal=ADMIN, action=action, context=via_secrets_manager)
        assert _denied(fence["key"], principal=ADMIN, action=action, context={})
        assert _denied(fence["key"], principal=ROOT_ARN, action=action, context=version)
    # Secrets Manager decrypting for the scrubber's GetSecretValue is a forward access session:
    # KMS sees the scrubber's role as the principal, which the deny excepts
    assert not _denied(fence["key"], principal=fence["scrubber"], action="kms:Decrypt", context=via_secrets_manager)
    assert not _denied(fence["key"], principal=fence["backfill"], action="kms:Decrypt", context=via_secrets_manager)
    assert not _denied(fence["key"], principal=fence["break_glass"], action="kms:Decrypt", context=via_secrets_manager)
    # CloudFormation creating the secret: Secrets Manager checks the caller may use the key
    cfn = f"arn:aws:iam::{ACCOUNT}:role/cdk-hnb659fds-cfn-exec-role-{ACCOUNT}-us-east-1"
    check = {"kms:ViaService": SECRETS_MANAGER, "kms:EncryptionContext:SecretVersionId": "RequestToValidateKeyAccess"}
    assert not _denied(fence["key"], principal=cfn, action="kms:Decrypt", context=check)
    assert not _denied(fence["key"], principal=cfn, action="kms:GenerateDataKey", context=version)


def test_the_keyring_key_stays_administrable_and_usable_by_its_readers(fence):
    # nothing but decryption is denied, to anyone: the account keeps administering the key
    for action in ("kms:PutKeyPolicy", "kms:GetKeyPolicy", "kms:ScheduleKeyDeletion", "kms:EnableKeyRotation",
                   "kms:DescribeKey", "kms:GenerateDataKey", "kms:Encrypt", "kms:CreateGrant"):
        assert not _denied(fence["key"], principal=ROOT_ARN, action=action, context={})
        assert not _denied(fence["key"], principal=ADMIN, action=action, context={})
    root_allows = [s for s in _resolve(fence["key"]) if s["Effect"] == "Allow" and s["Principal"] == {"AWS": ROOT_ARN}
                   and s["Action"] == "kms:*" and "Condition" not in s]
    assert len(root_allows) == 1
    # the readers' own grant: decryption only through Secrets Manager
    for reader in ("scrubber", "backfill", "break_glass"):
        grants = [s for s in _resolve(fence["key"]) if s["Effect"] == "Allow" and "kms:Decrypt" in actions(s)
                  and fence[reader] in _principals(s)]
        assert len(grants) == 1 and grants[0]["Condition"] == {"StringEquals": {"kms:ViaService": SECRETS_MANAGER}}


def test_the_break_glass_role_is_named_trusts_the_account_and_only_touches_the_keyring(template):
    role, stmts = policies_of(template, "BreakGlass")
    props = template.find_resources("AWS::IAM::Role")[role]["Properties"]
    assert props["RoleName"] == "pii-scrub-keyring-break-glass" and props["MaxSessionDuration"] == 3600
    [trust] = _resolve(props["AssumeRolePolicyDocument"]["Statement"])
    assert trust == {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"AWS": ROOT_ARN}}
    secret = ref_id(template, "AWS::SecretsManager::Secret", "Keyring")
    assert [(s["Effect"], s["Resource"]) for s in stmts] == [("Allow", {"Ref": secret})]
    assert actions(stmts[0]) == [
        "secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecret", "secretsmanager:UpdateSecretVersionStage",
    ]
    assert "ManagedPolicyArns" not in props


def test_break_glass_role_name_follows_the_prefix_and_is_validated():
    assert load_config({"name_prefix": "acme-pii"}).keyring_break_glass_role_name == "acme-pii-keyring-break-glass"
    assert load_config({"keyring_break_glass_role_name": "kr-bg"}).keyring_break_glass_role_name == "kr-bg"
    with pytest.raises(ConfigError, match=r"^pipeline\.keyring_break_glass_role_name is not a valid IAM role name"):
        load_config({"keyring_break_glass_role_name": "has space"})
    with pytest.raises(ConfigError, match="keyring_break_glass_role_name must differ from pipeline.quarantine_reader_role_name"):
        load_config({"keyring_break_glass_role_name": "same", "quarantine_reader_role_name": "same"})


def test_every_bucket_policy_denies_tls_below_1_2_on_the_bucket_and_its_objects(template):
    buckets = template.find_resources("AWS::S3::Bucket")
    policies = {p["Properties"]["Bucket"]["Ref"]: p for p in template.find_resources("AWS::S3::BucketPolicy").values()}
    assert set(policies) == set(buckets) and len(buckets) == 5  # access logs, lake, receipts, query results, backfill
    for bucket, policy in policies.items():
        tls = [s for s in policy["Properties"]["PolicyDocument"]["Statement"]
               if s["Effect"] == "Deny" and "s3:TlsVersion" in s.get("Condition", {}).get("NumericLessThan", {})]
        assert len(tls) == 1, bucket
        [s] = tls
        assert s["Condition"] == {"NumericLessThan": {"s3:TlsVersion": 1.2}}
        assert s["Action"] == "s3:*" and s["Principal"] == {"AWS": "*"}
        arn = {"Fn::GetAtt": [bucket, "Arn"]}
        assert s["Resource"] == [arn, {"Fn::Join": ["", [arn, "/*"]]}]
