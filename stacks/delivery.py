"""Delivery: Firehose reads the stream, the scrubbing Lambda transforms, S3 receives."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from privacy.contract import bundle_json

from .config import PipelineConfig, load_contracts
from .lambda_function import PythonFunction
from .log_groups import encrypted_log_group
from .subject_keys import SubjectKeys


class Delivery(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: PipelineConfig,
        stream: kinesis.IStream,
        bucket: s3.IBucket,
        lake_key: kms.IKey,
        log_key: kms.IKey,
        keyring: secretsmanager.ISecret,
        subject_keys: SubjectKeys,
        removal_policy: cdk.RemovalPolicy,
    ):
        super().__init__(scope, id)
        d = config.delivery
        # The data contracts, validated at synth and compiled into the scrubber's asset.
        self.contracts = load_contracts(config.contracts)
        self.contracts_json = contracts_json = bundle_json(self.contracts)
        self.scrubber = PythonFunction(
            self,
            "Scrubber",
            config=config,
            package="scrubber",
            extra_packages=("privacy", "streams", "keystore"),
            files={"contracts.json": contracts_json},
            function_name=config.scrubber_function_name,
            description="Firehose transform: applies each event's data contract and consent before it reaches the lake",
            settings=config.scrubber,
            environment={
                "CONTRACT_SELECTOR": config.contracts.selector_json(),
                "CONTRACTS_FILE": "/var/task/contracts.json",
                "PSEUDONYM_SECRET_ARN": keyring.secret_arn,
                **subject_keys.environment(),
            },
            removal_policy=removal_policy,
            log_key=log_key,
            no_dlq_reason=(
                "Firehose invokes the function synchronously (RequestResponse); a DLQ only receives failed "
                "asynchronous invocations. Firehose retries a failed batch, then writes it to the "
                "quarantine prefix (processing-failed): nothing is dropped."
            ),
        )
        keyring.grant_read(self.scrubber.role)
        subject_keys.grant_create_keys(self.scrubber.role)
        # records the response has no room for go back on the stream (scrubber/redrive.py)
        stream.grant(self.scrubber.role, "kinesis:PutRecords")
        if stream.encryption_key is not None:
            stream.encryption_key.grant(self.scrubber.role, "kms:GenerateDataKey")
        self.log_group = encrypted_log_group(
            self,
            "FirehoseErrors",
            name=config.firehose_log_group_name,
            key=log_key,
            retention_days=config.log_retention_days,
            removal_policy=removal_policy,
        )
        processor = firehose.LambdaFunctionProcessor(
            self.scrubber.function,
            buffer_interval=cdk.Duration.seconds(d.processor_buffer_interval_seconds),
            buffer_size=cdk.Size.mebibytes(d.processor_buffer_size_mib),
            retries=d.processor_retries,
        )
        # Our own role for the S3 destination so we can fence what the L2's grants allow.
        self.destination_role = iam.Role(
            self,
            "DestinationRole",
            assumed_by=iam.ServicePrincipal(
                "firehose.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": cdk.Aws.ACCOUNT_ID}}
            ),
            description="Firehose S3 destination role: writes scrubbed and quarantined objects",
        )
        # grantReadWrite (applied by the L2) includes deletes; Firehose never deletes objects or
        # changes the bucket. (Reads stay: s3:GetObject is in Firehose's documented permission set.)
        self.destination_role.add_to_policy(
            iam.PolicyStatement(
                sid="NeverDeleteOrChangeTheBucket",
                effect=iam.Effect.DENY,
                actions=["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutLifecycleConfiguration", "s3:PutBucketPolicy"],
                resources=[bucket.bucket_arn, bucket.arn_for_objects("*")],
            )
        )
        destination = firehose.S3Bucket(
            bucket,
            role=self.destination_role,
            processors=[processor],
            compression=firehose.Compression.GZIP,
            data_output_prefix=d.data_prefix,
            error_output_prefix=d.quarantine_prefix,
            buffering_interval=cdk.Duration.seconds(d.buffering_interval_seconds),
            buffering_size=cdk.Size.mebibytes(d.buffering_size_mib),
            encryption_key=lake_key,
            logging_config=firehose.EnableLogging(self.log_group),
        )
        self.delivery_stream = firehose.DeliveryStream(
            self,
            "DeliveryStream",
            delivery_stream_name=config.delivery_stream_name,
            source=firehose.KinesisStreamSource(stream),
            destination=destination,
        )
