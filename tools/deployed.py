"""What a rehearsal deploy left on the local cloud, looked up resource by resource with the
services' own APIs (not CloudFormation's word for it); and, before a deploy, which names the stack
would take are already held by something else on the server (the twin's resources, a failed
earlier rehearsal), so that a deploy never takes them over.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from tools.rehearsal import literal

_NOT_FOUND = {"NotFoundException", "ResourceNotFoundException", "NoSuchEntity", "NoSuchBucket", "404", "NotFound",
              "ResourceNotFound"}

# The property that names each kind of resource (a fixed name in the template can collide).
NAME_PROPERTY = {
    "AWS::S3::Bucket": "BucketName", "AWS::Kinesis::Stream": "Name", "AWS::DynamoDB::Table": "TableName",
    "AWS::Lambda::Function": "FunctionName", "AWS::IAM::Role": "RoleName", "AWS::KMS::Alias": "AliasName",
    "AWS::Logs::LogGroup": "LogGroupName", "AWS::SNS::Topic": "TopicName", "AWS::CloudWatch::Dashboard": "DashboardName",
}


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def _found(call: Callable[[], object]) -> bool:
    try:
        call()
    except ClientError as exc:
        if _code(exc) in _NOT_FOUND:
            return False
        raise
    return True


# KMS is listed, not described: moto (5.2) keeps the key policy of a key it creates from a template
# as an object, and its DescribeKey then fails with an internal error.
def _kms_keys(cloud) -> set[str]:
    pages = cloud.client("kms").get_paginator("list_keys").paginate()
    return {k["KeyId"] for page in pages for k in page["Keys"]}


def _kms_aliases(cloud) -> dict[str, str]:
    """Alias name -> the id of the key it points at."""
    pages = cloud.client("kms").get_paginator("list_aliases").paginate()
    return {a["AliasName"]: a.get("TargetKeyId", "") for page in pages for a in page["Aliases"]}


def exists(cloud, resource_type: str, name: str, account: str, region: str) -> bool | None:
    """Whether a resource of ``resource_type`` named ``name`` (its physical id) is on ``cloud``;
    None for a type this module does not look up."""
    c = cloud.client
    lookups: dict[str, Callable[[], object]] = {
        "AWS::S3::Bucket": lambda: c("s3").head_bucket(Bucket=name),
        "AWS::Kinesis::Stream": lambda: c("kinesis").describe_stream_summary(StreamName=name),
        "AWS::DynamoDB::Table": lambda: c("dynamodb").describe_table(TableName=name),
        "AWS::Lambda::Function": lambda: c("lambda").get_function(FunctionName=name),
        "AWS::IAM::Role": lambda: c("iam").get_role(RoleName=name),
        "AWS::SNS::Topic": lambda: c("sns").get_topic_attributes(
            TopicArn=name if name.startswith("arn:") else f"arn:aws:sns:{region}:{account}:{name}"),
        "AWS::CloudWatch::Dashboard": lambda: c("cloudwatch").get_dashboard(DashboardName=name),
    }
    if resource_type == "AWS::KMS::Key":
        return name in _kms_keys(cloud)
    if resource_type == "AWS::KMS::Alias":
        return name in _kms_aliases(cloud)
    if resource_type == "AWS::Logs::LogGroup":
        groups = c("logs").describe_log_groups(logGroupNamePrefix=name).get("logGroups", [])
        return any(g["logGroupName"] == name for g in groups)
    lookup = lookups.get(resource_type)
    return None if lookup is None else _found(lookup)


def taken_names(cloud, template: Mapping, owned: Mapping[str, str], account: str, region: str) -> list[str]:
    """The fixed names in ``template`` that a resource on ``cloud`` already holds and the stack
    does not own (``owned``: logical id -> physical id of the stack's resources, if it exists)."""
    taken = []
    for lid, r in template.get("Resources", {}).items():
        prop = NAME_PROPERTY.get(r.get("Type", ""))
        name = literal((r.get("Properties") or {}).get(prop), account, region) if prop else None
        if name is None:
            continue
        mine = owned.get(lid)
        if mine is not None and (mine == name or mine.endswith(f":{name}")):
            continue
        if exists(cloud, r["Type"], name, account, region):
            taken.append(f"{r['Type']} {name}")
    return sorted(taken)


@dataclass
class ResourceCheck:
    found: dict[str, int] = field(default_factory=dict)  # type -> how many were looked up and found
    missing: list[str] = field(default_factory=list)  # "<type> <logical id> (<physical id>)": not on the server
    wrong: list[str] = field(default_factory=list)  # found, but not as the template says: "<what>: <why>"
    unchecked: dict[str, int] = field(default_factory=dict)  # type -> count, for types not looked up
    code_from_assets: int = 0  # Lambda functions whose code is the asset object the CLI uploaded

    @property
    def passed(self) -> bool:
        return not (self.missing or self.wrong)


def _lambda_code(cloud, pid: str, props: Mapping) -> str | None:
    """Why the function's code is not the asset the CLI uploaded, or None: its CodeSha256 is
    the SHA-256 of the S3 object the template names."""
    code = props.get("Code") or {}
    bucket, key = code.get("S3Bucket"), code.get("S3Key")
    if not (isinstance(bucket, str) and isinstance(key, str)):
        return "its code is not an S3 asset with a literal bucket and key"
    body = cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    got = cloud.client("lambda").get_function(FunctionName=pid)["Configuration"].get("CodeSha256")
    return None if got == digest else f"its code (sha256 {got}) is not s3://{bucket}/{key} (sha256 {digest})"


def _key_rotation(cloud, pid: str, props: Mapping) -> str | None:
    want = bool(props.get("EnableKeyRotation", False))
    got = cloud.client("kms").get_key_rotation_status(KeyId=pid)["KeyRotationEnabled"]
    return None if got == want else f"key rotation is {'on' if got else 'off'}, the template asks for {'on' if want else 'off'}"


def _alias_target(cloud, pid: str, props: Mapping, physical: Mapping[str, str]) -> str | None:
    target = props.get("TargetKeyId")
    want = physical.get(target["Ref"]) if isinstance(target, Mapping) and "Ref" in target else None
    if want is None:
        return None
    got = _kms_aliases(cloud).get(pid)
    return None if got == want else f"points at key {got}, the template's key is {want}"


def _inline_policy(cloud, props: Mapping, physical: Mapping[str, str]) -> str | None:
    """Why the policy is not on each of its roles under its name, or None."""
    name = props.get("PolicyName")
    roles = [physical.get(r["Ref"]) for r in props.get("Roles", []) if isinstance(r, Mapping) and "Ref" in r]
    if not isinstance(name, str) or not roles:
        return "names no role of the stack, or has no literal PolicyName"
    iam = cloud.client("iam")
    for role in roles:
        if role is None or not _found(lambda role=role: iam.get_role_policy(RoleName=role, PolicyName=name)):
            return f"policy {name} is not on role {role}"
    return None


def check_resources(cloud, template: Mapping, physical: Mapping[str, str], account: str, region: str) -> ResourceCheck:
    """Each resource moto created (``physical``: logical id -> physical id), looked up on
    ``cloud``; for some, a property too: a Lambda function's code is the uploaded asset, a KMS
    key's rotation, the key an alias points at, the roles an inline policy is attached to."""
    result = ResourceCheck()
    resources = template.get("Resources", {})
    for lid, pid in sorted(physical.items()):
        r = resources.get(lid, {})
        rtype, props = r.get("Type", "?"), r.get("Properties") or {}
        what = f"{rtype} {lid} ({pid})"
        if rtype == "AWS::IAM::Policy":
            why = _inline_policy(cloud, props, physical)
            if why is None:
                result.found[rtype] = result.found.get(rtype, 0) + 1
            else:
                result.missing.append(f"{what}: {why}")
            continue
        here = exists(cloud, rtype, pid, account, region)
        if here is None:
            result.unchecked[rtype] = result.unchecked.get(rtype, 0) + 1
            continue
        if not here:
            result.missing.append(what)
            continue
        result.found[rtype] = result.found.get(rtype, 0) + 1
        why = None
        if rtype == "AWS::Lambda::Function":
            why = _lambda_code(cloud, pid, props)
            result.code_from_assets += why is None
        elif rtype == "AWS::KMS::Key":
            why = _key_rotation(cloud, pid, props)
        elif rtype == "AWS::KMS::Alias":
            why = _alias_target(cloud, pid, props, physical)
        if why is not None:
            result.wrong.append(f"{what}: {why}")
    return result
