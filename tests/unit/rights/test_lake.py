"""Which objects a date range reads: the partitions of its days, as Firehose renders its prefix
(checked against the twin's renderer), never fewer; and the scan's read-ahead and stop."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rights.lake import DEFAULT_LAYOUT, MAX_RANGE_DAYS, RangeError, object_keys, partition_prefixes, read_objects
from rights.ports import MemoryLake
from twin.firehose import render_prefix

DEFAULT = "data/" + DEFAULT_LAYOUT
TEMPLATES = [
    DEFAULT,
    "data/!{timestamp:yyyy/MM/dd}/!{timestamp:HH}/",
    "lake/dt=!{timestamp:yyyy-MM-dd}/!{firehose:random-string}/",
    "data/!{timestamp:yyyy}/!{timestamp:MM}/",  # no day: coarser listings
    "data/!{timestamp:HH}/!{timestamp:dd}/",  # an hour first: the whole static folder
    "events/",  # a static folder: the default layout under it
]
# a day in the prefix before anything finer: a range lists its days and no other
BY_DAY = {DEFAULT, TEMPLATES[1], TEMPLATES[2], "events/"}
days = st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31))


@given(st.sampled_from(TEMPLATES), days, st.integers(0, 60), st.integers(-5, 70), st.integers(0, 86399))
def test_a_range_lists_every_object_of_its_days_and_with_a_day_in_the_prefix_no_other_day(template, start, span, offset, second):
    end = start + timedelta(days=span)
    when = datetime.combine(start + timedelta(days=offset), time(), UTC) + timedelta(seconds=second)
    key = render_prefix(template if "!{" in template else template + DEFAULT_LAYOUT, when) + "pii-scrub-delivery-1-x.gz"
    prefixes = partition_prefixes(template, start, end)
    listed = any(key.startswith(p) for p in prefixes)
    if start <= when.date() <= end:
        assert listed
    elif template in BY_DAY:
        assert not listed
    assert len(prefixes) == len(set(prefixes)) <= span + 1


def test_the_default_layout_lists_one_folder_a_day():
    assert partition_prefixes("data/", date(2026, 1, 31), date(2026, 2, 1)) == [
        "data/year=2026/month=01/day=31/", "data/year=2026/month=02/day=01/"]
    assert partition_prefixes(DEFAULT) == ["data/"]
    assert partition_prefixes("data/!{timestamp:yyyy}/", date(2026, 1, 1), date(2026, 12, 31)) == ["data/2026/"]


@pytest.mark.parametrize("start, end, message", [
    (date(2026, 1, 2), date(2026, 1, 1), "from: is after to"),
    (date(2026, 1, 2), None, "from: a range needs both ends"),
    (date(2000, 1, 1), date(2026, 1, 1), f"to: a range of 9,498 days; at most {MAX_RANGE_DAYS:,}"),
])
def test_bad_ranges_are_refused_naming_the_bound(start, end, message):
    with pytest.raises(RangeError, match=message):
        partition_prefixes(DEFAULT, start, end)


def test_objects_are_read_in_order_once_and_a_stop_ends_the_scan():
    lake = MemoryLake({f"data/k{i:02d}": bytes([i]) for i in range(20)})
    keys = object_keys(lake, ["data/k0", "data/", "data/k1"])  # overlapping listings: each object once
    assert keys == [f"data/k{i:02d}" for i in range(20)]
    assert [(k, b) for k, b in read_objects(lake, keys, window=3)] == [(k, lake.objects[k]) for k in keys]
    seen = []
    for k, _ in read_objects(lake, keys, stop=lambda: len(seen) >= 5, window=4):
        seen.append(k)
    assert seen == keys[:5]
    assert list(read_objects(lake, [])) == []
