#!/usr/bin/env python3
"""CDK app: the consent-aware PII scrubbing pipeline."""

from __future__ import annotations

import os
import sys

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks.config import CONTEXT_KEY, ConfigError, load_config
from stacks.pipeline_stack import PiiScrubbingPipelineStack

STACK_NAME = "PiiScrubbingPipeline"


def build_app(app: cdk.App) -> PiiScrubbingPipelineStack:
    try:
        config = load_config(app.node.try_get_context(CONTEXT_KEY))
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
