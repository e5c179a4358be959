"""A Lambda function with its own log group and a role that may write only to it."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from .bundling import RUNTIME, lambda_code
from .config import FunctionConfig, PipelineConfig


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
        extra_packages: tuple[str, ...] = (),
        files: dict[str, str] | None = None,
    ):
        super().__init__(scope, id)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/lambda/{function_name}",
            retention=retention(config.log_retention_days),
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


_RETENTION = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS", 30: "ONE_MONTH",
    60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS", 150: "FIVE_MONTHS", 180: "SIX_MONTHS",
    365: "ONE_YEAR", 400: "THIRTEEN_MONTHS", 545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1096: "THREE_YEARS",
    1827: "FIVE_YEARS", 2192: "SIX_YEARS", 2557: "SEVEN_YEARS", 2922: "EIGHT_YEARS", 3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}


def retention(days: int) -> logs.RetentionDays:
    return getattr(logs.RetentionDays, _RETENTION[days])
