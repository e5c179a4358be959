"""checkov skips, recorded in the resource's CloudFormation metadata with the reason.

checkov reads ``Metadata: {checkov: {skip: [{id, comment}]}}`` on a resource. Every skip here
names one check on one resource and says why the check does not apply or what we chose instead;
tests/infra/test_checkov.py runs checkov on the synthesised template and requires zero failures
and a reason on every skip. (cdk-nag's acknowledgments are in nag.py.)
"""

from __future__ import annotations

from aws_cdk import CfnResource
from constructs import Construct

# The reasons shared by the stack's Lambda functions (each function adds its DLQ reason).
NO_VPC = (
    "The function only calls AWS APIs over TLS with IAM auth and reaches nothing private. Inside a VPC "
    "it would need interface endpoints for Kinesis, Secrets Manager, KMS and CloudWatch Logs and "
    "gateway endpoints for DynamoDB and S3 (or a NAT): cost and moving parts for no reachable asset."
)
NO_RESERVED_CONCURRENCY = (
    "Reserved concurrency is a capacity choice, not a control: a cap throttles the function under load "
    "(the scrubber's throttled batches are retried by Firehose, then quarantined) and a reservation takes "
    "from the account's shared pool. Left to the account's limit; set it per deployment if the account is shared."
)
PLAIN_ENVIRONMENT = (
    "The environment holds names, ARNs, paths and tuning values, no secret (the keyring is read from "
    "Secrets Manager at run time); Lambda encrypts it at rest with its AWS-managed key."
)


def skip(construct: Construct, check_id: str, comment: str) -> None:
    """Record a checkov skip of ``check_id`` on the construct's CloudFormation resource."""
    cfn = construct if isinstance(construct, CfnResource) else construct.node.default_child
    assert isinstance(cfn, CfnResource), construct.node.path
    if not comment.strip():
        raise ValueError(f"checkov skip {check_id} on {construct.node.path} has no reason")
    existing = cfn.get_metadata("checkov") or {}
    skips = [s for s in existing.get("skip", []) if s["id"] != check_id]
    cfn.add_metadata("checkov", {**existing, "skip": [*skips, {"id": check_id, "comment": comment}]})
