"""KMS customer-managed keys, rotation on, one per concern."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from constructs import Construct

from .config import PipelineConfig


def rotating_key(scope: Construct, id: str, *, alias: str, description: str, removal_policy: cdk.RemovalPolicy) -> kms.Key:
    return kms.Key(
        scope, id, alias=alias, description=description, enable_key_rotation=True, removal_policy=removal_policy
    )


class Keys(Construct):
    def __init__(self, scope: Construct, id: str, *, config: PipelineConfig, removal_policy: cdk.RemovalPolicy):
        super().__init__(scope, id)
        self.stream_key = rotating_key(
            self,
            "StreamKey",
            alias=f"alias/{config.name_prefix}/stream",
            description="Encrypts the raw event stream (Kinesis server-side encryption)",
            removal_policy=removal_policy,
        )
        self.lake_key = rotating_key(
            self,
            "LakeKey",
            alias=f"alias/{config.name_prefix}/lake",
            description="Encrypts the scrubbed data lake and its quarantine (S3 SSE-KMS, bucket key on)",
            removal_policy=removal_policy,
        )
        self.log_key = rotating_key(
            self,
            "LogKey",
            alias=f"alias/{config.name_prefix}/logs",
            description="Encrypts the stack's CloudWatch log groups (function logs, Firehose delivery errors)",
            removal_policy=removal_policy,
        )
