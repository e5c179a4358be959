"""cdk-nag AwsSolutions acknowledgments. Each names the exact finding and why it is accepted.

Acknowledgments are scoped to one resource and, for IAM5, to the exact wildcard (``applies_to``),
so a new wildcard anywhere else still fails the suppression-free nag test.
"""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import NagPackSuppression, NagSuppressions

from quarantine.layout import Layout

from .bundling import RUNTIME


def _ack(stack: cdk.Stack, path: str, rule: str, reason: str, applies_to: list[str] | None = None) -> None:
    NagSuppressions.add_resource_suppressions_by_path(
        stack,
        f"/{stack.stack_name}/{path}",
        [NagPackSuppression(id=rule, reason=reason, applies_to=applies_to)],
    )


def acknowledge_findings(stack: cdk.Stack) -> None:
    cdk.Validations.of(stack).acknowledge(
        cdk.Acknowledgment(
            id="CloudFormation-Validate::W7001",
            reason="The Firehose L2 always emits its regional CIDR-block mapping; it is only "
            "referenced for VPC destinations, which this stack does not use.",
        )
    )
    lake = stack.resolve(stack.storage.bucket.node.default_child.logical_id)
    scrubber = stack.resolve(stack.delivery.scrubber.function.node.default_child.logical_id)
    receipts = stack.resolve(stack.rights.receipts.node.default_child.logical_id)

    _ack(
        stack,
        "Ingest/Stream/Resource",
        "AwsSolutions-KDS3",
        "A customer-managed key is required here: its key policy limits who can decrypt the raw "
        "(unscrubbed) personal data in the stream, it rotates yearly, and its CloudTrail usage is "
        "the audit trail of every reader. The aws/kinesis key offers none of these controls.",
    )
    _ack(
        stack,
        "Delivery/DeliveryStream/Resource",
        "AwsSolutions-KDF1",
        "Firehose server-side encryption applies only to Direct PUT sources. This delivery stream "
        "reads from a Kinesis stream that is itself encrypted with a customer-managed key, and "
        "writes SSE-KMS objects with the lake key, so data is encrypted at every hop.",
    )
    _ack(
        stack,
        "Delivery/DestinationRole/DefaultPolicy/Resource",
        "AwsSolutions-IAM5",
        "Granted by the Firehose L2 S3Bucket destination (grantReadWrite on the lake bucket and "
        "grantEncryptDecrypt on the lake key): Firehose writes objects under generated keys and "
        "uses multipart uploads, so object-level wildcards are inherent. The role is scoped to this "
        "one bucket and key, assumable only by Firehose from this account, and an explicit deny "
        "removes object deletion and bucket-policy/lifecycle changes.",
        applies_to=[
            "Action::s3:Abort*",
            "Action::s3:DeleteObject*",
            "Action::s3:GetBucket*",
            "Action::s3:GetObject*",
            "Action::s3:List*",
            f"Resource::<{lake}.Arn>/*",
            "Action::kms:GenerateDataKey*",
            "Action::kms:ReEncrypt*",
        ],
    )
    _ack(
        stack,
        "Delivery/DestinationRole/DefaultPolicy/Resource",
        "AwsSolutions-IAM5",
        "lambda:InvokeFunction on the scrubber's ARN and its versions (ARN:*), granted by the "
        "Firehose L2 LambdaFunctionProcessor; no other function is reachable.",
        applies_to=[f"Resource::<{scrubber}.Arn>:*"],
    )
    for function in (
        "Ingest/Producer/Function/Resource", "Delivery/Scrubber/Function/Resource", "Rights/Function/Function/Resource",
        "Redrive/Function/Function/Resource",
    ):
        _ack(
            stack,
            function,
            "AwsSolutions-L1",
            f"Pinned on purpose to {RUNTIME.name}, a supported Lambda runtime, rather than the newest: the "
            "tests, the benchmark and the offline twin run on the same CPython minor version as the "
            "functions (the Makefile builds the venv with it and a test fails on any other), and the "
            "wheels are bundled for it. Moving up is one change in stacks/bundling.py, made when the "
            "development and CI machines have that interpreter and the suite has run on it.",
        )
    _ack(
        stack,
        "Pseudonymisation/Keyring/Resource",
        "AwsSolutions-SMG4",
        "The pseudonymisation keyring must not rotate on a schedule: pseudonyms are joined across "
        "months of data, and a silent key change would split every subject in two. Rotation is a "
        "deliberate, versioned procedure (add a key id, point 'current' at it, keep the old id), "
        "documented in the README; every pseudonym carries its key id.",
    )
    _ack(
        stack,
        "Storage/QuarantineReader/DefaultPolicy/Resource",
        "AwsSolutions-IAM5",
        "The quarantine reader exists to list and read quarantined records for triage and replay; "
        "grantRead is limited to the quarantine prefix of the lake bucket (the object wildcard is "
        "the prefix itself).",
        applies_to=[
            "Action::s3:GetBucket*",
            "Action::s3:GetObject*",
            "Action::s3:List*",
            f"Resource::<{lake}.Arn>/{stack.config.delivery.quarantine_root}*",
        ],
    )
    _ack(
        stack,
        "Rights/Function/Role/DefaultPolicy/Resource",
        "AwsSolutions-IAM5",
        "The subject-rights function reads the lake's data prefix (s3:GetObject only, under the data "
        "prefix's static root; the quarantine is outside it and fenced by the bucket policy) to find a "
        "subject's records, writes erasure receipts and oversized exports (s3:PutObject) under "
        "generated keys in the receipts bucket's receipts/ and exports/ prefixes, and reads receipts "
        "back (s3:GetObject, receipts/ only: a second forget names the first's receipt): the object "
        "wildcards are those prefixes.",
        applies_to=[
            f"Resource::<{lake}.Arn>/{stack.config.delivery.data_root}*",
            f"Resource::<{receipts}.Arn>/receipts/*",
            f"Resource::<{receipts}.Arn>/exports/*",
        ],
    )
    layout = Layout(stack.config.delivery.quarantine_prefix)
    _ack(
        stack,
        "Redrive/Function/Role/DefaultPolicy/Resource",
        "AwsSolutions-IAM5",
        "The redrive function reads, deletes and splits Firehose's error objects (s3:GetObject, "
        "s3:DeleteObject, s3:PutObject), whose keys Firehose generates under the processing-failed "
        "folder of the quarantine prefix, and writes the ones it put back under the redriven folder "
        "(s3:PutObject): the object wildcards are those two folders, both inside the quarantine's fence.",
        applies_to=[
            f"Resource::<{lake}.Arn>/{layout.listing}*",
            f"Resource::<{lake}.Arn>/{layout.redriven_listing}*",
        ],
    )
    if stack.config.query.export_finder == "athena":
        results = stack.resolve(stack.catalog.results.node.default_child.logical_id)
        _ack(
            stack,
            "Rights/Function/Role/DefaultPolicy/Resource",
            "AwsSolutions-IAM5",
            "An export finds the subject's objects with an Athena query, which writes its result (under a "
            "generated key) to the workgroup's results prefix with the caller's permissions and is read "
            "back by GetQueryResults as the caller: the object wildcard is that prefix of the results "
            "bucket, nothing else of it.",
            applies_to=[f"Resource::<{results}.Arn>/athena/*"],
        )
    if not stack.config.subject_keys.point_in_time_recovery_days:
        _ack(
            stack,
            "SubjectKeys/Table/Resource",
            "AwsSolutions-DDB3",
            "Point-in-time recovery is off on purpose (subject_keys.point_in_time_recovery_days = 0): "
            "this table holds the per-subject keys that crypto-shredding deletes, and continuous "
            "backups would keep every forgotten subject's key restorable for the recovery window, "
            "undoing the erasure. Turning it on is a configuration choice (1-35 days), and each "
            "erasure receipt states the window after which no backup holds the key.",
        )
