"""Roles that people assume: for incidents, triage and rotation."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct


def person_role(scope: Construct, id: str, *, role_name: str, description: str) -> iam.Role:
    """A named role that trusts the account (who may become it is decided by IAM policies:
    grant ``sts:AssumeRole`` on it to the few who need it), with one-hour sessions."""
    return iam.Role(
        scope,
        id,
        role_name=role_name,
        assumed_by=iam.AccountRootPrincipal(),
        description=description,
        max_session_duration=cdk.Duration.hours(1),
    )
