"""What the CDK app creates on AWS, created on the local cloud under the same names, or found there.

Idempotent: each command finds what an earlier one created and reuses it (the keys, the keyring
and the lake above all: pseudonyms stay stable and the lake accumulates), and puts again the
settings that a PUT replaces (bucket encryption, versioning, lifecycle, the delivery stream's
destination), so a changed configuration applies. What cannot be changed in place (a stream's shard
count) is refused with a message; ``python -m twin down`` then starts afresh.
"""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import dataclass, field

from botocore.exceptions import ClientError, ParamValidationError

from keystore.table import create_table

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
ON_DEMAND_INITIAL_SHARDS = 4  # an on-demand stream starts with 4 shards (4 MB/s, 4,000 records/s in)


class ResourceMismatch(Exception):
    """A resource exists with settings that cannot be changed in place. The message says which."""


@dataclass
class Resources:
    keys: dict
    bucket: str
    stream_arn: str
    scrubber_arn: str
    secret_arn: str
    subject_keys_table: str = ""
    receipts_bucket: str = ""
    created: list[str] = field(default_factory=list)  # what this call created (the rest was found)

    def scrubber_environment(self, config) -> dict[str, str]:
        """The per-subject key store, as the stack configures the scrubber (issue 11)."""
        sk = config.subject_keys
        return {"SUBJECT_KEYS_TABLE": self.subject_keys_table, "SUBJECT_KEYS_ROOT_KEY": self.keys["subject-keys-root"],
                "SUBJECT_KEYS_CACHE_TTL_S": str(sk.cache_ttl_seconds), "SUBJECT_KEYS_CACHE_SIZE": str(sk.cache_size)}

    def rights_environment(self, config, contracts_file: str) -> dict[str, str]:
        """The subject-rights function's environment, as the stack sets it."""
        return {
            "SUBJECT_KEYS_TABLE": self.subject_keys_table,
            "SUBJECT_KEYS_ROOT_KEY": self.keys["subject-keys-root"],
            "LAKE_BUCKET": self.bucket,
            "LAKE_PREFIX": config.delivery.data_prefix,
            "RECEIPTS_BUCKET": self.receipts_bucket,
            "CONTRACTS_FILE": contracts_file,
            "CONTRACT_SELECTOR": config.contracts.selector_json(),
            "SUBJECT_KEYS_CACHE_TTL_S": str(config.subject_keys.cache_ttl_seconds),
            "SUBJECT_KEYS_PITR_DAYS": str(config.subject_keys.point_in_time_recovery_days),
            "STREAM_RETENTION_HOURS": str(config.stream.retention_hours),
            "QUARANTINE_EXPIRATION_DAYS": str(config.storage.quarantine_expiration_days),
        }


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def _key(kms, alias: str, description: str, created: list[str]) -> str:
    try:
        return kms.describe_key(KeyId=alias)["KeyMetadata"]["Arn"]
    except ClientError as exc:
        if _code(exc) != "NotFoundException":
            raise
    k = kms.create_key(Description=description)["KeyMetadata"]
    kms.enable_key_rotation(KeyId=k["KeyId"])
    kms.create_alias(AliasName=alias, TargetKeyId=k["KeyId"])
    created.append(alias)
    return k["Arn"]


def _stream(kinesis, config, key_arn: str, created: list[str]) -> str:
    name = config.stream_name
    shards = config.stream.shard_count if config.stream.mode == "PROVISIONED" else ON_DEMAND_INITIAL_SHARDS
    try:
        summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    except ClientError as exc:
        if _code(exc) != "ResourceNotFoundException":
            raise
        kinesis.create_stream(StreamName=name, ShardCount=shards)
        created.append(name)
        summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    if summary["OpenShardCount"] != shards:
        raise ResourceMismatch(
            f"the local stream {name} has {summary['OpenShardCount']} shards and the configuration asks for {shards}; "
            "`make down` stops the local cloud (its lake too), and the next run starts afresh")
    hours = config.stream.retention_hours
    if summary["RetentionPeriodHours"] < hours:
        kinesis.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=hours)
    elif summary["RetentionPeriodHours"] > hours:
        kinesis.decrease_stream_retention_period(StreamName=name, RetentionPeriodHours=hours)
    if summary.get("EncryptionType") != "KMS":
        kinesis.start_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId=key_arn)
    return summary["StreamARN"]


def _bucket(s3, config, key_arn: str, created: list[str], bucket: str | None = None) -> str:
    """The lake bucket (or another private bucket under the lake key: the receipts')."""
    lake = bucket is None
    bucket = bucket or config.data_bucket_name(ACCOUNT, REGION)
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if _code(exc) not in ("404", "NoSuchBucket"):
            raise
        s3.create_bucket(Bucket=bucket)
        created.append(bucket)
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
                       "BucketKeyEnabled": True}]
        },
    )
    if not lake:  # the receipts bucket: exports (personal data, decrypted) expire after a day, as deployed
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
            {"ID": "exports-expire", "Filter": {"Prefix": "exports/"}, "Status": "Enabled", "Expiration": {"Days": 1},
             "NoncurrentVersionExpiration": {"NoncurrentDays": 1}}]})
        return bucket
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "quarantine-expiry",
                    "Filter": {"Prefix": config.delivery.quarantine_root},
                    "Status": "Enabled",
                    "Expiration": {"Days": config.storage.quarantine_expiration_days},
                }
            ]
        },
    )
    return bucket


def _keyring(sm, config, key_arn: str, created: list[str]) -> str:
    """The pseudonymisation keyring, as Secrets Manager generates it in the CDK app: one random
    64-character key under id v1. Found, it is kept: pseudonyms stay the same between commands."""
    try:
        return sm.describe_secret(SecretId=config.pseudonym_secret_name)["ARN"]
    except ClientError as exc:
        if _code(exc) != "ResourceNotFoundException":
            raise
    secret_key = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(64))
    created.append(config.pseudonym_secret_name)
    return sm.create_secret(
        Name=config.pseudonym_secret_name,
        KmsKeyId=key_arn,
        SecretString=json.dumps({"current": "v1", "v1": secret_key}),
    )["ARN"]


def _key_table(dynamodb, config, kms_key_arn: str, created: list[str]) -> str:
    """The per-subject key table, as ``keystore`` creates it (idempotent)."""
    name = config.subject_keys_table_name
    try:
        dynamodb.describe_table(TableName=name)
    except ClientError as exc:
        if _code(exc) != "ResourceNotFoundException":
            raise
        created.append(name)
    create_table(dynamodb, name, kms_key_arn)  # keystore.table: the schema the stack deploys
    sk = config.subject_keys
    # as the stack sets them: point-in-time recovery per config; and the scrubbers' cache TTL,
    # recorded on the table, so that a receipt states what the pipeline ran with, not what a
    # later command's CONTEXT says
    days = sk.point_in_time_recovery_days
    spec = {"PointInTimeRecoveryEnabled": days > 0, **({"RecoveryPeriodInDays": days} if days else {})}
    try:
        dynamodb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification=spec)
    except (ClientError, ParamValidationError):  # an emulator without the recovery period
        spec.pop("RecoveryPeriodInDays", None)
        dynamodb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification=spec)
    arn = dynamodb.describe_table(TableName=name)["Table"]["TableArn"]
    dynamodb.tag_resource(ResourceArn=arn, Tags=[{"Key": CACHE_TTL_TAG, "Value": str(sk.cache_ttl_seconds)},
                                                 {"Key": PITR_TAG, "Value": str(days)}])
    return name


CACHE_TTL_TAG = "pii-scrub:scrubber-cache-ttl-seconds"
PITR_TAG = "pii-scrub:point-in-time-recovery-days"


def recorded_retention(dynamodb, table: str) -> dict[str, str]:
    """What the key table says the pipeline ran with: its point-in-time recovery (as the table
    reports it) and the scrubbers' cache TTL (recorded by the last run or push)."""
    arn = dynamodb.describe_table(TableName=table)["Table"]["TableArn"]
    tags = {t["Key"]: t["Value"] for t in dynamodb.list_tags_of_resource(ResourceArn=arn).get("Tags", [])}
    pitr = dynamodb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    desc = pitr.get("PointInTimeRecoveryDescription", {})
    on = desc.get("PointInTimeRecoveryStatus") == "ENABLED"
    days = str(desc.get("RecoveryPeriodInDays") or tags.get(PITR_TAG) or 35) if on else "0"
    return {"SUBJECT_KEYS_CACHE_TTL_S": tags.get(CACHE_TTL_TAG, "300"), "SUBJECT_KEYS_PITR_DAYS": days}


def _destination(config, bucket: str, role_arn: str, lake_key: str, scrubber_arn: str) -> dict:
    d = config.delivery
    return {
        "RoleARN": role_arn,
        "BucketARN": f"arn:aws:s3:::{bucket}",
        "Prefix": d.data_prefix,
        "ErrorOutputPrefix": d.quarantine_prefix,
        "CompressionFormat": "GZIP",
        "BufferingHints": {"SizeInMBs": d.buffering_size_mib, "IntervalInSeconds": d.buffering_interval_seconds},
        "EncryptionConfiguration": {"KMSEncryptionConfig": {"AWSKMSKeyARN": lake_key}},
        "ProcessingConfiguration": {
            "Enabled": True,
            "Processors": [
                {
                    "Type": "Lambda",
                    "Parameters": [
                        {"ParameterName": "LambdaArn", "ParameterValue": scrubber_arn},
                        {"ParameterName": "BufferSizeInMBs", "ParameterValue": str(d.processor_buffer_size_mib)},
                        {"ParameterName": "BufferIntervalInSeconds", "ParameterValue": str(d.processor_buffer_interval_seconds)},
                        {"ParameterName": "NumberOfRetries", "ParameterValue": str(d.processor_retries)},
                    ],
                }
            ],
        },
    }


def _delivery_stream(firehose, config, stream_arn: str, destination: dict, created: list[str]) -> None:
    name = config.delivery_stream_name
    try:
        desc = firehose.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
    except ClientError as exc:
        if _code(exc) != "ResourceNotFoundException":
            raise
        firehose.create_delivery_stream(
            DeliveryStreamName=name,
            DeliveryStreamType="KinesisStreamAsSource",
            KinesisStreamSourceConfiguration={"KinesisStreamARN": stream_arn, "RoleARN": destination["RoleARN"]},
            ExtendedS3DestinationConfiguration=destination,
        )
        created.append(name)
        return
    firehose.update_destination(
        DeliveryStreamName=name,
        CurrentDeliveryStreamVersionId=desc["VersionId"],
        DestinationId=desc["Destinations"][0]["DestinationId"],
        ExtendedS3DestinationUpdate=destination,
    )


def ensure_resources(config, cloud) -> Resources:
    """Create what is missing on ``cloud`` (a ``twin.server.LocalCloud``), update what is there."""
    created: list[str] = []
    kms = cloud.client("kms")
    keys = {name: _key(kms, f"alias/{config.name_prefix}/{name}", desc, created)
            for name, desc in (("stream", "raw event stream"), ("lake", "data lake"),
                               ("subject-keys", "per-subject key table (encryption at rest)"))}
    keys["subject-keys-root"] = _key(kms, config.subject_keys_alias, "per-subject key table's root secrets", created)
    stream_arn = _stream(cloud.client("kinesis"), config, keys["stream"], created)
    bucket = _bucket(cloud.client("s3"), config, keys["lake"], created)
    logs = cloud.client("logs")
    try:
        logs.create_log_group(logGroupName=config.firehose_log_group_name)
        created.append(config.firehose_log_group_name)
    except ClientError as exc:
        if _code(exc) != "ResourceAlreadyExistsException":
            raise
    secret_arn = _keyring(cloud.client("secretsmanager"), config, keys["stream"], created)
    table = _key_table(cloud.client("dynamodb"), config, keys["subject-keys"], created)
    receipts = _bucket(cloud.client("s3"), config, keys["lake"], created, config.receipts_bucket_name(ACCOUNT, REGION))
    scrubber_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{config.scrubber_function_name}"
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{config.name_prefix}-firehose"
    destination = _destination(config, bucket, role_arn, keys["lake"], scrubber_arn)
    _delivery_stream(cloud.client("firehose"), config, stream_arn, destination, created)
    return Resources(keys=keys, bucket=bucket, stream_arn=stream_arn, scrubber_arn=scrubber_arn, secret_arn=secret_arn,
                     subject_keys_table=table, receipts_bucket=receipts, created=created)


def find_resources(config, cloud) -> Resources:
    """What an earlier command created on ``cloud``, found and never created (the subject-rights
    commands read the lake and the keys that ``make run`` left). Raises ResourceMismatch naming
    the first thing missing."""
    def missing(what: str) -> ResourceMismatch:
        return ResourceMismatch(f"the local cloud has no {what} for name prefix {config.name_prefix!r}: run `make run` "
                                "first (with the same CONTEXT)")

    kms, s3 = cloud.client("kms"), cloud.client("s3")
    keys = {}
    for name, alias in (("stream", f"alias/{config.name_prefix}/stream"), ("lake", f"alias/{config.name_prefix}/lake"),
                        ("subject-keys-root", config.subject_keys_alias)):
        try:
            keys[name] = kms.describe_key(KeyId=alias)["KeyMetadata"]["Arn"]
        except ClientError as exc:
            if _code(exc) != "NotFoundException":
                raise
            raise missing(f"KMS key {alias}") from None
    buckets = [config.data_bucket_name(ACCOUNT, REGION), config.receipts_bucket_name(ACCOUNT, REGION)]
    for bucket in buckets:
        try:
            s3.head_bucket(Bucket=bucket)
        except ClientError as exc:
            if _code(exc) not in ("404", "NoSuchBucket"):
                raise
            raise missing(f"bucket {bucket}") from None
    try:
        cloud.client("dynamodb").describe_table(TableName=config.subject_keys_table_name)
    except ClientError as exc:
        if _code(exc) != "ResourceNotFoundException":
            raise
        raise missing(f"key table {config.subject_keys_table_name}") from None
    return Resources(keys=keys, bucket=buckets[0], stream_arn="", scrubber_arn="", secret_arn="",
                     subject_keys_table=config.subject_keys_table_name, receipts_bucket=buckets[1])
