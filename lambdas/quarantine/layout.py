"""Where Firehose puts the records the scrubber failed, and where the redrive moves them.

Firehose writes them under the quarantine prefix rendered for the error output type
(``processing-failed``: the processor failed the record or the whole invocation) and for the
arrival time of the object's oldest record (UTC), and names each object
``<delivery stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid>`` (plus ``.gz`` for GZIP), the same time
to the second. That name is the object's time here: a range [since, until) selects the objects
whose oldest record arrived in it, and an object is redriven whole or split, never partly read.

Where they go once redriven: ``<quarantine root>redriven/`` + the key below the root, e.g.
``quarantine/redriven/processing-failed/year=2026/.../<name>.gz``. Inside the quarantine's static
folder on purpose: the copies still hold raw records, so the bucket policy's fence (readable by the
quarantine reader and the redrive only) and the quarantine's expiry apply to them unchanged, with
no second rule to keep in step. No key Firehose writes can start with that folder: the prefix
after its static folder starts with an expression or a name of its own, and an expression renders
to digits, an error type or 11 random characters, never ``redriven``.

A record the Kinesis stream still refused after the bounded attempts stays in quarantine: an object
with some of them is split, its refused records written back as ``<name>-r<n+1>`` (same folder,
same time: the next redrive of the range finds it) and the rest moved aside.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

ERROR_OUTPUT_TYPE = "processing-failed"
REDRIVEN_FOLDER = "redriven/"
_ERROR_TYPE_EXPR = "!{firehose:error-output-type}"
_EXPR = re.compile(r"!\{([^}]*)\}")
_TOKENS = {"yyyy": r"\d{4}", "MM": r"\d{2}", "dd": r"\d{2}", "HH": r"\d{2}", "mm": r"\d{2}", "ss": r"\d{2}"}
_TOKEN = re.compile(r"yyyy|MM|dd|HH|mm|ss")
# <stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid>[-r<n>][extensions]
_NAME = re.compile(
    r"^(?P<stem>.+-(?P<time>\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2})-[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})"
    r"(?:-r(?P<part>[1-9]\d{0,5}))?(?P<ext>(?:\.[A-Za-z0-9_]+)*)$"
)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
MAX_SPLITS = 999_999  # an object split more often than this is left where it is


class RangeError(ValueError):
    """A bound of the range that cannot be read. The message names the bound (``since``/``until``)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def static_folder(prefix: str) -> str:
    """The prefix up to the last '/' before its first expression."""
    static = prefix.split("!{", 1)[0]
    return static[: static.rfind("/") + 1]


def _pattern(prefix: str) -> str:
    """A regular expression for the keys' folders the prefix renders to (the error type fixed)."""
    out, i = [], 0
    for m in _EXPR.finditer(prefix):
        out.append(re.escape(prefix[i : m.start()]))
        expr = m.group(1)
        if expr.startswith("timestamp:"):
            fmt, j, parts = expr.removeprefix("timestamp:"), 0, []
            for t in _TOKEN.finditer(fmt):
                parts += [re.escape(fmt[j : t.start()]), _TOKENS[t.group()]]
                j = t.end()
            out.append("".join(parts) + re.escape(fmt[j:]))
        elif expr == "firehose:random-string":
            out.append("[A-Za-z0-9]+")
        else:  # the config allows no other expression (stacks.config)
            raise ValueError(f"unsupported prefix expression !{{{expr}}}")
        i = m.end()
    out.append(re.escape(prefix[i:]))
    return "".join(out)


class Layout:
    """The quarantine's keys, from the configured quarantine prefix (``DeliveryConfig.quarantine_prefix``)."""

    def __init__(self, quarantine_prefix: str):
        rendered = quarantine_prefix.replace(_ERROR_TYPE_EXPR, ERROR_OUTPUT_TYPE)
        self.root = static_folder(quarantine_prefix)
        if not self.root:
            raise ValueError("the quarantine prefix must start with a static folder")
        self.redriven_root = self.root + REDRIVEN_FOLDER
        # what to list: every error object of the type is under it
        self.listing = static_folder(rendered)
        self.redriven_listing = self.redriven_key(self.listing)
        self._folder = re.compile(_pattern(rendered))

    def redriven_key(self, key: str) -> str:
        return self.redriven_root + key[len(self.root) :]

    def is_error_object(self, key: str) -> bool:
        """Under the prefix's folders for the error type (any name): Firehose's, or an unknown object."""
        if key.startswith(self.redriven_root) or not key.startswith(self.root):
            return False
        m = self._folder.match(key)
        return m is not None and "/" not in key[m.end() :] and m.end() < len(key)

    @staticmethod
    def object_time_ms(key: str) -> int | None:
        """The time in a Firehose object name (its oldest record's arrival, to the second), or None."""
        m = _NAME.match(key.rsplit("/", 1)[-1])
        if m is None:
            return None
        try:
            t = datetime.strptime(m.group("time"), "%Y-%m-%d-%H-%M-%S").replace(tzinfo=UTC)
        except ValueError:
            return None
        return int(t.timestamp()) * 1000

    @staticmethod
    def remainder_key(key: str) -> str | None:
        """Where the records of ``key`` that could not be put back go: the same name with the next
        ``-r<n>`` (None if the name is not Firehose's, or split too often)."""
        folder, _, name = key.rpartition("/")
        m = _NAME.match(name)
        if m is None:
            return None
        part = int(m.group("part") or 0) + 1
        if part > MAX_SPLITS:
            return None
        return f"{folder}/{m.group('stem')}-r{part}{m.group('ext')}" if folder else f"{m.group('stem')}-r{part}{m.group('ext')}"


def parse_bound(value: object, field: str) -> int | None:
    """A bound of the range as epoch milliseconds (None if not given): a UTC day ``YYYY-MM-DD``
    (its midnight), or an ISO-8601 time with its zone (``2026-01-15T09:30:00Z``, ``...+02:00``).
    The message of a bad one names the field, and never repeats the value."""
    if value is None:
        return None
    if type(value) is not str or not value.isascii():
        raise RangeError(field, "must be a date (YYYY-MM-DD, UTC) or an ISO-8601 time with its zone")
    if _DAY.fullmatch(value):
        try:
            d = date.fromisoformat(value)
        except ValueError:
            raise RangeError(field, "is not a calendar date (YYYY-MM-DD)") from None
        return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()) * 1000
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise RangeError(field, "must be a date (YYYY-MM-DD, UTC) or an ISO-8601 time with its zone") from None
    if t.tzinfo is None:
        raise RangeError(field, "must carry its time zone (Z or +HH:MM)")
    return int(t.timestamp() * 1000)


def parse_range(since: object, until: object) -> tuple[int | None, int | None]:
    """[since, until) in epoch milliseconds; either end may be open."""
    lo, hi = parse_bound(since, "since"), parse_bound(until, "until")
    if lo is not None and hi is not None and lo >= hi:
        raise RangeError("until", "must be after since")
    return lo, hi


def iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")
