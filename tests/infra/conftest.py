"""The synthesised template, shared by the infrastructure tests (one synth per worker)."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

import app as cdk_app

ROOT = Path(__file__).resolve().parents[2]


def synth(pipeline_override: dict | None = None):
    ctx = json.loads((ROOT / "cdk.json").read_text())["context"]
    if pipeline_override is not None:
        ctx["pipeline"] = pipeline_override
    ctx["aws:cdk:bundling-stacks"] = []  # no asset bundling in unit-speed infrastructure tests
    app = cdk.App(context=ctx)
    stack = cdk_app.build_app(app)
    app.synth()
    return stack, Template.from_stack(stack)


@pytest.fixture(scope="session")
def synthed():
    return synth()


@pytest.fixture(scope="session")
def template(synthed):
    return synthed[1]


def ref_id(template, type_, pattern):
    found = template.find_resources(type_)
    ids = [k for k in found if pattern in k]
    assert len(ids) == 1, (pattern, list(found))
    return ids[0]


def policies_of(template, role_pattern):
    """The role's logical id and every statement of the IAM policies attached to it."""
    role = ref_id(template, "AWS::IAM::Role", role_pattern)
    docs = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
    ]
    return role, [s for d in docs for s in d]


def actions(s):
    a = s["Action"]
    return sorted([a] if isinstance(a, str) else a)
