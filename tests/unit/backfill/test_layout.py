"""Where backfilled records land: the lake's own partitions, rendered as Firehose renders them, keys
that depend on the source object only, and IAM patterns that match exactly those keys."""

from __future__ import annotations

import fnmatch
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from backfill.layout import ERROR_TYPE, Layout, key_pattern, parse_time, render, source_id
from stacks.config import load_config
from twin.firehose import render_prefix

DATA = "data/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
QUARANTINE = "quarantine/!{firehose:error-output-type}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/"
_times = st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 30), timezones=st.just(UTC))


@given(when=_times)
def test_prefixes_render_as_firehose_renders_them(when):
    """The twin's Firehose emulator and the backfill agree on every time (years of four digits)."""
    assert render(DATA, when) == render_prefix(DATA, when)
    assert render(QUARANTINE, when, error_type="x") == render_prefix(QUARANTINE, when, "x")


def test_years_before_1000_keep_four_digits():
    assert render(DATA, datetime(999, 1, 2, 3, tzinfo=UTC)) == "data/year=0999/month=01/day=02/hour=03/"


@given(when=_times, etag=st.text(min_size=1, max_size=40))
def test_keys_depend_on_the_source_and_the_record_time_only(when, etag):
    sid = source_id("bucket", "key", etag)
    a = Layout(DATA, QUARANTINE, sid, datetime(2020, 1, 1, tzinfo=UTC))
    b = Layout(DATA, QUARANTINE, sid, datetime(2020, 1, 1, tzinfo=UTC))
    assert a.partition(when) == b.partition(when) == render(DATA, when) + f"backfill-{sid}.gz"
    assert a.partition(when + timedelta(minutes=59 - when.minute)) == a.partition(when)  # the same hour
    assert a.partition(None) == render(DATA, datetime(2020, 1, 1, tzinfo=UTC)) + f"backfill-{sid}.gz"
    assert a.quarantine_key == f"quarantine/{ERROR_TYPE}/year=2020/month=01/day=01/backfill-{sid}.gz"
    # an ETag is quoted by S3 or not, by whoever lists it: the same source
    assert source_id("bucket", "key", f'"{etag}"') == source_id("bucket", "key", etag.strip('"'))
    assert len({sid, source_id("bucket", "key2", etag), source_id("bucket2", "key", etag)}) == 3


def test_a_random_string_in_the_prefix_is_the_source_id_so_keys_stay_the_same():
    prefix = "data/!{timestamp:yyyy}/!{firehose:random-string}/"
    sid = source_id("b", "k", "e")
    key = Layout(prefix, QUARANTINE, sid, datetime(2020, 1, 1, tzinfo=UTC)).partition(datetime(2021, 5, 5, tzinfo=UTC))
    assert key == f"data/2021/{sid[:11]}/backfill-{sid}.gz"


@given(when=_times)
def test_the_iam_patterns_match_every_key_written_and_no_firehose_object(when):
    sid = source_id("b", "k", "e")
    layout = Layout(DATA, QUARANTINE, sid, when)
    data, quarantine = key_pattern(DATA), key_pattern(QUARANTINE, error_type=ERROR_TYPE)
    assert fnmatch.fnmatchcase(layout.partition(when), data)
    assert fnmatch.fnmatchcase(layout.quarantine_key, quarantine)
    firehose = render(DATA, when) + "pii-scrub-delivery-1-2020-01-01-00-00-00-5f0c.gz"
    failed = render(QUARANTINE, when, error_type="processing-failed") + "backfill-x.gz"
    assert not fnmatch.fnmatchcase(firehose, data) and not fnmatch.fnmatchcase(failed, quarantine)


def test_patterns_follow_any_configured_prefix():
    cfg = load_config({"delivery": {"data_prefix": "lake/!{timestamp:yyyy}-!{timestamp:MM}/",
                                    "quarantine_prefix": "failed/!{firehose:error-output-type}/"}})
    assert key_pattern(cfg.delivery.data_prefix) == "lake/*-*/backfill-*"
    assert key_pattern(cfg.delivery.quarantine_prefix, error_type=ERROR_TYPE) == "failed/backfill-failed/backfill-*"


def test_times_are_read_as_iso_8601_in_utc_and_nothing_else():
    assert parse_time("2023-06-03T14:22:01.123Z") == datetime(2023, 6, 3, 14, 22, 1, 123000, tzinfo=UTC)
    assert parse_time("2023-06-03T16:22:01+02:00") == datetime(2023, 6, 3, 14, 22, 1, tzinfo=UTC)
    assert parse_time("2023-06-03T14:22:01") == datetime(2023, 6, 3, 14, 22, 1, tzinfo=UTC)  # no offset: UTC
    assert parse_time("2023-06-03") == datetime(2023, 6, 3, tzinfo=UTC)
    for other in ("REDACTED_CONTENT", "2023", 1685801521, None, "", "0001-01-01T00:00:00+01:00", ["2023-06-03"]):
        assert parse_time(other) is None
