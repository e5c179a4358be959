"""Where the quarantine's error objects are, what time they have, and where a redrive moves them:
read back from keys the twin's Firehose writes (its own renderer, ``twin.firehose``), for any
prefix the configuration accepts."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quarantine.layout import Layout, RangeError, parse_bound, parse_range
from stacks.config import load_config
from tests.unit.quarantine.fakes import PREFIX, at, error_key
from twin.firehose import render_prefix

LAYOUT = Layout(PREFIX)


def test_the_default_prefix():
    assert LAYOUT.root == "quarantine/"
    assert LAYOUT.listing == "quarantine/processing-failed/"
    assert LAYOUT.redriven_root == "quarantine/redriven/"
    assert LAYOUT.redriven_listing == "quarantine/redriven/processing-failed/"
    key = error_key(at("2026-01-15T09:30:07"))
    assert LAYOUT.is_error_object(key)
    assert LAYOUT.object_time_ms(key) == int(at("2026-01-15T09:30:07").timestamp()) * 1000
    assert LAYOUT.redriven_key(key) == "quarantine/redriven/" + key.removeprefix("quarantine/")


@pytest.mark.parametrize("key", [
    "quarantine/redriven/processing-failed/year=2026/month=01/day=15/s-1-2026-01-15-09-30-07-" + str(uuid.uuid4()) + ".gz",
    "quarantine/format-conversion-failed/year=2026/month=01/day=15/s-1-2026-01-15-09-30-07-" + str(uuid.uuid4()) + ".gz",
    "quarantine/processing-failed/year=2026/month=01/day=15/deeper/s-1-2026-01-15-09-30-07-" + str(uuid.uuid4()) + ".gz",
    "quarantine/processing-failed/year=2026/month=01/",
    "data/year=2026/month=01/day=15/hour=09/s-1-2026-01-15-09-30-07-" + str(uuid.uuid4()) + ".gz",
])
def test_what_is_not_an_error_object_of_the_redrive(key):
    assert not LAYOUT.is_error_object(key)


def test_an_object_of_another_name_is_an_error_object_without_a_time():
    key = "quarantine/processing-failed/year=2026/month=01/day=15/notes.txt"
    assert LAYOUT.is_error_object(key)
    assert LAYOUT.object_time_ms(key) is None
    assert LAYOUT.remainder_key(key) is None


def test_remainders_are_named_after_the_object_and_keep_its_folder_and_time():
    key = error_key(at("2026-01-15T09:30:07"))
    first = LAYOUT.remainder_key(key)
    second = LAYOUT.remainder_key(first)
    assert first == key.removesuffix(".gz") + "-r1.gz"
    assert second == key.removesuffix(".gz") + "-r2.gz"
    for k in (first, second):
        assert LAYOUT.is_error_object(k)
        assert LAYOUT.object_time_ms(k) == LAYOUT.object_time_ms(key)
    assert len({key, first, second, LAYOUT.redriven_key(key), LAYOUT.redriven_key(first)}) == 5


# -- any prefix the configuration accepts ----------------------------------------------------------

_PARTS = st.lists(st.sampled_from([
    "year=!{timestamp:yyyy}/", "month=!{timestamp:MM}/", "day=!{timestamp:dd}/", "hour=!{timestamp:HH}/",
    "!{timestamp:yyyy-MM-dd}/", "!{timestamp:yyyy/MM/dd/HH}/", "!{firehose:random-string}/", "static/",
    "t!{timestamp:mm_ss}/",
]), min_size=0, max_size=5)


@settings(max_examples=300, deadline=None)
@given(root=st.sampled_from(["quarantine/", "errors/raw/", "q-/"]), parts=_PARTS, type_at=st.integers(-1, 5),
       when=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)), seed=st.integers(0, 2**32))
def test_keys_firehose_writes_are_found_timed_and_moved_out_of_reach(root, parts, type_at, when, seed):
    # the prefixes the configuration accepts: a static root, then expressions and folders; the error
    # type anywhere after the root, or nowhere (allowed when the data prefix has no expression)
    if type_at >= 0:
        parts.insert(min(type_at, len(parts)), "!{firehose:error-output-type}/")
    prefix = root + "".join(parts)
    when = when.replace(tzinfo=UTC, microsecond=0)
    rng = random.Random(seed)
    layout = Layout(prefix)
    folder = render_prefix(prefix, when, "processing-failed", rng)
    key = f"{folder}pii-scrub-delivery-1-{when:%Y-%m-%d-%H-%M-%S}-{uuid.UUID(int=rng.getrandbits(128), version=4)}.gz"
    assert key.startswith(layout.listing)
    assert layout.is_error_object(key)
    assert layout.object_time_ms(key) == int(when.timestamp()) * 1000
    moved = layout.redriven_key(key)
    assert moved.startswith(layout.redriven_root) and moved.startswith(layout.root)  # inside the fence and the expiry
    assert not layout.is_error_object(moved)  # even where the listing reaches it (an error type not first)
    remainder = layout.remainder_key(key)
    assert layout.is_error_object(remainder) and layout.object_time_ms(remainder) == layout.object_time_ms(key)
    other = render_prefix(prefix, when, "format-conversion-failed", rng) + key.rsplit("/", 1)[1]
    assert layout.is_error_object(other) == (type_at < 0)


def test_the_default_and_a_custom_prefix_are_ones_the_configuration_accepts():
    for prefix in (PREFIX, "errors/raw/!{timestamp:yyyy/MM/dd/HH}/!{firehose:error-output-type}/!{firehose:random-string}/"):
        assert load_config({"delivery": {"quarantine_prefix": prefix}}).delivery.quarantine_prefix == prefix


# -- the range ---------------------------------------------------------------------------------

def test_bounds():
    assert parse_bound(None, "since") is None
    assert parse_bound("2026-01-15", "since") == int(at("2026-01-15T00:00:00").timestamp()) * 1000
    assert parse_bound("2026-01-15T09:30:00Z", "until") == int(at("2026-01-15T09:30:00").timestamp()) * 1000
    assert parse_bound("2026-01-15T11:30:00+02:00", "until") == int(at("2026-01-15T09:30:00").timestamp()) * 1000
    assert parse_bound("2026-01-15T09:30:00.250Z", "until") == int(at("2026-01-15T09:30:00").timestamp()) * 1000 + 250
    assert parse_range("2026-01-15", "2026-01-16") == (parse_bound("2026-01-15", "s"), parse_bound("2026-01-16", "u"))


@pytest.mark.parametrize("since, until, field, words", [
    ("2026-02-30", None, "since", "calendar date"),
    ("2026-01-15T09:30:00", None, "since", "time zone"),
    (None, "yesterday", "until", "ISO-8601"),
    (20260115, None, "since", "ISO-8601"),
    ("2026-01-16", "2026-01-15", "until", "after since"),
    ("2026-01-15", "2026-01-15", "until", "after since"),
    ("２０２６-01-15", None, "since", "ISO-8601"),
])
def test_bad_bounds_name_the_field_never_the_value(since, until, field, words):
    with pytest.raises(RangeError) as exc:
        parse_range(since, until)
    assert exc.value.field == field
    assert words in str(exc.value)
    for given_value in (since, until):
        if isinstance(given_value, str):
            assert given_value not in str(exc.value)


def test_an_object_one_second_before_until_is_in_and_at_until_is_out():
    t = at("2026-01-15T09:30:07")
    key_in, key_out = error_key(t - timedelta(seconds=1), 1), error_key(t, 2)
    lo, hi = parse_range(None, "2026-01-15T09:30:07Z")
    assert LAYOUT.object_time_ms(key_in) < hi <= LAYOUT.object_time_ms(key_out)
    assert lo is None
