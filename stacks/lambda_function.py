"""A Lambda function with its own encrypted log group and a role that may write only to it.

Its checkov skips (no VPC, no reserved concurrency, plain environment) are recorded here, with the
reasons in scan_skips.py; the caller states why the function needs no dead-letter queue.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from .bundling import RUNTIME, lambda_code
from .config import FunctionConfig, PipelineConfig
from .log_groups import encrypted_log_group
from .scan_skips import NO_RESERVED_CONCURRENCY, NO_VPC, PLAIN_ENVIRONMENT, skip


class PythonFunction(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: PipelineConfig,
        package: str,
        function_name: str,
        description: str,
        settings: FunctionConfig,
        environment: dict[str, str],
        removal_policy: cdk.RemovalPolicy,
        log_key: kms.IKey,
        no_dlq_reason: str,
        extra_packages: tuple[str, ...] = (),
        files: dict[str, str] | None = None,
    ):
        super().__init__(scope, id)
        self.log_group = encrypted_log_group(
            self,
            "Logs",
            name=f"/aws/lambda/{function_name}",
            key=log_key,
            retention_days=config.log_retention_days,
            removal_policy=removal_policy,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Execution role of {function_name}",
        )
        # Instead of the AWSLambdaBasicExecutionRole managed policy: this log group only.
        self.log_group.grant_write(self.role)
        arch = lambda_.Architecture.ARM_64 if config.lambda_architecture == "arm64" else lambda_.Architecture.X86_64
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=function_name,
            description=description,
            runtime=RUNTIME,
            architecture=arch,
            handler=f"{package}.handler.lambda_handler",
            code=lambda_code((package, *extra_packages), config.lambda_architecture, files),
            memory_size=settings.memory_mb,
            timeout=cdk.Duration.seconds(settings.timeout_seconds),
            role=self.role,
            log_group=self.log_group,
            environment={
                "POWERTOOLS_SERVICE_NAME": package,
                "METRICS_NAMESPACE": "PiiScrubbing",
                "POWERTOOLS_LOG_LEVEL": "INFO",
                **environment,
            },
        )

        skip(self.function, "CKV_AWS_116", no_dlq_reason)
        skip(self.function, "CKV_AWS_117", NO_VPC)
        skip(self.function, "CKV_AWS_115", NO_RESERVED_CONCURRENCY)
        skip(self.function, "CKV_AWS_173", PLAIN_ENVIRONMENT)
