"""The lake, queryable in Athena: a Glue database, the ``events`` table over the data prefix with
partition projection (no crawler), and an Athena workgroup whose settings are enforced.

One table, ``events``, holds every delivered record whatever its type, with the union of every
contract's columns (``stacks.catalog_columns``, from the same contracts and merge rules as the
local DuckDB views, so the same SQL runs in both). Per-type tables would need a per-type prefix,
which the lake does not have: every type lands in the same hourly objects. Firehose dynamic
partitioning by type would give one, but it is billed per GB on top of ingestion and cannot be
enabled on an existing delivery stream (a replacement stream, and a move of the lake's layout).

Partitions are projected from the data prefix (``year=!{timestamp:yyyy}/…``): each part becomes
an ``int`` partition over its range (zero-padded as Firehose writes it), and the storage location
template is the prefix with each expression in place of its value. A prefix that cannot be
projected (a non-Hive folder, a random string) fails synth.

The query results go to a bucket of their own, encrypted with a key of its own: a result is a
copy of lake data an analyst chose to take out, kept a few days, and who may read results is a
separate decision from who may read the lake (the lake key's policy stays as it is). Nothing is
granted here: analysts' roles are a deployment's own (see the README).
"""

from __future__ import annotations

import re

import aws_cdk as cdk
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_s3 as s3
from constructs import Construct

from .catalog_columns import glue_columns
from .config import ConfigError, PipelineConfig
from .keys import rotating_key

EVENTS_TABLE = "events"
RESULTS_PREFIX = "athena/"  # where the workgroup writes query results in its bucket
OPENX_JSON_SERDE = "org.openx.data.jsonserde.JsonSerDe"
# Projected years: Firehose partitions by arrival time, so nothing precedes the first deployment;
# the range bounds what a query without a year filter enumerates (8,928 hours a year).
FIRST_YEAR, LAST_YEAR = 2020, 2049
_RANGES = {"yyyy": (FIRST_YEAR, LAST_YEAR, None), "MM": (1, 12, 2), "dd": (1, 31, 2), "HH": (0, 23, 2),
           "mm": (0, 59, 2), "ss": (0, 59, 2)}
_HIVE_PART_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=!\{timestamp:(yyyy|MM|dd|HH|mm|ss)\}")
_EXPR_RE = re.compile(r"!\{[^}]*\}")


def projection(data_prefix: str) -> tuple[dict[str, tuple[int, int, int | None]], str]:
    """Per partition column (lower case), its (min, max, digits); and the location template
    relative to the bucket. Raises ConfigError when the prefix cannot be projected."""
    parts = {m.group(1).lower(): _RANGES[m.group(2)] for m in _HIVE_PART_RE.finditer(data_prefix)}
    template = _HIVE_PART_RE.sub(lambda m: f"{m.group(1)}=${{{m.group(1).lower()}}}", data_prefix)
    if _EXPR_RE.search(template):
        raise ConfigError("pipeline.delivery.data_prefix: every expression must be a Hive partition "
                          "'name=!{timestamp:yyyy|MM|dd|HH|mm|ss}' for Athena to project it")
    return parts, template


class Catalog(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: PipelineConfig,
        contracts,
        lake: s3.IBucket,
        access_logs: s3.IBucket,
        removal_policy: cdk.RemovalPolicy,
    ):
        super().__init__(scope, id)
        self.database = glue.Database(
            self, "Database", database_name=config.glue_database_name,
            description="The scrubbed data lake (tables generated from the data contracts)",
            removal_policy=removal_policy,
        )
        columns, partition_keys = glue_columns(contracts, config.delivery.data_prefix)
        ranges, template = projection(config.delivery.data_prefix)
        self.table = glue.S3Table(
            self,
            "Events",
            database=self.database,
            table_name=EVENTS_TABLE,
            description="Every delivered record, whatever its type: the union of the contracts' columns",
            storage=glue.S3TableStorage.from_bucket(lake),
            s3_prefix=config.delivery.data_root,
            columns=[glue.Column(name=n, type=_type(t)) for n, t in columns],
            partition_keys=[glue.Column(name=n, type=_type(t)) for n, t in partition_keys],
            data_format=glue.DataFormat(
                input_format=glue.InputFormat.TEXT,
                output_format=glue.OutputFormat.HIVE_IGNORE_KEY_TEXT,
                serialization_library=glue.SerializationLibrary.OPENX_JSON,
                classification_string=glue.ClassificationString.JSON,
            ),
            compressed=True,
            has_encrypted_data=False,  # SSE-KMS, which S3 decrypts; true means client-side encryption
            partition_projection={
                n: glue.PartitionProjectionConfiguration.integer(min=lo, max=hi, digits=digits)
                for n, (lo, hi, digits) in ranges.items()
            },
            parameters={
                "storage.location.template": lake.s3_url_for_object(template),
                "compressionType": "gzip",
            },
        )
        cfn = self.table.node.default_child
        # the SerDe's parameters are not in the L2's props: a malformed line fails the query
        # rather than being skipped (the scrubber writes none; one there is a bug to see)
        cfn.add_property_override("TableInput.StorageDescriptor.SerdeInfo.Parameters", {
            "ignore.malformed.json": "false",
            "case.insensitive": "true",
        })

        q = config.query
        self.results_key = rotating_key(
            self, "ResultsKey", alias=f"alias/{config.name_prefix}/query-results",
            description="Encrypts Athena query results (S3 SSE-KMS, bucket key on)", removal_policy=removal_policy,
        )
        self.results = s3.Bucket(
            self,
            "Results",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.results_key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="query-results/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-query-results",
                    expiration=cdk.Duration.days(q.results_expiration_days),
                    noncurrent_version_expiration=cdk.Duration.days(1),
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
                )
            ],
            removal_policy=removal_policy,
        )
        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=config.name_prefix,
            description="Queries over the scrubbed lake; settings enforced on every query",
            state="ENABLED",
            recursive_delete_option=removal_policy == cdk.RemovalPolicy.DESTROY,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=q.bytes_scanned_cutoff,
                requester_pays_enabled=False,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(selected_engine_version="Athena engine version 3"),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=self.results.s3_url_for_object(RESULTS_PREFIX),
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=self.results_key.key_arn,
                    ),
                    expected_bucket_owner=cdk.Aws.ACCOUNT_ID,
                ),
            ),
        )
        self.workgroup.apply_removal_policy(removal_policy)


def _type(text: str) -> glue.Type:
    return glue.Schema.custom(text, is_primitive="<" not in text)
