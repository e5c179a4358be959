"""Where a backfilled object's records land in the lake: keys that Athena's partition projection
and ``make query`` read as they read Firehose's, and that are the same every time the same
source object is backfilled.

* **Data**: in the lake's own partitions (the data prefix, rendered as Firehose renders it), chosen
  by each record's *event time*, so that a backfilled June 2023 event is found by a query on June
  2023, as an analyst expects, and not under the day the backfill ran. A record without a readable
  time takes the source object's last-modified time, the nearest thing to an arrival time it has.
  One object per partition and source object: ``<partition>backfill-<source id>.gz``.
* **Quarantine**: one object per source object, ``<quarantine prefix rendered with error type
  backfill-failed, on the source object's last-modified day>backfill-<source id>.gz``, written
  even when empty, so that a re-run whose records all pass leaves no stale quarantine behind.

The source id is a hash of the source bucket, key and ETag: a re-run over the same object (an S3
Batch Operations retry, a second job) writes the same keys, never a second copy; a changed object
(new ETag) is a new source. Nothing here depends on the time the backfill runs.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

OBJECT_PREFIX = "backfill-"
ERROR_TYPE = "backfill-failed"  # the quarantine prefix's !{firehose:error-output-type}
_RANDOM_LEN = 11  # Firehose's !{firehose:random-string}
# Firehose's timestamp tokens, as (token, attribute of a datetime, digits)
_TOKENS = (("yyyy", "year", 4), ("MM", "month", 2), ("dd", "day", 2), ("HH", "hour", 2), ("mm", "minute", 2), ("ss", "second", 2))


def source_id(bucket: str, key: str, etag: str) -> str:
    """32 hex characters naming one version of one source object (its content, by the ETag)."""
    return hashlib.sha256(f"{bucket}\n{key}\n{etag.strip(chr(34))}".encode()).hexdigest()[:32]


def render(prefix: str, when: datetime, *, error_type: str | None = None, random_string: str = "") -> str:
    """Firehose's ``!{timestamp:…}``, ``!{firehose:error-output-type}`` and
    ``!{firehose:random-string}`` (here a given, deterministic string). Years are written with four
    digits whatever the platform's strftime does."""
    out, i = [], 0
    while (j := prefix.find("!{", i)) >= 0:
        out.append(prefix[i:j])
        k = prefix.index("}", j)
        expr = prefix[j + 2 : k]
        if expr.startswith("timestamp:"):
            fmt = expr[len("timestamp:") :]
            for token, attr, digits in _TOKENS:
                fmt = fmt.replace(token, f"{getattr(when, attr):0{digits}d}")
            out.append(fmt)
        elif expr == "firehose:error-output-type" and error_type is not None:
            out.append(error_type)
        elif expr == "firehose:random-string":
            out.append(random_string[:_RANDOM_LEN])
        else:
            raise ValueError(f"unsupported prefix expression !{{{expr}}}")
        i = k + 1
    out.append(prefix[i:])
    return "".join(out)


def key_pattern(prefix: str, *, error_type: str | None = None) -> str:
    """Every key this module writes under ``prefix``, as an IAM resource pattern: each expression
    a ``*`` (the error type written out), then the object name's start and a ``*``."""
    out, i = [], 0
    while (j := prefix.find("!{", i)) >= 0:
        k = prefix.index("}", j)
        out += [prefix[i:j], error_type if prefix[j + 2 : k] == "firehose:error-output-type" and error_type else "*"]
        i = k + 1
    return "".join([*out, prefix[i:], OBJECT_PREFIX, "*"])


class Layout:
    """The lake's prefixes (the Firehose templates the stack configures) for one source object."""

    def __init__(self, data_prefix: str, quarantine_prefix: str, sid: str, fallback: datetime):
        self.data_prefix = data_prefix
        self.quarantine_prefix = quarantine_prefix
        self.sid = sid
        self.fallback = fallback.astimezone(UTC)
        self.name = f"{OBJECT_PREFIX}{sid}.gz"
        # the parts of a time the data prefix uses: two times with the same parts share a partition
        self._parts = tuple(attr for token, attr, _ in _TOKENS if token in data_prefix)
        self._memo: dict[tuple, str] = {}

    def partition(self, when: datetime | None) -> str:
        """The data key for a record of time ``when`` (None: the source object's time)."""
        when = self.fallback if when is None else when
        parts = tuple(getattr(when, a) for a in self._parts)
        key = self._memo.get(parts)
        if key is None:
            key = self._memo[parts] = render(self.data_prefix, when, random_string=self.sid) + self.name
        return key

    @property
    def quarantine_key(self) -> str:
        return render(self.quarantine_prefix, self.fallback, error_type=ERROR_TYPE, random_string=self.sid) + self.name


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 date or time as UTC (a time without an offset is taken as UTC); None for
    anything else (a redacted or generalised value, a number, a missing field)."""
    if type(value) is not str or not 10 <= len(value) <= 64:
        return None
    try:
        when = datetime.fromisoformat(value)
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except (ValueError, OverflowError):  # not ISO 8601; or an offset that leaves years 1-9999
        return None
