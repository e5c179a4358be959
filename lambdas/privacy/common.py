"""What every part of the privacy core shares: rejection reasons, the provenance field, paths
into an event, and the self-filling memo."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

# Rejection reasons (metric names are built from these; never from data).
UNKNOWN_CONTRACT = "unknown_contract"
MISSING_EVENT_TYPE = "missing_event_type"
INVALID_EVENT_TYPE = "invalid_event_type"
MISSING_SCHEMA_VERSION = "missing_schema_version"
INVALID_SCHEMA_VERSION = "invalid_schema_version"
TYPE_MISMATCH = "type_mismatch"
VALIDATION_FAILED = "validation_failed"
UNDECLARED_FIELD = "undeclared_field"
UNDECLARED_PII = "undeclared_pii"
# the subject's key, or a parent of it, spelt twice: whose data the record is cannot be told
AMBIGUOUS_SUBJECT = "ambiguous_subject"
# a subject id that is an empty string or has spaces at either end: no rights command could name
# it as it is (make strips them), so it is never keyed
INVALID_SUBJECT = "invalid_subject"
REASONS = (UNKNOWN_CONTRACT, MISSING_EVENT_TYPE, INVALID_EVENT_TYPE, MISSING_SCHEMA_VERSION, INVALID_SCHEMA_VERSION,
           TYPE_MISMATCH, VALIDATION_FAILED, UNDECLARED_FIELD, UNDECLARED_PII, AMBIGUOUS_SUBJECT,
           INVALID_SUBJECT)

META_FIELD = "_privacy"
_MISSING = object()


class NeedsExactNumbers(Exception):
    """A float beyond +-2**53 was seen: it may be an integer orjson could not hold exactly."""


_EXACT_LIMIT = float(2**53)


class Rejection(Exception):
    __slots__ = ("reason",)

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Memo(dict):
    """value -> ``fn(value)``, computed on a miss (``memo[v]``: one dict lookup when it hits) and
    kept up to ``limit`` entries. For string fields only: str keys never collide with a value of
    another type (None, for a nullable field, is a key of its own)."""

    __slots__ = ("fn", "limit")

    def __init__(self, fn, limit: int):
        super().__init__()
        self.fn = fn
        self.limit = limit

    def __missing__(self, v):
        out = self.fn(v)
        if len(self) < self.limit:
            self[v] = out
        return out


def _segments(path: str) -> tuple[tuple[str, bool], ...]:
    return tuple((p[:-3], True) if p.endswith("[*]") else (p, False) for p in path.split("."))


def _slots(event: dict, segs) -> Iterator[tuple[dict, str]]:
    """Every (container, key) where the path's leaf lives. Missing or mistyped parents yield
    nothing: validation of the parent reports them."""
    containers = [event]
    for name, each in segs[:-1]:
        nxt = []
        for c in containers:
            v = c.get(name)
            if each:
                if type(v) is list:
                    nxt.extend(x for x in v if type(x) is dict)
            elif type(v) is dict:
                nxt.append(v)
        containers = nxt
    name, each = segs[-1]
    for c in containers:
        if each:
            v = c.get(name)
            if type(v) is list:
                for i in range(len(v)):
                    yield v, i  # type: ignore[misc]
        else:
            yield c, name


@dataclass
class Outcome:
    applied: dict  # path -> action, names only
    redacted: bool  # something was transformed for lack of consent, or masked by the scan
