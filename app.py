#!/usr/bin/env python3
"""CDK app: the consent-aware PII scrubbing pipeline."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks.config import CONTEXT_KEY, ConfigError, cdk_json_context, load_config, resolve_pipeline
from stacks.pipeline_stack import PiiScrubbingPipelineStack

STACK_NAME = "PiiScrubbingPipeline"
CDK_JSON = Path(__file__).resolve().parent / "cdk.json"


def build_app(app: cdk.App, cdk_json: str | Path = CDK_JSON) -> PiiScrubbingPipelineStack:
    """The stack, configured by cdk.json's ``pipeline`` block with the app's ``pipeline`` context
    deep-merged over it. The CLI's ``-c pipeline='{...}'`` replaces cdk.json's value in the
    context the app receives; reading cdk.json here restores the settings the override leaves
    out, the way ``python -m twin -c`` reads them."""
    try:
        base = cdk_json_context(cdk_json).get(CONTEXT_KEY)
        config = load_config(resolve_pipeline(base, app.node.try_get_context(CONTEXT_KEY)))
    except ConfigError as exc:
        sys.stderr.write(f"Invalid configuration: {exc}\n")
        raise SystemExit(1) from None
    stack = PiiScrubbingPipelineStack(
        app,
        STACK_NAME,
        config=config,
        env=cdk.Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")),
    )
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return stack


if __name__ == "__main__":
    _app = cdk.App()
    build_app(_app)
    _app.synth()
