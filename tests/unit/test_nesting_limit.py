"""The nesting limit, exactly as documented: a record nested 1,024 levels deep (the event object is
level 1) is scrubbed, one nested 1,025 levels deep is quarantined as ``too_deep``, whichever
engine takes it and wherever the depth sits."""

from __future__ import annotations

import json

import orjson
import pytest

from privacy.fast import MAX_DEPTH
from producer.events import EventFactory
from scrubber.batch import process_records
from tests.conftest import firehose_event

NOW = "2026-01-15T09:30:00.000Z"
ORDER = orjson.dumps(EventFactory(seed=3, consent_ratio=1.0, subjects=2, event_types=("order_placed/1",)).next_event())


def lists(levels: int, inner: bytes = b"") -> bytes:
    return b"[" * levels + inner + b"]" * levels


def dicts(levels: int) -> bytes:
    return b'{"a":' * (levels - 1) + b"{}" + b"}" * (levels - 1)


def legacy(value: bytes, consent: bytes = b"true", extra: bytes = b"") -> bytes:
    return b'{"name":"Gnoll","dob":' + value + b',"gender":"M","ssn_no":"807831104","data_share_consent":' + consent + extra + b"}"


# depth -> the record; each reaches ``depth`` levels in total (the event object is level 1)
CASES = {
    "lists in an untyped field, consent": lambda d: legacy(lists(d - 1)),
    "lists in an untyped field, no consent": lambda d: legacy(lists(d - 1), b"false"),
    "objects in an untyped field": lambda d: legacy(dicts(d - 1)),
    "the consent value itself": lambda d: legacy(b"1", lists(d - 1)),
    "a duplicate consent key (reference engine)": lambda d: legacy(lists(d - 1), extra=b',"data_share_consent":true'),
    "an integer beyond 64 bits (exact re-read)": lambda d: legacy(lists(d - 1, b"123456789012345678901234567890")),
    "an undeclared field to drop (reference engine)": lambda d: ORDER[:-1] + b',"extra":' + lists(d - 1) + b"}",
}


def depth(raw: bytes) -> int:
    deepest = level = 0
    in_string = escaped = False
    for ch in raw.decode():
        if in_string:
            escaped, in_string = (False, True) if escaped else (ch == "\\", ch != '"')
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            level += 1
            deepest = max(deepest, level)
        elif ch in "]}":
            level -= 1
    return deepest


@pytest.mark.parametrize("case", list(CASES))
def test_depth_limit_is_exact(scrubber, case):
    ok, deep = CASES[case](MAX_DEPTH), CASES[case](MAX_DEPTH + 1)
    assert (depth(ok), depth(deep)) == (1024, 1025)
    res = process_records(firehose_event([ok, deep])["records"], scrubber, NOW)
    assert [r["result"] for r in res.records] == ["Ok", "ProcessingFailed"]
    assert dict(res.failed) == {"too_deep": 1}
    line = orjson.loads(__import__("base64").b64decode(res.records[0]["data"]))
    assert depth(json.dumps(line).encode()) <= MAX_DEPTH
    if b"data_share_consent" in ok and b'"data_share_consent":false' not in ok:
        assert "807831104" not in json.dumps(line) or line["_privacy"]["applied"] == {}


def test_far_deeper_records_are_quarantined_not_crashing(scrubber):
    raws = [legacy(lists(100_000)), legacy(dicts(50_000)), ORDER[:-1] + b',"x":' + lists(200_000) + b"}"]
    res = process_records(firehose_event(raws)["records"], scrubber, NOW)
    assert [r["result"] for r in res.records] == ["ProcessingFailed"] * 3
    assert dict(res.failed) == {"too_deep": 3}
