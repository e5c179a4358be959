"""A datetime field holds a real moment: a day that does not exist (which the lake's query engines,
DuckDB and Athena, refuse to read, failing every query over the column) is refused, on both engines."""

from __future__ import annotations

import orjson
import pytest

from scrubber.batch import OK, process_records
from tests.conftest import firehose_event
from tests.unit.test_batch import NOW, event


@pytest.mark.parametrize("when, ok", [("2026-02-28T10:00:00Z", True), ("2024-02-29T10:00:00Z", True),
                                      ("2026-02-29T10:00:00Z", False), ("2026-02-31T00:00:00Z", False),
                                      ("2026-04-31 23:59", False), ("0000-01-01T00:00:00Z", False)])
def test_a_datetime_on_a_day_that_does_not_exist_is_refused(scrubber, when, ok, monkeypatch):
    raw = orjson.dumps(event(0, event_time=when))
    res = process_records(firehose_event([raw])["records"], scrubber, NOW)
    assert (res.records[0]["result"] == OK) is ok
    assert ok or res.failed == {"validation_failed": 1}
    monkeypatch.setattr(scrubber.fast, "scrub", lambda *_a, **_k: (_ for _ in ()).throw(RuntimeError()))
    res = process_records(firehose_event([raw])["records"], scrubber, NOW)  # the reference engine alone
    assert (res.records[0]["result"] == OK) is ok and res.reference_path == 1
