"""The quarantine redrive: a function that puts quarantined records back on the source stream
(``lambdas/quarantine``), invoked by the operator once the cause is fixed (a contract added, say).

Least privilege, on the quarantine's keys only (``quarantine.layout``): list, read and delete the
error objects of type ``processing-failed``, write under the same folder (the records Kinesis
still refused, split off) and under the redriven folder (what was put back; the copy of a moved
object); list the redriven folder (an object moved but not deleted by an interrupted run is only
deleted). The lake key to read and write those objects; ``kinesis:PutRecords`` on the stream and
``kms:GenerateDataKey`` on its key. It is let through the quarantine's read fence (the bucket
policy's deny), as the quarantine reader is; it returns counts and keys, never a record.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from quarantine.layout import Layout

from .config import FunctionConfig, PipelineConfig
from .lambda_function import PythonFunction
from .storage import Storage


class Redrive(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: PipelineConfig,
        stream: kinesis.IStream,
        stream_key: kms.IKey,
        storage: Storage,
        lake_key: kms.IKey,
        log_key: kms.IKey,
        removal_policy: cdk.RemovalPolicy,
    ):
        super().__init__(scope, id)
        layout = Layout(config.delivery.quarantine_prefix)
        lake: s3.IBucket = storage.bucket
        rd = config.redrive
        self.function = PythonFunction(
            self,
            "Function",
            config=config,
            package="quarantine",
            extra_packages=("streams",),
            function_name=rd.function_name(config.name_prefix),
            description="Puts quarantined records back on the source stream, and moves their error objects aside",
            settings=FunctionConfig(memory_mb=rd.memory_mb, timeout_seconds=rd.timeout_seconds),
            environment={
                "LAKE_BUCKET": lake.bucket_name,
                "QUARANTINE_PREFIX": config.delivery.quarantine_prefix,  # the template: keys and times are read from it
                "STREAM_NAME": stream.stream_name,
                "MAX_ATTEMPTS": str(rd.max_attempts),
            },
            removal_policy=removal_policy,
            log_key=log_key,
            no_dlq_reason=(
                "Invoked synchronously by the operator (aws lambda invoke, RequestResponse), who reads the "
                "counts it returns and invokes it again; a DLQ only receives failed asynchronous invocations."
            ),
        )
        role = self.function.role
        errors, redriven = f"{layout.listing}*", f"{layout.redriven_listing}*"
        iam.Grant.add_to_principal(grantee=role, actions=["s3:ListBucket"], resource_arns=[lake.bucket_arn],
                                   conditions={"StringLike": {"s3:prefix": [errors, redriven]}})
        iam.Grant.add_to_principal(grantee=role, actions=["s3:GetObject", "s3:DeleteObject"],
                                   resource_arns=[lake.arn_for_objects(errors)])
        iam.Grant.add_to_principal(grantee=role, actions=["s3:PutObject"],
                                   resource_arns=[lake.arn_for_objects(errors), lake.arn_for_objects(redriven)])
        lake_key.grant(role, "kms:Decrypt", "kms:GenerateDataKey")
        stream.grant(role, "kinesis:PutRecords")
        stream_key.grant(role, "kms:GenerateDataKey")
        storage.allow_quarantine_read(role)
