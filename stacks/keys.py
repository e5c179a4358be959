"""KMS customer-managed keys, rotation on, one per concern."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from constructs import Construct

from .config import PipelineConfig


class Keys(Construct):
    def __init__(self, scope: Construct, id: str, *, config: PipelineConfig, removal_policy: cdk.RemovalPolicy):
        super().__init__(scope, id)
        self.stream_key = kms.Key(
            self,
            "StreamKey",
            alias=f"alias/{config.name_prefix}/stream",
            description="Encrypts the raw event stream (Kinesis server-side encryption)",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        self.lake_key = kms.Key(
            self,
            "LakeKey",
            alias=f"alias/{config.name_prefix}/lake",
            description="Encrypts the scrubbed data lake and its quarantine (S3 SSE-KMS, bucket key on)",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
