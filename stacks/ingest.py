"""Ingest: the KMS-encrypted Kinesis data stream and the producer Lambda that feeds it."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from constructs import Construct

from privacy.contract import bundle_json

from .config import PipelineConfig, load_contracts
from .lambda_function import PythonFunction


class Ingest(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: PipelineConfig,
        stream_key: kms.IKey,
        log_key: kms.IKey,
        removal_policy: cdk.RemovalPolicy,
    ):
        super().__init__(scope, id)
        sc = config.stream
        on_demand = sc.mode == "ON_DEMAND"
        self.stream = kinesis.Stream(
            self,
            "Stream",
            stream_name=config.stream_name,
            encryption=kinesis.StreamEncryption.KMS,
            encryption_key=stream_key,
            stream_mode=kinesis.StreamMode.ON_DEMAND if on_demand else kinesis.StreamMode.PROVISIONED,
            shard_count=None if on_demand else sc.shard_count,
            retention_period=cdk.Duration.hours(sc.retention_hours),
            removal_policy=removal_policy,
        )
        self.producer = PythonFunction(
            self,
            "Producer",
            config=config,
            package="producer",
            extra_packages=("privacy", "streams"),
            files={"contracts.json": bundle_json(load_contracts(config.contracts))},
            function_name=config.producer_function_name,
            description="Pushes realistic, reproducible events about people onto the stream",
            settings=config.producer,
            environment={"STREAM_NAME": self.stream.stream_name, "CONTRACTS_FILE": "/var/task/contracts.json"},
            removal_policy=removal_policy,
            log_key=log_key,
            no_dlq_reason=(
                "Invoked synchronously by an operator (aws lambda invoke, RequestResponse) to generate "
                "synthetic load; a failure is returned to the caller, and no event is lost: it generates them."
            ),
        )
        # Least privilege: the producer only puts records, and only needs data keys for that.
        self.stream.grant(self.producer.role, "kinesis:PutRecords", "kinesis:PutRecord")
        stream_key.grant(self.producer.role, "kms:GenerateDataKey")
