"""The S3 sink: the data lake bucket, its quarantine prefix, and the access-log bucket.

Firehose writes processing-failed records *raw* (base64 of the original event) under the
quarantine prefix, so that prefix holds personal data: only the named quarantine-reader role (and
the redrive function's, ``allow_quarantine_read``) may read it (an explicit deny in the bucket
policy covers everyone else), and it expires quickly.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from .config import PipelineConfig
from .roles import person_role
from .scan_skips import skip

# Every action that reads object content or metadata, any version, replication included.
_READ_OBJECT_ACTIONS = ["s3:GetObject*", "s3:RestoreObject"]


class Storage(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: PipelineConfig,
        lake_key: kms.IKey,
        removal_policy: cdk.RemovalPolicy,
    ):
        super().__init__(scope, id)
        st = config.storage
        data_root = config.delivery.data_root
        quarantine_root = config.delivery.quarantine_root

        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            # S3 server access logging can only deliver to SSE-S3 buckets.
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=cdk.Duration.days(st.access_log_expiration_days),
                    noncurrent_version_expiration=cdk.Duration.days(1),
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
                )
            ],
            removal_policy=removal_policy,
        )
        skip(
            self.access_logs,
            "CKV_AWS_18",
            "This is the server access log target of the lake and receipts buckets; logging its own "
            "access would log the log writes (a loop), and reads of it are in CloudTrail.",
        )

        data_rule = s3.LifecycleRule(
            id="data-tiering",
            prefix=data_root or None,
            transitions=[
                s3.Transition(
                    storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                    transition_after=cdk.Duration.days(st.data_transition_to_ia_days),
                )
            ],
            expiration=cdk.Duration.days(st.data_expiration_days) if st.data_expiration_days else None,
            noncurrent_version_expiration=cdk.Duration.days(st.noncurrent_version_expiration_days),
        )
        self.bucket = s3.Bucket(
            self,
            "Lake",
            bucket_name=config.data_bucket_name(cdk.Aws.ACCOUNT_ID, cdk.Aws.REGION),
            encryption=s3.BucketEncryption.KMS,
            encryption_key=lake_key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="lake/",
            lifecycle_rules=[
                data_rule,
                s3.LifecycleRule(
                    id="quarantine-expiry",
                    prefix=quarantine_root,
                    expiration=cdk.Duration.days(st.quarantine_expiration_days),
                    noncurrent_version_expiration=cdk.Duration.days(1),
                ),
                s3.LifecycleRule(id="abort-multipart", abort_incomplete_multipart_upload_after=cdk.Duration.days(1)),
            ],
            removal_policy=removal_policy,
        )

        # The one role that may read quarantined records (for incident triage and replay).
        self.quarantine_reader = person_role(
            self,
            "QuarantineReader",
            role_name=config.quarantine_reader_role_name,
            description="The only principal allowed to read quarantined (raw, unscrubbed) records",
        )
        self.bucket.grant_read(self.quarantine_reader, f"{quarantine_root}*")
        # Everyone else is denied, but the roles let through with ``allow_quarantine_read`` (the
        # redrive function's: it puts the records back on the stream and never returns them).
        self._quarantine_readers = [self.quarantine_reader.role_arn]
        self._quarantine_fence = iam.PolicyStatement(
            sid="QuarantineReadableOnlyByReaderRole",
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=_READ_OBJECT_ACTIONS,
            resources=[self.bucket.arn_for_objects(f"{quarantine_root}*")],
            conditions={"ArnNotEquals": {"aws:PrincipalArn": self.quarantine_reader.role_arn}},
        )
        self.bucket.add_to_resource_policy(self._quarantine_fence)

    def allow_quarantine_read(self, role: iam.IRole) -> None:
        """Let ``role`` through the quarantine's fence (it still needs an allow of its own)."""
        self._quarantine_readers.append(role.role_arn)
        self._quarantine_fence.add_condition("ArnNotEquals", {"aws:PrincipalArn": list(self._quarantine_readers)})
