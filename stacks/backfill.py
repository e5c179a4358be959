"""The lake-scale backfill: S3 Batch Operations invokes the backfill function once per historic
object, and the function runs the stream's scrubber over it into the lake.

What it owns:

* the **backfill bucket** (``<prefix>-backfill-<account>-<region>``), under a KMS key of its own:
  ``manifests/`` (CSV manifests an operator uploads, and manifests S3 Batch Operations generates),
  ``reports/`` (completion reports), both expiring after ``backfill.report_expiration_days``; and,
  unless ``backfill.source_bucket`` names another bucket, the source prefix (``backfill/``), where
  the history is uploaded: raw personal data, expiring after ``backfill.source_expiration_days``;
* the **function** (``<prefix>-backfill``): it reads the source prefix, and writes to the lake only
  objects named ``backfill-*`` under the data and quarantine prefixes (never Firehose's objects), with
  the scrubber's own permissions on the keyring and the key table (it creates subjects' keys as the
  scrubber does), so both fences name it;
* the **job role**, assumed by S3 Batch Operations: it may invoke that one function, read manifests,
  list the source bucket (to generate a manifest), and write manifests and reports. It reads no
  source object and writes nothing to the lake: the function does.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from backfill.layout import ERROR_TYPE, key_pattern
from backfill.settings import environment

from .bundling import RUNTIME
from .config import FunctionConfig, PipelineConfig
from .keys import rotating_key
from .lambda_function import PythonFunction
from .subject_keys import SubjectKeys

MANIFESTS = "manifests/"
REPORTS = "reports/"


class Backfill(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: PipelineConfig,
        lake: s3.IBucket,
        lake_key: kms.IKey,
        log_key: kms.IKey,
        access_logs: s3.IBucket,
        keyring: secretsmanager.ISecret,
        subject_keys: SubjectKeys,
        contracts_json: str,
        removal_policy: cdk.RemovalPolicy,
    ):
        super().__init__(scope, id)
        b = config.backfill
        d = config.delivery
        self.key = rotating_key(
            self,
            "Key",
            alias=f"alias/{config.name_prefix}/backfill",
            description="Encrypts the backfill bucket: uploaded history, manifests, completion reports",
            removal_policy=removal_policy,
        )
        expiring = [s3.LifecycleRule(id=f"expire-{p.rstrip('/')}", prefix=p, expiration=cdk.Duration.days(b.report_expiration_days),
                                     noncurrent_version_expiration=cdk.Duration.days(1)) for p in (MANIFESTS, REPORTS)]
        if not b.source_bucket:
            expiring.append(s3.LifecycleRule(id="expire-source", prefix=b.source_prefix,
                                             expiration=cdk.Duration.days(b.source_expiration_days),
                                             noncurrent_version_expiration=cdk.Duration.days(1)))
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            bucket_name=b.bucket_name(config.name_prefix, cdk.Aws.ACCOUNT_ID, cdk.Aws.REGION),
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="backfill/",
            lifecycle_rules=[*expiring, s3.LifecycleRule(id="abort-multipart",
                                                         abort_incomplete_multipart_upload_after=cdk.Duration.days(1))],
            removal_policy=removal_policy,
        )
        source_bucket = s3.Bucket.from_bucket_name(self, "Source", b.source_bucket) if b.source_bucket else self.bucket

        self.function = PythonFunction(
            self,
            "Function",
            config=config,
            package="backfill",
            extra_packages=("scrubber", "privacy", "keystore", "streams"),
            files={"contracts.json": contracts_json},
            function_name=b.function_name(config.name_prefix),
            description="S3 Batch Operations task: one historic JSON-lines object through the stream's scrubber into the lake",
            settings=FunctionConfig(memory_mb=b.memory_mb, timeout_seconds=b.timeout_seconds),
            environment={
                "CONTRACT_SELECTOR": config.contracts.selector_json(),
                "CONTRACTS_FILE": "/var/task/contracts.json",
                "PSEUDONYM_SECRET_ARN": keyring.secret_arn,
                **subject_keys.environment(),
                **environment(lake_bucket=lake.bucket_name, lake_key=lake_key.key_arn, data_prefix=d.data_prefix,
                              quarantine_prefix=d.quarantine_prefix, time_field=b.time_field,
                              max_object_bytes=b.max_object_bytes),
            },
            removal_policy=removal_policy,
            log_key=log_key,
            no_dlq_reason=(
                "S3 Batch Operations invokes the function synchronously, once per object, and records each "
                "task's failure in its completion report (retrying temporary ones); a DLQ only receives "
                "failed asynchronous invocations."
            ),
        )
        fn = self.function.function
        fn.node.default_child.add_property_override("EphemeralStorage.Size", b.ephemeral_storage_mib)
        role = self.function.role
        # the source: read objects (any version: a manifest may name one)
        iam.Grant.add_to_principal(grantee=role, actions=["s3:GetObject", "s3:GetObjectVersion"],
                                   resource_arns=[source_bucket.arn_for_objects(f"{b.source_prefix}*")])
        if not b.source_bucket:
            self.key.grant_decrypt(role)
        elif b.source_key_arn:
            iam.Grant.add_to_principal(grantee=role, actions=["kms:Decrypt"], resource_arns=[b.source_key_arn])
        # the lake: only objects named backfill-* under the data and quarantine prefixes (never
        # Firehose's), written SSE-KMS with the lake key (multipart uploads need Decrypt too)
        iam.Grant.add_to_principal(grantee=role, actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                                   resource_arns=[lake.arn_for_objects(p) for p in _lake_patterns(config)])
        lake_key.grant(role, "kms:GenerateDataKey", "kms:Decrypt")
        # the scrubber's own permissions: the keyring, and creating subjects' keys
        keyring.grant_read(role)
        subject_keys.grant_create_keys(role)

        # The role S3 Batch Operations assumes for a job (create-job --role-arn)
        self.job_role = iam.Role(
            self,
            "JobRole",
            assumed_by=iam.ServicePrincipal("batchoperations.s3.amazonaws.com"),
            description=f"S3 Batch Operations backfill jobs: invoke {fn.function_name} only, read manifests, write reports",
        )
        fn.grant_invoke(self.job_role)
        iam.Grant.add_to_principal(grantee=self.job_role, actions=["s3:GetObject", "s3:GetObjectVersion"],
                                   resource_arns=[self.bucket.arn_for_objects(f"{MANIFESTS}*")])
        iam.Grant.add_to_principal(grantee=self.job_role, actions=["s3:PutObject"], resource_arns=[
            self.bucket.arn_for_objects(f"{MANIFESTS}*"), self.bucket.arn_for_objects(f"{REPORTS}*")])
        iam.Grant.add_to_principal(grantee=self.job_role, actions=["s3:GetBucketLocation"], resource_arns=[self.bucket.bucket_arn])
        # a generated manifest lists the source bucket (keys and ETags, no content)
        iam.Grant.add_to_principal(grantee=self.job_role, actions=["s3:ListBucket"], resource_arns=[source_bucket.bucket_arn])
        self.key.grant(self.job_role, "kms:GenerateDataKey", "kms:Decrypt")
        self._acknowledge(config, lake, source_bucket)

    def _acknowledge(self, config: PipelineConfig, lake: s3.IBucket, source: s3.IBucket) -> None:
        """cdk-nag: the function's runtime pin, and the object wildcards, each the prefix it names."""
        stack = cdk.Stack.of(self)

        def arn(bucket: s3.IBucket) -> str:
            if bucket is self.bucket or bucket is lake:
                return f"<{stack.resolve(bucket.node.default_child.logical_id)}.Arn>"
            return f"arn:<AWS::Partition>:s3:::{config.backfill.source_bucket}"

        b = config.backfill
        NagSuppressions.add_resource_suppressions(self.function.function, [NagPackSuppression(
            id="AwsSolutions-L1",
            reason=f"Pinned on purpose to {RUNTIME.name}, as every function of the stack: the tests, the benchmark "
                   "and the offline twin run the same CPython minor version (stacks/bundling.py)."),
        ])
        NagSuppressions.add_resource_suppressions(self.function.role, [NagPackSuppression(
            id="AwsSolutions-IAM5",
            reason="The backfill function reads the objects under the source prefix (its own wildcard), and writes "
                   "to the lake only objects named backfill-* under the data prefix's partitions and the "
                   "quarantine prefix (generated keys: one per partition and source object).",
            applies_to=[f"Resource::{arn(source)}/{b.source_prefix}*", *(f"Resource::{arn(lake)}/{p}" for p in _lake_patterns(config))]),
        ], apply_to_children=True)
        NagSuppressions.add_resource_suppressions(self.job_role, [NagPackSuppression(
            id="AwsSolutions-IAM5",
            reason="S3 Batch Operations reads manifests and writes generated manifests and completion reports under "
                   "generated keys in the backfill bucket's manifests/ and reports/ prefixes; lambda:InvokeFunction "
                   "covers the backfill function's versions (ARN:*), no other function.",
            applies_to=[f"Resource::{arn(self.bucket)}/{MANIFESTS}*", f"Resource::{arn(self.bucket)}/{REPORTS}*",
                        f"Resource::<{stack.resolve(self.function.function.node.default_child.logical_id)}.Arn>:*"]),
        ], apply_to_children=True)


def _lake_patterns(config: PipelineConfig) -> list[str]:
    """The lake keys the function may write: backfill-* objects in the data prefix's partitions, and
    in the quarantine prefix (its error type written out)."""
    d = config.delivery
    return [key_pattern(d.data_prefix), key_pattern(d.quarantine_prefix, error_type=ERROR_TYPE)]
