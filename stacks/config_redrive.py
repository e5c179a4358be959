"""The ``redrive`` block of the pipeline's configuration: the quarantine redrive function.

``stacks.config`` reads it and re-exports ``RedriveConfig``. Free of ``aws_cdk`` imports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .config_contracts import _Reader

_LAMBDA_MEMORY_MB = (128, 10240)
_LAMBDA_TIMEOUT_S = (60, 900)  # the function stops starting objects a minute before its timeout
_MAX_ATTEMPTS = (1, 20)  # PutRecords calls per batch: the first one and the retries of refused entries


@dataclass(frozen=True)
class RedriveConfig:
    """The function that puts quarantined records back on the source stream."""

    memory_mb: int = 1024  # an error object is read whole (Firehose writes up to its buffer size)
    timeout_seconds: int = 900
    max_attempts: int = 5  # a refused entry is retried at most max_attempts - 1 times, then stays in quarantine

    @staticmethod
    def function_name(name_prefix: str) -> str:
        return f"{name_prefix}-redrive"


def read_redrive(raw: Any, path: str) -> RedriveConfig:
    r = _Reader(raw, path)
    d = RedriveConfig()
    cfg = RedriveConfig(
        memory_mb=r.int_in("memory_mb", d.memory_mb, *_LAMBDA_MEMORY_MB),
        timeout_seconds=r.int_in("timeout_seconds", d.timeout_seconds, *_LAMBDA_TIMEOUT_S),
        max_attempts=r.int_in("max_attempts", d.max_attempts, *_MAX_ATTEMPTS),
    )
    r.done()
    return cfg
