"""The offline twin: the whole pipeline on moto, in-process, with no AWS account and no Docker.

Resources are created under the same names and configuration as the CDK app (read from the same
``cdk.json`` context). The producer and scrubbing handlers are the real Lambda handlers, run
in-process; ``FirehoseEmulator`` stands in for the Firehose service that moto lacks.
"""

from __future__ import annotations

import gzip
import json
import os
import secrets
import string
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ACCOUNT = "123456789012"
REGION = "us-east-1"
ON_DEMAND_INITIAL_SHARDS = 4  # an on-demand stream starts with 4 shards (4 MB/s, 4,000 records/s in)


class FakeLambdaContext:
    def __init__(self, function_name: str, timeout_s: int, memory_mb: int):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name}"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "twin"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class Summary:
    produced: int
    sent: int
    producer_failed: int
    producer_batches: int
    producer_retried: int
    throttled_entries: int
    malformed_injected: int
    read: int
    invocations: int
    delivered: int
    redacted: int
    consented: int
    dropped: int
    quarantined: int
    objects_written: int
    quarantine_objects: int
    max_lambda_request_bytes: int
    max_lambda_response_bytes: int
    elapsed_seconds: float
    out_dir: str | None = None
    out_holds: str | None = None  # what out_dir holds after the run
    unreadable_delivered: int = 0  # delivered lines without readable provenance (never expected)
    counts_add_up: bool = False
    data_keys: list = field(default_factory=list)
    quarantine_keys: list = field(default_factory=list)

    def report(self) -> str:
        lines = [
            "Offline pipeline run (moto, in-process)",
            f"  produced            {self.produced:>10,}  (sent {self.sent:,}, failed {self.producer_failed:,}, "
            f"PutRecords calls {self.producer_batches:,}, retried {self.producer_retried:,}, "
            f"throttled by shard limits {self.throttled_entries:,})",
            f"  read by Firehose    {self.read:>10,}  in {self.invocations:,} Lambda invocations "
            f"(largest request {self.max_lambda_request_bytes / 1e6:.2f} MB, response {self.max_lambda_response_bytes / 1e6:.2f} MB)",
            f"  delivered           {self.delivered:>10,}  ({self.consented:,} with consent to every purpose; "
            f"{self.redacted:,} redacted for lack of consent or for personal data in free text)",
            *([f"  UNREADABLE          {self.unreadable_delivered:>10,}  delivered lines that are not JSON objects "
               "with provenance naming a loaded contract"] if self.unreadable_delivered else []),
            f"  dropped             {self.dropped:>10,}",
            f"  quarantined         {self.quarantined:>10,}  ({self.malformed_injected:,} malformed records injected)",
            f"  objects written     {self.objects_written:>10,}  data + {self.quarantine_objects:,} quarantine",
            f"  elapsed             {self.elapsed_seconds:>10.2f} s",
            f"  counts add up       {'yes' if self.counts_add_up else 'NO'}  "
            f"(sent {self.sent:,} = delivered {self.delivered:,} + dropped {self.dropped:,} + quarantined {self.quarantined:,})",
        ]
        if self.out_dir:
            lines.append(f"  output              {self.out_dir} holds {self.out_holds}")
        return "\n".join(lines)


@contextmanager
def _twin_environment(overrides: dict[str, str]):
    """Environment of the in-process Lambdas; restored afterwards so the caller's is untouched."""
    defaults = {
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "AWS_DEFAULT_REGION": REGION,
        # moto needs credentials to sign with; these never leave the process.
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
    }
    saved = dict(os.environ)
    for k, v in defaults.items():
        os.environ.setdefault(k, v)
    os.environ.update(overrides)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def create_resources(config, boto3_session):
    """Create on moto what the CDK app creates on AWS, with the same names."""
    kms = boto3_session.client("kms")
    kinesis = boto3_session.client("kinesis")
    s3 = boto3_session.client("s3")
    firehose = boto3_session.client("firehose")
    logs = boto3_session.client("logs")

    keys = {}
    for name, desc in (("stream", "raw event stream"), ("lake", "data lake")):
        k = kms.create_key(Description=desc)["KeyMetadata"]
        kms.enable_key_rotation(KeyId=k["KeyId"])
        kms.create_alias(AliasName=f"alias/{config.name_prefix}/{name}", TargetKeyId=k["KeyId"])
        keys[name] = k["Arn"]

    shards = config.stream.shard_count if config.stream.mode == "PROVISIONED" else ON_DEMAND_INITIAL_SHARDS
    kinesis.create_stream(StreamName=config.stream_name, ShardCount=shards)
    kinesis.increase_stream_retention_period(StreamName=config.stream_name, RetentionPeriodHours=config.stream.retention_hours) if config.stream.retention_hours > 24 else None
    kinesis.start_stream_encryption(StreamName=config.stream_name, EncryptionType="KMS", KeyId=keys["stream"])

    bucket = config.data_bucket_name(ACCOUNT, REGION)
    s3.create_bucket(Bucket=bucket)
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
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": keys["lake"]}, "BucketKeyEnabled": True}]
        },
    )
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
    logs.create_log_group(logGroupName=config.firehose_log_group_name)
    # The pseudonymisation keyring, as Secrets Manager generates it in the CDK app: one random
    # 64-character key under id v1.
    secret_key = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(64))
    secret_arn = boto3_session.client("secretsmanager").create_secret(
        Name=config.pseudonym_secret_name,
        KmsKeyId=keys["stream"],
        SecretString=json.dumps({"current": "v1", "v1": secret_key}),
    )["ARN"]
    stream_arn = kinesis.describe_stream_summary(StreamName=config.stream_name)["StreamDescriptionSummary"]["StreamARN"]
    scrubber_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{config.scrubber_function_name}"
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{config.name_prefix}-firehose"
    firehose.create_delivery_stream(
        DeliveryStreamName=config.delivery_stream_name,
        DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": stream_arn, "RoleARN": role_arn},
        ExtendedS3DestinationConfiguration={
            "RoleARN": role_arn,
            "BucketARN": f"arn:aws:s3:::{bucket}",
            "Prefix": config.delivery.data_prefix,
            "ErrorOutputPrefix": config.delivery.quarantine_prefix,
            "CompressionFormat": "GZIP",
            "BufferingHints": {"SizeInMBs": config.delivery.buffering_size_mib, "IntervalInSeconds": config.delivery.buffering_interval_seconds},
            "EncryptionConfiguration": {"KMSEncryptionConfig": {"AWSKMSKeyARN": keys["lake"]}},
            "ProcessingConfiguration": {
                "Enabled": True,
                "Processors": [
                    {
                        "Type": "Lambda",
                        "Parameters": [
                            {"ParameterName": "LambdaArn", "ParameterValue": scrubber_arn},
                            {"ParameterName": "BufferSizeInMBs", "ParameterValue": str(config.delivery.processor_buffer_size_mib)},
                            {"ParameterName": "BufferIntervalInSeconds", "ParameterValue": str(config.delivery.processor_buffer_interval_seconds)},
                            {"ParameterName": "NumberOfRetries", "ParameterValue": str(config.delivery.processor_retries)},
                        ],
                    }
                ],
            },
        },
    )
    return {"keys": keys, "bucket": bucket, "stream_arn": stream_arn, "scrubber_arn": scrubber_arn, "kinesis": kinesis, "s3": s3,
            "secret_arn": secret_arn}


def read_objects(s3, bucket: str, prefix: str) -> dict[str, bytes]:
    out = {}
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            out[obj["Key"]] = gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body
    return out


def run_pipeline(
    *,
    config=None,
    events: int = 10_000,
    seed: int = 7,
    consent_ratio: float = 0.5,
    consent_noise: float = 0.02,
    malformed_ratio: float = 0.005,
    subjects: int | None = None,
    out_dir: str | Path | None = None,
    throughput_limits: bool = True,
    producer_payload_extra: dict | None = None,
    inspect=None,
) -> Summary:
    """Run the pipeline end to end on moto. ``inspect(s3, bucket)`` runs before moto is torn down.

    ``out_dir``: a folder that receives a copy of the delivered objects and ``summary.json``; it
    is emptied of an earlier run's output first, and refused (``OutDirError``, before anything
    runs) if it holds anything else (``twin.outdir``)."""
    import tempfile

    from privacy.contract import bundle_json
    from stacks.config import load_contracts, load_from_cdk_json
    from twin.outdir import prepare

    config = config or load_from_cdk_json(ROOT / "cdk.json")
    out = prepare(out_dir) if out_dir is not None else None
    with tempfile.TemporaryDirectory() as tmp:
        # The same compiled bundle the CDK app ships in the scrubber's asset.
        contracts = load_contracts(config.contracts)
        bundle = Path(tmp) / "contracts.json"
        bundle.write_text(bundle_json(contracts), encoding="utf-8")
        env = {
            "STREAM_NAME": config.stream_name,
            "CONTRACT_SELECTOR": config.contracts.selector_json(),
            "CONTRACTS_FILE": str(bundle),
        }
        with _twin_environment(env):
            return _run(config, contracts, events, seed, consent_ratio, consent_noise, malformed_ratio, subjects, out,
                        throughput_limits, producer_payload_extra, inspect)


def _contract_set(config, contracts):
    """The contracts as the scrubber runs them, to read consent from delivered lines (with a
    throwaway keyring: counting never pseudonymises)."""
    from privacy.engine import ContractSet
    from privacy.keys import Keyring

    c = config.contracts
    return ContractSet(contracts, type_field=c.type_field, version_field=c.version_field,
                       default_contract=c.default_contract, default_versions=dict(c.default_versions),
                       token=c.redaction_token, keyring=Keyring({"count": b"\0" * 32}, "count"))


def _run(config, contracts, events, seed, consent_ratio, consent_noise, malformed_ratio, subjects, out,
         throughput_limits, producer_payload_extra, inspect) -> Summary:
    import boto3
    from moto import mock_aws

    from twin.counts import count_delivered
    from twin.firehose import FirehoseEmulator
    from twin.kinesis_limits import KinesisLimits

    started = time.perf_counter()
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        res = create_resources(config, session)
        kinesis, s3 = res["kinesis"], res["s3"]

        limits = KinesisLimits(kinesis.list_shards(StreamName=config.stream_name)["Shards"], throughput=throughput_limits)
        from producer import handler as producer_handler
        from botocore.config import Config

        producer_client = session.client("kinesis", config=producer_handler.BOTO_CONFIG.merge(Config()))
        limits.install(producer_client)
        producer_handler._client = producer_client
        payload = {
            "count": events,
            "seed": seed,
            "consent_ratio": consent_ratio,
            "consent_noise": consent_noise,
            "malformed_ratio": malformed_ratio,
            "subjects": subjects or max(1, events // 5),
            "start_time": "2026-01-15T09:30:00Z",
        }
        payload.update(producer_payload_extra or {})
        prod = producer_handler.lambda_handler(
            payload, FakeLambdaContext(config.producer_function_name, config.producer.timeout_seconds, config.producer.memory_mb)
        )
        if "error" in prod:
            raise ValueError(prod["error"])
        producer_handler._client = None

        import importlib

        os.environ["PSEUDONYM_SECRET_ARN"] = res["secret_arn"]
        from aws_lambda_powertools.utilities import parameters

        parameters.clear_caches()
        import scrubber.handler as scrubber_handler

        scrubber_handler = importlib.reload(scrubber_handler)  # picks up SCRUB_POLICY
        emulator = FirehoseEmulator(
            kinesis=kinesis,
            s3=s3,
            config=config,
            handler=scrubber_handler.lambda_handler,
            context_factory=lambda: FakeLambdaContext(
                config.scrubber_function_name, config.scrubber.timeout_seconds, config.scrubber.memory_mb
            ),
            bucket=res["bucket"],
            kms_key_arn=res["keys"]["lake"],
            region=REGION,
            account=ACCOUNT,
            lambda_arn=res["scrubber_arn"],
        )
        stats = emulator.run()

        # Count from what actually landed in S3, not from what the emulator believes it wrote.
        data = read_objects(s3, res["bucket"], config.delivery.data_root)
        quarantine = read_objects(s3, res["bucket"], config.delivery.quarantine_root)
        counts = count_delivered(data.values(), _contract_set(config, contracts))
        quarantined = sum(len(b.splitlines()) for b in quarantine.values())
        if out is not None:
            out.write_objects(res["bucket"], data, quarantine=False)
            out.write_objects(res["bucket"], quarantine, quarantine=True)
        if inspect is not None:
            inspect(s3, res["bucket"])

    summary = Summary(
        produced=prod["produced"],
        sent=prod["sent"],
        producer_failed=prod["failed"],
        producer_batches=prod["batches"],
        producer_retried=prod["retried"],
        throttled_entries=limits.stats.throttled_entries,
        malformed_injected=prod["malformed"],
        read=stats.records_read,
        invocations=stats.invocations,
        delivered=counts.delivered,
        redacted=counts.redacted,
        consented=counts.consented,
        unreadable_delivered=counts.unreadable,
        dropped=stats.dropped,
        quarantined=quarantined,
        objects_written=len(data),
        quarantine_objects=len(quarantine),
        max_lambda_request_bytes=stats.max_request_bytes,
        max_lambda_response_bytes=stats.max_response_bytes,
        elapsed_seconds=round(time.perf_counter() - started, 2),
        out_dir=str(out.path) if out else None,
        out_holds=out.holds() if out else None,
        data_keys=sorted(data),
        quarantine_keys=sorted(quarantine),
    )
    summary.counts_add_up = (
        summary.sent == summary.read == summary.delivered + summary.dropped + summary.quarantined
        and summary.produced == summary.sent + summary.producer_failed
    )
    if out is not None:
        out.write_summary({**asdict(summary), "complete": True})
    return summary
