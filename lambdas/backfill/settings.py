"""Adapter: what the backfill function reads from its environment.

The scrubber's own settings (``scrubber.settings.Settings``: the compiled contracts, the selector,
the keyring from Secrets Manager, the per-subject key store), read from the same variables as the
stream's scrubber, so that a backfilled record is scrubbed exactly as a streamed one; and where the
output goes:

* ``LAKE_BUCKET``: the lake; ``LAKE_KEY_ARN``: its KMS key (objects are written SSE-KMS with it);
* ``DATA_PREFIX``, ``QUARANTINE_PREFIX``: the lake's Firehose prefixes (templates), as the
  delivery stream is configured;
* ``TIME_FIELD``: the field whose time chooses a record's partition;
* ``MAX_OBJECT_BYTES``: the per-object limit (uncompressed).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from scrubber.settings import Settings

ENV_LAKE_BUCKET = "LAKE_BUCKET"
ENV_LAKE_KEY = "LAKE_KEY_ARN"
ENV_DATA_PREFIX = "DATA_PREFIX"
ENV_QUARANTINE_PREFIX = "QUARANTINE_PREFIX"
ENV_TIME_FIELD = "TIME_FIELD"
ENV_MAX_OBJECT_BYTES = "MAX_OBJECT_BYTES"
REQUIRED = (ENV_LAKE_BUCKET, ENV_DATA_PREFIX, ENV_QUARANTINE_PREFIX, ENV_MAX_OBJECT_BYTES)
# S3 answers in milliseconds; retries (standard mode: throttling, 5xx) before a task reports a
# temporary failure to S3 Batch Operations, which retries the task itself.
S3_CONFIG = {"retries": {"mode": "standard", "total_max_attempts": 5}, "connect_timeout": 5, "read_timeout": 60}


class ConfigurationError(RuntimeError):
    """A variable is missing or malformed. Names the variable, never a value."""


class BackfillSettings:
    """Read now, from ``env``; ``scrubber`` and ``s3`` are injected by tests (default: from ``env``)."""

    def __init__(self, env: Mapping[str, str] = os.environ, scrubber: Settings | None = None, s3=None):
        missing = [k for k in REQUIRED if not env.get(k)]
        if missing:
            raise ConfigurationError(f"missing configuration: {', '.join(missing)}; refusing to backfill")
        self.lake_bucket = env[ENV_LAKE_BUCKET]
        self.lake_key = env.get(ENV_LAKE_KEY) or None
        self.data_prefix = env[ENV_DATA_PREFIX]
        self.quarantine_prefix = env[ENV_QUARANTINE_PREFIX]
        self.time_field = env.get(ENV_TIME_FIELD) or "event_time"
        try:
            self.max_object_bytes = int(env[ENV_MAX_OBJECT_BYTES])
        except ValueError:
            raise ConfigurationError(f"{ENV_MAX_OBJECT_BYTES} is not a whole number of bytes") from None
        try:
            self.scrubber = scrubber if scrubber is not None else Settings(env)
        except (RuntimeError, OSError, ValueError) as exc:  # names a variable or the contracts file, no value
            raise ConfigurationError(f"the scrubber's settings: {exc}") from None
        self._s3 = s3

    @property
    def s3(self):
        if self._s3 is None:
            import boto3
            from botocore.config import Config

            self._s3 = boto3.client("s3", config=Config(**S3_CONFIG))
        return self._s3


def environment(*, lake_bucket: str, lake_key: str, data_prefix: str, quarantine_prefix: str, time_field: str,
                max_object_bytes: int) -> dict[str, str]:
    """The variables above, as the stack and the offline twin set them (beside the scrubber's)."""
    return {ENV_LAKE_BUCKET: lake_bucket, ENV_LAKE_KEY: lake_key, ENV_DATA_PREFIX: data_prefix,
            ENV_QUARANTINE_PREFIX: quarantine_prefix, ENV_TIME_FIELD: time_field,
            ENV_MAX_OBJECT_BYTES: str(max_object_bytes)}
