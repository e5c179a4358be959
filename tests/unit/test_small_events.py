"""Reference 003's small events (tools/small_events.py), for the cost estimate of small events:
about 150 bytes each, reproducible, and every one scrubbed under the default contract (none
quarantined), its personal fields redacted without consent."""

from __future__ import annotations

import base64
import os
import stat

import orjson

from scrubber.batch import OK, process_records
from tests.conftest import firehose_event
from tools.small_events import main, small_events

NOW = "2026-01-15T09:30:00.000Z"


def test_small_events_are_about_150_bytes_and_reproducible():
    events = list(small_events(2000, seed=4))
    sizes = [len(e) for e in events]
    assert 130 <= min(sizes) and max(sizes) <= 170 and 140 <= sum(sizes) / len(sizes) <= 155
    assert events == list(small_events(2000, seed=4)) != list(small_events(2000, seed=5))
    assert {tuple(orjson.loads(e)) for e in events} == {("name", "dob", "gender", "ssn_no", "data_share_consent", "evnt_time")}
    consenting = sum(orjson.loads(e)["data_share_consent"] is True for e in events)
    assert 900 <= consenting <= 1100


def test_every_small_event_is_scrubbed_under_the_default_contract(scrubber):
    events = list(small_events(500))
    res = process_records(firehose_event(events)["records"], scrubber, NOW)
    assert [r["result"] for r in res.records] == [OK] * 500
    for raw, out in zip(events, res.records, strict=True):
        given, got = orjson.loads(raw), orjson.loads(base64.b64decode(out["data"]))
        assert got["_privacy"]["contract"] == "legacy_consent/1"
        if given["data_share_consent"] is not True:
            assert all(got[f] != given[f] for f in ("name", "dob", "ssn_no"))


def test_the_file_is_written_owner_only(tmp_path):
    path = tmp_path / "small.jsonl"
    assert main(["25", "--output", str(path)]) == 0
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_bytes().splitlines() == list(small_events(25))
