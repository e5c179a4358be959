"""The real Lambda handlers, run in the twin's process as Lambda would run them.

moto runs no Lambda code without Docker, so the handlers run here, with a Lambda-like context,
their payloads passed across a JSON boundary within Lambda's synchronous limits (6 MB request,
6 MB response), and an environment in which every AWS client they create reaches the local cloud
(``AWS_ENDPOINT_URL``) with fake credentials, never a real account.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from contextlib import contextmanager

from twin.resources import ACCOUNT, REGION

LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024  # synchronous invocation: request and response


class PayloadTooLarge(Exception):
    """A request or response over Lambda's 6 MB (Lambda refuses it; nothing runs or returns)."""


class FakeLambdaContext:
    def __init__(self, function_name: str, timeout_s: int, memory_mb: int):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name}"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "twin"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def invoke(handler, request: bytes, context) -> dict:
    """One synchronous invocation: ``request`` is the JSON payload as sent."""
    if len(request) > LAMBDA_PAYLOAD_LIMIT:
        raise PayloadTooLarge(f"request payload of {len(request):,} bytes; Lambda accepts at most {LAMBDA_PAYLOAD_LIMIT:,}")
    response = json.dumps(handler(json.loads(request), context)).encode("utf-8")
    if len(response) > LAMBDA_PAYLOAD_LIMIT:
        raise PayloadTooLarge(f"response payload of {len(response):,} bytes; Lambda returns at most {LAMBDA_PAYLOAD_LIMIT:,}")
    return json.loads(response)


_DROPPED = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")


@contextmanager
def twin_environment(endpoint: str, overrides: dict[str, str]):
    """The in-process Lambdas' environment; restored afterwards so the caller's is untouched."""
    saved = dict(os.environ)
    for k in list(os.environ):
        if k in _DROPPED or k.startswith("AWS_ENDPOINT_URL_"):
            del os.environ[k]
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.update({
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,  # every client the handlers create reaches the local cloud
        # fake credentials, and no profile or config file that could name real ones
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        **overrides,
    })
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
