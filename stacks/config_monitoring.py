"""The ``monitoring`` block of the pipeline's configuration: the alarms' thresholds and where they go.

Read by ``stacks.config.load_config`` (which re-exports ``MonitoringConfig``); the thresholds that
depend on other blocks (data freshness on the buffering intervals, iterator age on the stream's
retention) are checked against them here, so a threshold that would fire in healthy operation, or
only after the data it guards has expired, fails synth naming its key. Free of ``aws_cdk`` imports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .config_contracts import ConfigError, _Reader

# A plain shape check (SNS confirms the address by mail): one '@', a dot in the domain, no spaces.
_EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
_FIREHOSE_MAX_FRESHNESS_S = 86_400  # Firehose keeps undelivered data for at most 24 hours


@dataclass(frozen=True)
class MonitoringConfig:
    alarm_email: str = ""  # "" = no e-mail subscription (the topic still receives every alarm)
    iterator_age_seconds: int = 300  # oldest unread record in the Kinesis stream
    # 0 = derived: 2 x delivery.buffering_interval_seconds + processor_buffer_interval_seconds +
    # scrubber.timeout_seconds (see ``freshness_threshold``)
    freshness_seconds: int = 0
    quarantine_ratio: float = 0.01  # RecordsFailed / RecordsIn over one period
    success_ratio: float = 0.99  # DeliveryToS3.Success and ExecuteProcessing.Success (averages) below this
    duration_timeout_ratio: float = 0.8  # a function's longest run above this share of its timeout
    error_count: int = 0  # Lambda Errors (and Throttles) per period above this
    throttled_records: int = 0  # Kinesis write throttling and Firehose ThrottledRecords per period above this


def derived_freshness(buffering_interval_s: int, processor_interval_s: int, scrubber_timeout_s: int) -> int:
    """The default DataFreshness threshold. In healthy operation a record waits at most the
    processor's buffer interval, one scrubber invocation, and the S3 buffer interval before it is
    delivered; a second S3 interval of slack means one missed flush does not page, two do."""
    return 2 * buffering_interval_s + processor_interval_s + scrubber_timeout_s


def _number_in(r: _Reader, name: str, default: float, lo: float, hi: float) -> float:
    v = r.get(name, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ConfigError(f"{r.key(name)} must be a number, got {v!r}")
    if not lo < v <= hi:
        raise ConfigError(f"{r.key(name)} must be greater than {lo} and at most {hi}, got {v}")
    return float(v)


def read_monitoring(
    raw: Any,
    path: str,
    *,
    buffering_interval_s: int,
    processor_interval_s: int,
    scrubber_timeout_s: int,
    retention_hours: int,
) -> MonitoringConfig:
    """Read and validate the ``monitoring`` block; the other arguments are the settings it is checked against."""
    r = _Reader(raw, path)
    d = MonitoringConfig()
    email = r.get("alarm_email", d.alarm_email)
    # the address is an operator's, still personal data: the error names the key, not the value
    if not isinstance(email, str) or (email and (len(email) > 254 or not _EMAIL_RE.match(email))):
        raise ConfigError(f"{r.key('alarm_email')} must be an e-mail address (name@domain) or \"\" for none")
    retention_s = retention_hours * 3600
    iterator_age = r.int_in("iterator_age_seconds", d.iterator_age_seconds, 60, retention_s - 1)
    healthy = buffering_interval_s + processor_interval_s + scrubber_timeout_s
    freshness = r.get("freshness_seconds", d.freshness_seconds)
    if freshness != 0 or isinstance(freshness, bool):  # 0 = derived; anything else is checked
        freshness = r.int_in("freshness_seconds", freshness, healthy + 1, _FIREHOSE_MAX_FRESHNESS_S)
    cfg = MonitoringConfig(
        alarm_email=email,
        iterator_age_seconds=iterator_age,
        freshness_seconds=freshness,
        quarantine_ratio=_number_in(r, "quarantine_ratio", d.quarantine_ratio, 0, 1),
        success_ratio=_number_in(r, "success_ratio", d.success_ratio, 0, 1),
        duration_timeout_ratio=_number_in(r, "duration_timeout_ratio", d.duration_timeout_ratio, 0, 1),
        error_count=r.int_in("error_count", d.error_count, 0, 1_000_000),
        throttled_records=r.int_in("throttled_records", d.throttled_records, 0, 1_000_000_000),
    )
    r.done()
    return cfg


def freshness_threshold(cfg: MonitoringConfig, buffering_interval_s: int, processor_interval_s: int, scrubber_timeout_s: int) -> int:
    """The DataFreshness threshold in seconds: the configured one, or the derived default."""
    return cfg.freshness_seconds or derived_freshness(buffering_interval_s, processor_interval_s, scrubber_timeout_s)
