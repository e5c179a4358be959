"""Adapter: what the subject-rights function reads from its environment, and its AWS clients.

* ``SUBJECT_KEYS_TABLE``, ``SUBJECT_KEYS_ROOT_KEY``: the key table and the KMS key of its root.
* ``LAKE_BUCKET``, ``LAKE_PREFIX``: the lake and its data prefix, either as the delivery stream's
  template (``data/year=!{timestamp:yyyy}/...``) or as its static folder (``data/``, the default
  hourly layout then assumed under it, for date ranges).
* ``RECEIPTS_BUCKET``: erasure receipts (``receipts/...``) and exports too large for a response
  (``exports/...``).
* ``CONTRACTS_FILE``: the compiled contract bundle (default: ``contracts.json`` next to the
  package, as the scrubber's).
* ``SUBJECT_KEYS_CACHE_TTL_S``, ``SUBJECT_KEYS_PITR_DAYS``, and optionally
  ``STREAM_RETENTION_HOURS`` and ``QUARANTINE_EXPIRATION_DAYS``: what the receipt states.
* ``EXPORT_FINDER``: how an export finds the subject's objects: ``athena`` (a query, see
  ``rights.athena``) or ``scan`` (every object of the range; the default when unset). With
  ``athena``: ``ATHENA_WORKGROUP``, ``GLUE_DATABASE``, ``GLUE_TABLE``, ``EXPORT_SUBJECT_PATHS`` (the
  subject columns, ``rights.finder.dump_paths``) and ``EXPORT_QUERY_TIMEOUT_S`` (the longest wait).

Anything missing or malformed fails the invocation with a message naming the variable.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

from privacy.contract import Contract, load_bundle

from .core import Rights
from .finder import LinkFinder, load_paths
from .lake import READ_AHEAD
from .ports import Lake, Receipts, RootReader
from .receipt import Retention


class ConfigurationError(RuntimeError):
    pass


FINDERS = ("athena", "scan")
_ATHENA_NEEDS = ("ATHENA_WORKGROUP", "GLUE_DATABASE", "GLUE_TABLE", "EXPORT_SUBJECT_PATHS")


def _int(env: Mapping[str, str], name: str, default: int | None, lo: int, hi: int) -> int | None:
    text = env.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or not lo <= int(text) <= hi:
        raise ConfigurationError(f"{name} must be a whole number from {lo} to {hi}, got {text!r}")
    return int(text)


def retention_from(env: Mapping[str, str]) -> Retention:
    return Retention(
        cache_ttl_s=_int(env, "SUBJECT_KEYS_CACHE_TTL_S", 300, 0, 86400),
        pitr_days=_int(env, "SUBJECT_KEYS_PITR_DAYS", 0, 0, 35),
        stream_retention_hours=_int(env, "STREAM_RETENTION_HOURS", None, 1, 8760),
        quarantine_days=_int(env, "QUARANTINE_EXPIRATION_DAYS", None, 1, 36500),
    )


def _live_backups(configured: Retention, dynamodb, table: str):
    """The retention a receipt states, with the key table's point-in-time recovery as DynamoDB
    reports it at the moment (turned on outside the stack, it is still stated), not as configured."""

    def now() -> Retention:
        desc = dynamodb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
        pitr = desc.get("PointInTimeRecoveryDescription") or {}
        on = pitr.get("PointInTimeRecoveryStatus") == "ENABLED"
        return dataclasses.replace(configured, pitr_days=int(pitr.get("RecoveryPeriodInDays") or 35) if on else 0)

    return now


def _required(env: Mapping[str, str], names: tuple[str, ...]) -> None:
    missing = [n for n in names if not env.get(n)]
    if missing:
        raise ConfigurationError(f"missing configuration: {', '.join(missing)}")


class Settings:
    """The function's dependencies, each one given or built from ``env``: the key store and its
    root reader (DynamoDB + KMS), the lake and the receipts (S3), the contracts (the bundle)."""

    def __init__(self, env: Mapping[str, str] = os.environ, *, store=None, root: RootReader | None = None,
                 lake: Lake | None = None, receipts: Receipts | None = None, contracts: list[Contract] | None = None,
                 finder: LinkFinder | None = None):
        needed = ()
        if store is None or root is None:
            needed += ("SUBJECT_KEYS_TABLE", "SUBJECT_KEYS_ROOT_KEY")
        if lake is None:
            needed += ("LAKE_BUCKET",)
        if receipts is None:
            needed += ("RECEIPTS_BUCKET",)
        _required(env, needed)
        self.retention = retention_from(env)
        self.lake_prefix = env.get("LAKE_PREFIX") or "data/"
        if contracts is None:
            path = env.get("CONTRACTS_FILE") or str(Path(__file__).resolve().parent.parent / "contracts.json")
            contracts = load_bundle(Path(path).read_text(encoding="utf-8"))
        self.contracts = contracts
        if store is None or root is None or lake is None or receipts is None:
            import boto3

            from .aws import DynamoRoot, S3Lake, S3Receipts

            s3 = boto3.client("s3") if lake is None or receipts is None else None
            if store is None or root is None:
                dynamodb, kms = boto3.client("dynamodb"), boto3.client("kms")
                table, root_key = env["SUBJECT_KEYS_TABLE"], env["SUBJECT_KEYS_ROOT_KEY"]
                if store is None:
                    try:
                        from keystore.dynamo import DynamoKeyStore
                    except ImportError as exc:
                        raise ConfigurationError(f"the DynamoDB key store cannot be loaded ({exc.name or 'keystore.dynamo'})") from exc
                    store = DynamoKeyStore(table, root_key, dynamodb=dynamodb, kms=kms)
                root = root if root is not None else DynamoRoot(table, root_key, dynamodb=dynamodb, kms=kms)
                self.retention = _live_backups(self.retention, dynamodb, table)
            lake = lake if lake is not None else S3Lake(s3, env["LAKE_BUCKET"])
            receipts = receipts if receipts is not None else S3Receipts(s3, env["RECEIPTS_BUCKET"])
        self.store, self.root, self.lake, self.receipts = store, root, lake, receipts
        self.finder = finder if finder is not None else finder_from(env, self.lake_prefix)
        self.read_ahead = read_ahead_from(env)

    def rights(self, **kw) -> Rights:
        return Rights(self.store, self.root, self.lake, self.receipts, self.contracts, lake_prefix=self.lake_prefix,
                      retention=self.retention, finder=self.finder, read_ahead=self.read_ahead, **kw)


def read_ahead_from(env: Mapping[str, str]) -> int:
    """How many lake objects an export reads ahead, so that the largest the configuration lets
    Firehose write fit in the function's memory: those read ahead and the one being matched are
    each held compressed, decompressed and split into lines (about three times its size), within
    three quarters of the memory. Outside Lambda (no ``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``) or
    without ``LAKE_OBJECT_MAX_MIB``: ``READ_AHEAD``."""
    memory = _int(env, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", None, 128, 10240)
    largest = _int(env, "LAKE_OBJECT_MAX_MIB", None, 1, 1024)
    if memory is None or largest is None:
        return READ_AHEAD
    return max(1, min(READ_AHEAD, int(memory * 0.75) // (3 * largest) - 1))


def finder_from(env: Mapping[str, str], lake_prefix: str) -> LinkFinder | None:
    """The export's finder as ``EXPORT_FINDER`` says: None for ``scan`` (or unset)."""
    kind = env.get("EXPORT_FINDER", "").strip() or "scan"
    if kind not in FINDERS:
        raise ConfigurationError(f"EXPORT_FINDER must be one of {', '.join(FINDERS)}, got {kind!r}")
    if kind == "scan":
        return None
    _required(env, (*_ATHENA_NEEDS, "LAKE_BUCKET"))
    try:
        paths = load_paths(env["EXPORT_SUBJECT_PATHS"])
    except ValueError:
        raise ConfigurationError("EXPORT_SUBJECT_PATHS must be the subject columns as the stack writes them "
                                 "(a JSON list of {names, json_from})") from None
    import boto3

    from .athena import AthenaFinder

    return AthenaFinder(boto3.client("athena"), workgroup=env["ATHENA_WORKGROUP"], database=env["GLUE_DATABASE"],
                        table=env["GLUE_TABLE"], bucket=env["LAKE_BUCKET"], data_prefix=lake_prefix, paths=paths,
                        timeout_s=_int(env, "EXPORT_QUERY_TIMEOUT_S", 300, 1, 900))
