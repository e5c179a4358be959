"""Subject rights: the function that forgets and exports a subject, and the erasure receipts.

The function reads the lake's *data* prefix only (the quarantine stays fenced to its reader role by
the lake's bucket policy, and no allow here names it), may forget keys (``SubjectKeys.grant_forget``)
and may write receipts and exports, and read receipts back (a second forget of a subject names the
first one's receipt, and says whether it is on file): it never creates a key.

Receipts are the proof of erasure, so they never expire, and the bucket is versioned. An export
too large for the function's response is written under ``exports/``: it holds personal data in
clear, so it expires after a day (current and noncurrent versions). It has
a KMS key of its own rather than the lake's: the receipts outlive the lake's data and its
lifecycle, their readers (auditors, a DPO) need not be able to decrypt the lake, and the lake's
readers (Firehose, the quarantine reader) have no business with receipts. A receipt holds no raw
identifier.

With ``query.export_finder: athena`` (the default) an export finds the subject's objects with one
Athena query in the catalog's workgroup (``rights.athena``). The function may then start, watch,
read and stop queries in that workgroup only; read the database and the ``events`` table (not
their partitions: they are projected, Athena asks Glue for none); let Athena read the data prefix
as itself (already granted, plus the bucket's location); and write and read the results under the
results bucket's ``athena/`` prefix, with the results key. Nothing else of the catalog.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from privacy.contract import load_bundle
from rights.finder import dump_paths

from .catalog import RESULTS_PREFIX, Catalog
from .catalog_columns import subject_paths
from .config import PipelineConfig
from .keys import rotating_key
from .lambda_function import PythonFunction
from .subject_keys import SubjectKeys


class Rights(Construct):
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
        subject_keys: SubjectKeys,
        contracts_json: str,
        catalog: Catalog,
        removal_policy: cdk.RemovalPolicy,
    ):
        super().__init__(scope, id)
        search = config.query.export_finder == "athena"
        data_root = config.delivery.data_root  # never empty, never overlapping the quarantine (config)
        self.receipts_key = rotating_key(
            self,
            "ReceiptsKey",
            alias=f"alias/{config.name_prefix}/receipts",
            description="Encrypts the erasure receipts (S3 SSE-KMS, bucket key on)",
            removal_policy=removal_policy,
        )
        self.receipts = s3.Bucket(
            self,
            "Receipts",
            bucket_name=config.receipts_bucket_name(cdk.Aws.ACCOUNT_ID, cdk.Aws.REGION),
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.receipts_key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="receipts/",
            # no expiration, current or noncurrent: receipts are the proof of erasure
            lifecycle_rules=[
                s3.LifecycleRule(id="abort-multipart", abort_incomplete_multipart_upload_after=cdk.Duration.days(1)),
                s3.LifecycleRule(id="exports-expire", prefix="exports/", expiration=cdk.Duration.days(1),
                                 noncurrent_version_expiration=cdk.Duration.days(1)),
            ],
            removal_policy=removal_policy,
        )
        self.function = PythonFunction(
            self,
            "Function",
            config=config,
            package="rights",
            extra_packages=("privacy", "keystore"),
            files={"contracts.json": contracts_json},
            function_name=config.rights_function_name,
            description="Subject rights: forget (crypto-shredding, with an erasure receipt) and export",
            settings=config.rights,
            environment={
                **subject_keys.environment(),
                "SUBJECT_KEYS_PITR_DAYS": str(config.subject_keys.point_in_time_recovery_days),
                # what the erasure receipt states of the copies it does not touch
                "STREAM_RETENTION_HOURS": str(config.stream.retention_hours),
                "QUARANTINE_EXPIRATION_DAYS": str(config.storage.quarantine_expiration_days),
                "LAKE_BUCKET": lake.bucket_name,
                "LAKE_PREFIX": config.delivery.data_prefix,  # the template: date ranges list its partitions
                # the largest object Firehose writes: an export reads as many at once as fit in memory
                "LAKE_OBJECT_MAX_MIB": str(config.delivery.buffering_size_mib),
                "RECEIPTS_BUCKET": self.receipts.bucket_name,
                "CONTRACT_SELECTOR": config.contracts.selector_json(),
                "CONTRACTS_FILE": "/var/task/contracts.json",
                "EXPORT_FINDER": config.query.export_finder,
                **(self._search_environment(config, catalog, contracts_json) if search else {}),
            },
            removal_policy=removal_policy,
            log_key=log_key,
            no_dlq_reason=(
                "Invoked synchronously by the operator (aws lambda invoke, RequestResponse), who must see a "
                "failed forget or export at once and retry it; a DLQ only receives failed asynchronous invocations."
            ),
        )
        role = self.function.role
        subject_keys.grant_forget(role)
        # The lake: list and read the data prefix (current versions), decrypt with the lake key.
        iam.Grant.add_to_principal(
            grantee=role,
            actions=["s3:ListBucket"],
            resource_arns=[lake.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{data_root}*"]}},
        )
        iam.Grant.add_to_principal(grantee=role, actions=["s3:GetObject"], resource_arns=[lake.arn_for_objects(f"{data_root}*")])
        lake_key.grant_decrypt(role)
        # Receipts and exports: write them (single PutObject: SSE-KMS with the bucket key needs a data
        # key); read receipts back (an earlier receipt, named by a tombstone), never exports.
        iam.Grant.add_to_principal(grantee=role, actions=["s3:PutObject"], resource_arns=[
            self.receipts.arn_for_objects("receipts/*"), self.receipts.arn_for_objects("exports/*")])
        iam.Grant.add_to_principal(grantee=role, actions=["s3:GetObject"], resource_arns=[self.receipts.arn_for_objects("receipts/*")])
        self.receipts_key.grant(role, "kms:GenerateDataKey", "kms:Decrypt")
        if search:
            self._grant_search(role, lake, catalog)

    @staticmethod
    def _search_environment(config: PipelineConfig, catalog: Catalog, contracts_json: str) -> dict[str, str]:
        paths = subject_paths(load_bundle(contracts_json), config.delivery.data_prefix)
        return {
            "ATHENA_WORKGROUP": catalog.workgroup.ref,
            "GLUE_DATABASE": catalog.database.database_name,
            "GLUE_TABLE": catalog.table.table_name,
            "EXPORT_SUBJECT_PATHS": dump_paths(paths),
            "EXPORT_QUERY_TIMEOUT_S": str(config.query.export_query_timeout_seconds),
        }

    def _grant_search(self, role: iam.IRole, lake: s3.IBucket, catalog: Catalog) -> None:
        workgroup = cdk.Stack.of(self).format_arn(service="athena", resource="workgroup", resource_name=catalog.workgroup.ref)
        iam.Grant.add_to_principal(grantee=role, resource_arns=[workgroup], actions=[
            "athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults",
            "athena:StopQueryExecution",  # a query that outlives its wait is stopped, not left billing
        ])
        glue_catalog = cdk.Stack.of(self).format_arn(service="glue", resource="catalog")
        iam.Grant.add_to_principal(grantee=role, actions=["glue:GetDatabase", "glue:GetTable"], resource_arns=[
            glue_catalog, catalog.database.database_arn, catalog.table.table_arn])
        # Athena reads the lake and writes the results with the caller's permissions
        iam.Grant.add_to_principal(grantee=role, actions=["s3:GetBucketLocation"],
                                   resource_arns=[lake.bucket_arn, catalog.results.bucket_arn])
        iam.Grant.add_to_principal(grantee=role, actions=["s3:ListBucket"], resource_arns=[catalog.results.bucket_arn],
                                   conditions={"StringLike": {"s3:prefix": [f"{RESULTS_PREFIX}*"]}})
        iam.Grant.add_to_principal(grantee=role, resource_arns=[catalog.results.arn_for_objects(f"{RESULTS_PREFIX}*")], actions=[
            "s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"])
        catalog.results_key.grant(role, "kms:GenerateDataKey", "kms:Decrypt")
