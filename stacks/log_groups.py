"""Log groups encrypted with the stack's log key, and the key-policy statement each one needs.

The scrubber's and the rights function's logs, and Firehose's delivery errors, can carry error
details (file names, keys, reason codes; never record values, but still operational detail about
personal data), so every log group the stack creates is encrypted with a customer-managed key.
CloudWatch Logs encrypts with the key itself, so the key policy must allow the regional
``logs.<region>.amazonaws.com`` principal; the statement is scoped with the documented
encryption-context condition to the log group's ARN, built from its name (referencing the log
group's ``Arn`` attribute would make the key and the log group depend on each other).
"""

from __future__ import annotations

import re

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

_RETENTION = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS", 30: "ONE_MONTH",
    60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS", 150: "FIVE_MONTHS", 180: "SIX_MONTHS",
    365: "ONE_YEAR", 400: "THIRTEEN_MONTHS", 545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1096: "THREE_YEARS",
    1827: "FIVE_YEARS", 2192: "SIX_YEARS", 2557: "SEVEN_YEARS", 2922: "EIGHT_YEARS", 3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}

# What CloudWatch Logs needs on the key (AWS docs, "Encrypt log data in CloudWatch Logs using KMS").
LOGS_KEY_ACTIONS = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]


def retention(days: int) -> logs.RetentionDays:
    return getattr(logs.RetentionDays, _RETENTION[days])


def encrypted_log_group(
    scope: Construct,
    id: str,
    *,
    name: str,
    key: kms.IKey,
    retention_days: int,
    removal_policy: cdk.RemovalPolicy,
) -> logs.LogGroup:
    """A log group encrypted with ``key``, whose policy lets CloudWatch Logs use it for this group only."""
    stack = cdk.Stack.of(scope)
    arn = stack.format_arn(
        service="logs", resource="log-group", resource_name=name, arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME
    )
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="CloudWatchLogs" + re.sub(r"[^A-Za-z0-9]", "", name.title())[:80],
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            actions=LOGS_KEY_ACTIONS,
            resources=["*"],
            conditions={"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": arn}},
        )
    )
    return logs.LogGroup(
        scope,
        id,
        log_group_name=name,
        encryption_key=key,
        retention=retention(retention_days),
        removal_policy=removal_policy,
    )
