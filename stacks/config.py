"""The pipeline's one typed configuration.

Read from the ``pipeline`` key of the CDK context: cdk.json's block, with any
``-c pipeline='{...}'`` deep-merged over it (``resolve_pipeline``), validated here, at synth time.
Both the CDK app and the offline twin build from the same ``PipelineConfig`` so that the twin runs
under the same names and limits as a deployment.

This module must stay free of ``aws_cdk`` imports: the twin and the tests import it without
paying for jsii.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Re-exported: the rest of the code imports them from here.
from .config_backfill import BackfillConfig, read_backfill
from .config_contracts import (  # noqa: F401
    CONTEXT_KEY,
    REPO_ROOT,
    ConfigError,
    ContractsConfig,
    _Reader,
    check_contracts,
    load_contracts,
    read_contracts,
)
from .config_monitoring import MonitoringConfig, read_monitoring
from .config_query import QueryConfig, read_query
from .config_redrive import RedriveConfig, read_redrive
from .config_subject_keys import SubjectKeysConfig, read_subject_keys

# AWS documented ranges (Firehose, Kinesis, Lambda, S3) that a config value must respect.
_KINESIS_RETENTION_HOURS = (24, 8760)
_KINESIS_MAX_PROVISIONED_SHARDS = 500  # default account quota per region in most regions
_FIREHOSE_BUFFER_INTERVAL_S = (0, 900)
_FIREHOSE_BUFFER_SIZE_MIB = (1, 128)
_PROCESSOR_BUFFER_INTERVAL_S = (0, 900)
_PROCESSOR_BUFFER_SIZE_MIB = (1, 3)  # Lambda processor: Firehose buffers at most 3 MB per invocation
_PROCESSOR_RETRIES = (0, 300)
_LAMBDA_MEMORY_MB = (128, 10240)
_LAMBDA_TIMEOUT_S = (1, 900)
_FIREHOSE_PROCESSOR_MAX_TIMEOUT_S = 300  # Firehose waits at most 5 minutes for a processor
_LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)
_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
_ROLE_NAME_RE = re.compile(r"^[\w+=,.@-]{1,64}$")
_ERROR_OUTPUT_TYPE = "!{firehose:error-output-type}"
_PREFIX_EXPR_RE = re.compile(r"!\{([^}]*)\}")
_ALLOWED_EXPR_RE = re.compile(
    r"^(timestamp:(yyyy|MM|dd|HH|mm|ss)([/_\-=](yyyy|MM|dd|HH|mm|ss))*|firehose:error-output-type|firehose:random-string)$"
)


@dataclass(frozen=True)
class StreamConfig:
    mode: str = "ON_DEMAND"  # or PROVISIONED
    shard_count: int = 1  # used only in PROVISIONED mode
    retention_hours: int = 24


@dataclass(frozen=True)
class DeliveryConfig:
    buffering_interval_seconds: int = 300
    buffering_size_mib: int = 64
    processor_buffer_interval_seconds: int = 60
    processor_buffer_size_mib: int = 2  # output grows (provenance, masks): 2 MiB in leaves ~2x room under 6 MB out
    processor_retries: int = 3
    data_prefix: str = "data/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
    quarantine_prefix: str = (
        "quarantine/!{firehose:error-output-type}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/"
    )

    @property
    def quarantine_root(self) -> str:
        """The static folder of the quarantine prefix: up to the last '/' before any expression."""
        return _static_folder(self.quarantine_prefix)

    @property
    def data_root(self) -> str:
        return _static_folder(self.data_prefix)


def _static_folder(prefix: str) -> str:
    static = prefix.split("!{", 1)[0]
    return static[: static.rfind("/") + 1]


@dataclass(frozen=True)
class StorageConfig:
    data_transition_to_ia_days: int = 30
    data_expiration_days: int = 0  # 0 keeps data until a subject-rights job or a person removes it
    noncurrent_version_expiration_days: int = 30
    quarantine_expiration_days: int = 7
    access_log_expiration_days: int = 90
    removal_policy: str = "RETAIN"  # or DESTROY (for throwaway environments)


@dataclass(frozen=True)
class FunctionConfig:
    memory_mb: int
    timeout_seconds: int


@dataclass(frozen=True)
class PipelineConfig:
    name_prefix: str = "pii-scrub"
    stream: StreamConfig = field(default_factory=StreamConfig)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    producer: FunctionConfig = field(default_factory=lambda: FunctionConfig(memory_mb=512, timeout_seconds=300))
    scrubber: FunctionConfig = field(default_factory=lambda: FunctionConfig(memory_mb=1024, timeout_seconds=120))
    contracts: ContractsConfig = field(default_factory=ContractsConfig)
    subject_keys: SubjectKeysConfig = field(default_factory=SubjectKeysConfig)
    rights: FunctionConfig = field(default_factory=lambda: FunctionConfig(memory_mb=1024, timeout_seconds=900))
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)
    quarantine_reader_role_name: str = "pii-scrub-quarantine-reader"
    keyring_break_glass_role_name: str = "pii-scrub-keyring-break-glass"
    log_retention_days: int = 30
    lambda_architecture: str = "x86_64"
    query: QueryConfig = field(default_factory=QueryConfig)
    backfill: BackfillConfig = field(default_factory=BackfillConfig)
    redrive: RedriveConfig = field(default_factory=RedriveConfig)

    # Resource names, shared by the CDK app and the offline twin.
    @property
    def stream_name(self) -> str:
        return f"{self.name_prefix}-events"

    @property
    def delivery_stream_name(self) -> str:
        return f"{self.name_prefix}-delivery"

    @property
    def producer_function_name(self) -> str:
        return f"{self.name_prefix}-producer"

    @property
    def scrubber_function_name(self) -> str:
        return f"{self.name_prefix}-scrubber"

    def data_bucket_name(self, account: str, region: str) -> str:
        return f"{self.name_prefix}-lake-{account}-{region}"

    @property
    def firehose_log_group_name(self) -> str:
        return f"/aws/kinesisfirehose/{self.delivery_stream_name}"

    @property
    def pseudonym_secret_name(self) -> str:
        return f"{self.name_prefix}/pseudonymisation-keys"

    @property
    def subject_keys_table_name(self) -> str:
        return f"{self.name_prefix}-subject-keys"

    @property
    def subject_keys_alias(self) -> str:
        """The KMS key that encrypts the key table's root secrets."""
        return f"alias/{self.name_prefix}-subject-keys-root"

    @property
    def rights_function_name(self) -> str:
        return f"{self.name_prefix}-subject-rights"

    def receipts_bucket_name(self, account: str, region: str) -> str:
        return f"{self.name_prefix}-receipts-{account}-{region}"

    @property
    def glue_database_name(self) -> str:
        """The Glue database (and Athena workgroup name's base): Glue names take '_', not '-'."""
        return self.name_prefix.replace("-", "_")


# --------------------------------------------------------------------------------------------
# Parsing and validation
# --------------------------------------------------------------------------------------------


def _validate_prefix(key: str, prefix: str, *, needs_error_type: bool, is_error: bool = False) -> None:
    if not prefix.endswith("/"):
        raise ConfigError(f"{key} must end with '/', got {prefix!r}")
    if prefix.startswith("/"):
        raise ConfigError(f"{key} must not start with '/', got {prefix!r}")
    if len(prefix) > 1024:
        raise ConfigError(f"{key} is longer than Firehose's 1024 characters")
    for expr in _PREFIX_EXPR_RE.findall(prefix):
        if not _ALLOWED_EXPR_RE.match(expr):
            raise ConfigError(f"{key} uses an unsupported Firehose expression !{{{expr}}}")
    if not is_error and _ERROR_OUTPUT_TYPE in prefix:
        raise ConfigError(f"{key} cannot use {_ERROR_OUTPUT_TYPE}: it is only valid in the quarantine prefix")
    if needs_error_type and _ERROR_OUTPUT_TYPE not in prefix:
        raise ConfigError(
            f"{key} must contain {_ERROR_OUTPUT_TYPE} when the data prefix uses expressions (a Firehose rule)"
        )


def _function(raw: Any, path: str, default: FunctionConfig, max_timeout: int = _LAMBDA_TIMEOUT_S[1]) -> FunctionConfig:
    r = _Reader(raw, path)
    cfg = FunctionConfig(
        memory_mb=r.int_in("memory_mb", default.memory_mb, *_LAMBDA_MEMORY_MB),
        timeout_seconds=r.int_in("timeout_seconds", default.timeout_seconds, _LAMBDA_TIMEOUT_S[0], max_timeout),
    )
    r.done()
    return cfg


def load_config(raw: Any) -> PipelineConfig:
    """Build and validate a PipelineConfig from the raw context value (a mapping or a JSON string)."""
    r = _Reader(_parsed(raw), CONTEXT_KEY)
    name_prefix = r.string(
        "name_prefix", "pii-scrub", _NAME_RE, "must be 3-32 characters of lower-case letters, digits and '-'"
    )

    s = _Reader(r.get("stream", {}), r.key("stream"))
    mode = s.choice("mode", "ON_DEMAND", ("ON_DEMAND", "PROVISIONED"))
    stream = StreamConfig(
        mode=mode,
        shard_count=s.int_in("shard_count", 1, 1, _KINESIS_MAX_PROVISIONED_SHARDS),
        retention_hours=s.int_in("retention_hours", 24, *_KINESIS_RETENTION_HOURS),
    )
    if mode == "ON_DEMAND" and "shard_count" in s.raw:
        raise ConfigError(f"{s.key('shard_count')} only applies when {s.key('mode')} is PROVISIONED")
    s.done()

    d = _Reader(r.get("delivery", {}), r.key("delivery"))
    dd = DeliveryConfig()
    delivery = DeliveryConfig(
        buffering_interval_seconds=d.int_in("buffering_interval_seconds", dd.buffering_interval_seconds, *_FIREHOSE_BUFFER_INTERVAL_S),
        buffering_size_mib=d.int_in("buffering_size_mib", dd.buffering_size_mib, *_FIREHOSE_BUFFER_SIZE_MIB),
        processor_buffer_interval_seconds=d.int_in(
            "processor_buffer_interval_seconds", dd.processor_buffer_interval_seconds, *_PROCESSOR_BUFFER_INTERVAL_S
        ),
        processor_buffer_size_mib=d.int_in("processor_buffer_size_mib", dd.processor_buffer_size_mib, *_PROCESSOR_BUFFER_SIZE_MIB),
        processor_retries=d.int_in("processor_retries", dd.processor_retries, *_PROCESSOR_RETRIES),
        data_prefix=d.string("data_prefix", dd.data_prefix),
        quarantine_prefix=d.string("quarantine_prefix", dd.quarantine_prefix),
    )
    d.done()
    if delivery.processor_buffer_size_mib > delivery.buffering_size_mib:
        raise ConfigError(f"{d.key('processor_buffer_size_mib')} must not exceed {d.key('buffering_size_mib')}")
    data_has_expr = "!{" in delivery.data_prefix
    _validate_prefix(d.key("data_prefix"), delivery.data_prefix, needs_error_type=False)
    _validate_prefix(d.key("quarantine_prefix"), delivery.quarantine_prefix, needs_error_type=data_has_expr, is_error=True)
    data, quarantine = delivery.data_root, delivery.quarantine_root
    if quarantine == "" or data.startswith(quarantine) or quarantine.startswith(data):
        raise ConfigError(
            f"{d.key('quarantine_prefix')} must start with a static folder that does not overlap "
            f"{d.key('data_prefix')} (it holds raw personal data and has its own access and expiry rules)"
        )

    st = _Reader(r.get("storage", {}), r.key("storage"))
    sd = StorageConfig()
    storage = StorageConfig(
        data_transition_to_ia_days=st.int_in("data_transition_to_ia_days", sd.data_transition_to_ia_days, 30, 3650),
        data_expiration_days=st.int_in("data_expiration_days", sd.data_expiration_days, 0, 36500),
        noncurrent_version_expiration_days=st.int_in(
            "noncurrent_version_expiration_days", sd.noncurrent_version_expiration_days, 1, 3650
        ),
        quarantine_expiration_days=st.int_in("quarantine_expiration_days", sd.quarantine_expiration_days, 1, 30),
        access_log_expiration_days=st.int_in("access_log_expiration_days", sd.access_log_expiration_days, 1, 3650),
        removal_policy=st.choice("removal_policy", sd.removal_policy, ("RETAIN", "DESTROY")),
    )
    st.done()
    if storage.data_expiration_days and storage.data_expiration_days <= storage.data_transition_to_ia_days:
        raise ConfigError(
            f"{st.key('data_expiration_days')} must be greater than {st.key('data_transition_to_ia_days')} (or 0)"
        )

    producer = _function(r.get("producer", {}), r.key("producer"), FunctionConfig(512, 300))
    scrubber = _function(
        r.get("scrubber", {}), r.key("scrubber"), FunctionConfig(1024, 120), max_timeout=_FIREHOSE_PROCESSOR_MAX_TIMEOUT_S
    )
    rights = _function(r.get("rights", {}), r.key("rights"), FunctionConfig(1024, 900))
    contracts = read_contracts(r.get("contracts", {}), r.key("contracts"))
    subject_keys = read_subject_keys(r.get("subject_keys", {}), r.key("subject_keys"))
    role_name = r.string(
        "quarantine_reader_role_name", f"{name_prefix}-quarantine-reader", _ROLE_NAME_RE, "is not a valid IAM role name"
    )
    break_glass = r.string(
        "keyring_break_glass_role_name", f"{name_prefix}-keyring-break-glass", _ROLE_NAME_RE, "is not a valid IAM role name"
    )
    if break_glass == role_name:
        raise ConfigError(f"{r.key('keyring_break_glass_role_name')} must differ from {r.key('quarantine_reader_role_name')}")
    retention = r.get("log_retention_days", 30)
    if retention not in _LOG_RETENTION_DAYS or isinstance(retention, bool):
        raise ConfigError(
            f"{r.key('log_retention_days')} must be one of CloudWatch's retention values "
            f"({', '.join(map(str, sorted(_LOG_RETENTION_DAYS)))}), got {retention!r}"
        )
    arch = r.choice("lambda_architecture", "x86_64", ("x86_64", "arm64"))
    monitoring = read_monitoring(
        r.get("monitoring", {}), r.key("monitoring"), buffering_interval_s=delivery.buffering_interval_seconds,
        processor_interval_s=delivery.processor_buffer_interval_seconds, scrubber_timeout_s=scrubber.timeout_seconds,
        retention_hours=stream.retention_hours,
    )
    query = read_query(r.get("query", {}), r.key("query"))
    backfill = read_backfill(r.get("backfill", {}), r.key("backfill"))
    redrive = read_redrive(r.get("redrive", {}), r.key("redrive"))
    r.done()
    return PipelineConfig(
        name_prefix=name_prefix,
        stream=stream,
        delivery=delivery,
        storage=storage,
        producer=producer,
        scrubber=scrubber,
        contracts=contracts,
        subject_keys=subject_keys,
        rights=rights,
        monitoring=monitoring,
        quarantine_reader_role_name=role_name,
        keyring_break_glass_role_name=break_glass,
        log_retention_days=retention,
        lambda_architecture=arch,
        query=query,
        backfill=backfill,
        redrive=redrive,
    )


# --------------------------------------------------------------------------------------------
# Overrides: ``-c pipeline='{...}'`` over cdk.json
# --------------------------------------------------------------------------------------------


def merge_context(base: Any, override: Any) -> Any:
    """``override`` deep-merged over ``base``: objects merge key by key, anything else (a scalar,
    a list, null) replaces. So ``-c pipeline='{"name_prefix": "x"}'`` changes the name prefix and
    keeps every other cdk.json setting, rather than sending them back to the code defaults.
    Neither argument is changed."""
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        merged = dict(base)
        for k, v in override.items():
            merged[k] = merge_context(base[k], v) if k in base else v
        return merged
    return override


def _parsed(raw: Any) -> Any:
    """The CDK CLI hands ``-c key=value`` over as a string: a JSON one is read as JSON."""
    if isinstance(raw, str):
        try:
            return json.loads(raw, object_pairs_hook=_no_repeated_keys)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{CONTEXT_KEY} is not valid JSON: {exc.msg}") from None
        except RecursionError:
            raise ConfigError(f"{CONTEXT_KEY} is nested too deep to be a configuration") from None
    return raw


def _no_repeated_keys(pairs: list) -> dict:
    """A key given twice in an override would silently keep the last value: refused."""
    seen = set()
    for k, _ in pairs:
        if k in seen:
            raise ConfigError(f"{CONTEXT_KEY}: the key {k!r} is given twice")
        seen.add(k)
    return dict(pairs)


def resolve_pipeline(base: Any, override: Any = None) -> Any:
    """The ``pipeline`` context to load: ``override`` (a mapping, a JSON string, or None for no
    override) deep-merged over ``base``, the block cdk.json holds."""
    base = _parsed(base)
    if override is None:
        return base
    override = _parsed(override)
    if not isinstance(override, Mapping):
        raise ConfigError(f"{CONTEXT_KEY} must be an object, got {'null' if override is None else type(override).__name__}")
    return merge_context(base, override)


def cdk_json_context(path: str | Path) -> dict:
    """The ``context`` block of a cdk.json file."""
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError, RecursionError) as exc:
        raise ConfigError(f"{path}: cannot be read as JSON ({getattr(exc, 'strerror', None) or type(exc).__name__})") from None
    ctx = doc.get("context", {}) if isinstance(doc, dict) else None
    if not isinstance(ctx, dict):
        raise ConfigError(f"{path}: its context must be an object")
    return ctx


def load_from_cdk_json(path: str | Path = "cdk.json", override: Any = None) -> PipelineConfig:
    """The configuration the CDK app builds from cdk.json, with an optional override of the
    ``pipeline`` block merged over it (the twin's ``-c``, as the CDK CLI's)."""
    return load_config(resolve_pipeline(cdk_json_context(path).get(CONTEXT_KEY), override))
