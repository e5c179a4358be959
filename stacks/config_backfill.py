"""The ``backfill`` block of the pipeline's configuration: the lake-scale backfill (S3 Batch
Operations invoking the backfill function once per historic object).

``stacks.config`` reads it and re-exports ``BackfillConfig``. Free of ``aws_cdk`` imports.

The source is optional: by default the stack's own backfill bucket, under ``source_prefix``
(upload the history there); or name another bucket of this account (``source_bucket``), with the
KMS key its objects are encrypted with if any (``source_key_arn``). The per-object limit is
checked against the function's storage: the scrubbed output is spooled to ``/tmp``, uncompressed,
before it is written to the lake, and it is larger than its input (provenance, tokens).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .config_contracts import ConfigError, _Reader

# S3's bucket naming rules (no dots: virtual-hosted TLS certificates do not cover them).
_BUCKET_RE = re.compile(r"^(?!xn--)(?!.*-s3alias$)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_PREFIX_RE = re.compile(r"^[A-Za-z0-9!_.*'()/-]{1,512}/$")
_KEY_ARN_RE = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]{1,128}$")
_FIELD_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,127}$")
_EPHEMERAL_MIB = (512, 10240)  # Lambda's /tmp
_MEMORY_MB = (128, 10240)
_TIMEOUT_S = (60, 900)
# What S3 Batch Operations itself writes in the stack's backfill bucket: never a source.
RESERVED_PREFIXES = ("manifests/", "reports/")
# The spooled output (uncompressed) over the object's uncompressed size, with room to spare: measured
# at 1.56 for the producer's events (tokens and provenance); small events with every field sealed grow more.
SPOOL_FACTOR = 3


@dataclass(frozen=True)
class BackfillConfig:
    """The backfill function and where it reads from."""

    source_bucket: str = ""  # "" = the stack's backfill bucket
    source_prefix: str = "backfill/"
    source_key_arn: str = ""  # the KMS key of an external source bucket's objects ("" = none, or SSE-S3)
    # the top-level field whose time (ISO 8601) chooses a record's partition; the source object's
    # last-modified time when a record has none
    time_field: str = "event_time"
    memory_mb: int = 1769  # one full vCPU: the scrubbing is single-threaded
    timeout_seconds: int = 900
    ephemeral_storage_mib: int = 4096
    max_object_mib: int = 1024  # uncompressed bytes of one source object
    source_expiration_days: int = 30  # objects uploaded to the backfill bucket's source prefix (raw personal data)
    report_expiration_days: int = 90  # completion reports and manifests

    @property
    def max_object_bytes(self) -> int:
        return self.max_object_mib * 1024 * 1024

    def function_name(self, name_prefix: str) -> str:
        return f"{name_prefix}-backfill"

    def bucket_name(self, name_prefix: str, account: str, region: str) -> str:
        """The stack's backfill bucket: reports, manifests, and (by default) the source."""
        return f"{name_prefix}-backfill-{account}-{region}"


def read_backfill(raw: Any, path: str) -> BackfillConfig:
    r = _Reader(raw, path)
    d = BackfillConfig()
    bucket = r.get("source_bucket", d.source_bucket)
    if not isinstance(bucket, str) or (bucket and not _BUCKET_RE.match(bucket)):
        raise ConfigError(f"{r.key('source_bucket')} must be an S3 bucket name (3-63 of a-z, 0-9, '-') or \"\" for "
                          f"the stack's backfill bucket, got {bucket!r}")
    prefix = r.string("source_prefix", d.source_prefix, _PREFIX_RE,
                      "must be a key prefix ending with '/' (letters, digits and !_.*'()/-)")
    if prefix.startswith("/") or "//" in prefix:
        raise ConfigError(f"{r.key('source_prefix')} must not start with '/' or hold an empty folder, got {prefix!r}")
    if not bucket and any(prefix.startswith(p) or p.startswith(prefix) for p in RESERVED_PREFIXES):
        raise ConfigError(f"{r.key('source_prefix')} must not overlap {' or '.join(RESERVED_PREFIXES)} of the backfill "
                          f"bucket (S3 Batch Operations' manifests and reports), got {prefix!r}")
    key_arn = r.get("source_key_arn", d.source_key_arn)
    if not isinstance(key_arn, str) or (key_arn and not _KEY_ARN_RE.match(key_arn)):
        raise ConfigError(f"{r.key('source_key_arn')} must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>) or \"\"")
    if key_arn and not bucket:
        raise ConfigError(f"{r.key('source_key_arn')} applies to an external {r.key('source_bucket')} only "
                          "(the stack's backfill bucket has its own key)")
    ephemeral = r.int_in("ephemeral_storage_mib", d.ephemeral_storage_mib, *_EPHEMERAL_MIB)
    cfg = BackfillConfig(
        source_bucket=bucket,
        source_prefix=prefix,
        source_key_arn=key_arn,
        time_field=r.string("time_field", d.time_field, _FIELD_RE, "is not a valid field name"),
        memory_mb=r.int_in("memory_mb", d.memory_mb, *_MEMORY_MB),
        timeout_seconds=r.int_in("timeout_seconds", d.timeout_seconds, *_TIMEOUT_S),
        ephemeral_storage_mib=ephemeral,
        max_object_mib=r.int_in("max_object_mib", d.max_object_mib, 1, _EPHEMERAL_MIB[1]),
        source_expiration_days=r.int_in("source_expiration_days", d.source_expiration_days, 1, 3650),
        report_expiration_days=r.int_in("report_expiration_days", d.report_expiration_days, 1, 3650),
    )
    r.done()
    if cfg.max_object_mib * SPOOL_FACTOR > ephemeral:
        raise ConfigError(f"{r.key('max_object_mib')} must be at most {r.key('ephemeral_storage_mib')} / {SPOOL_FACTOR} "
                          f"({ephemeral // SPOOL_FACTOR}): an object's scrubbed output is spooled to /tmp before it "
                          f"is written, got {cfg.max_object_mib}")
    return cfg
