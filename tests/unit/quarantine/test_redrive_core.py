"""The redrive core over in-memory ports: every record goes back once, the stream's refusals stay
in quarantine, nothing is redriven twice, an interrupted run loses nothing, and the counts add up."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quarantine.layout import Layout, parse_range
from quarantine.records import read_error_object
from quarantine.redrive import Redrive, partition_key
from tests.unit.quarantine.fakes import PREFIX, MemoryStore, MemoryStream, at, error_key, error_object

LAYOUT = Layout(PREFIX)
T0 = at("2026-01-15T09:30:00")


def quarantine(objects: list[list[bytes]]) -> tuple[MemoryStore, list[str]]:
    """A store holding one error object per list of raw records, a minute apart."""
    keys = [error_key(T0 + timedelta(minutes=i), i) for i in range(len(objects))]
    return MemoryStore({k: error_object(raws) for k, raws in zip(keys, objects, strict=True)}), keys


def left_in_quarantine(store: MemoryStore) -> Counter:
    return Counter(r for k, body in store.objects.items() if LAYOUT.is_error_object(k) for r in read_error_object(body).raw)


def moved_aside(store: MemoryStore) -> Counter:
    return Counter(r for k, body in store.objects.items() if k.startswith(LAYOUT.redriven_root)
                   for r in read_error_object(body).raw)


# distinct records, so each can be followed (the stream refuses by content)
OBJECTS = st.lists(st.lists(st.binary(min_size=1, max_size=64), max_size=12), max_size=8).map(
    lambda objs: [[bytes([i, j]) + r for j, r in enumerate(o)] for i, o in enumerate(objs)])


@settings(max_examples=150, deadline=None)
@given(objects=OBJECTS, refuse_share=st.floats(0, 1), seed=st.randoms(use_true_random=False))
def test_every_record_goes_back_once_and_what_the_stream_refuses_stays_in_quarantine(objects, refuse_share, seed):
    store, keys = quarantine(objects)
    every = Counter(r for o in objects for r in o)
    refused = {r for r in every if seed.random() < refuse_share}
    stream = MemoryStream(refuse=refused)
    counts = Redrive(store, stream, LAYOUT).run()

    put = Counter(data for _, data in stream.records)
    assert put == Counter({r: n for r, n in every.items() if r not in refused})  # each once, none refused
    assert left_in_quarantine(store) == Counter({r: n for r, n in every.items() if r in refused})
    assert moved_aside(store) == put  # what went back is what was moved aside, nothing else
    assert counts.adds_up() and counts.complete and counts.error is None
    assert (counts.records_read, counts.records_reput, counts.records_failed) == (
        sum(every.values()), sum(put.values()), sum(every.values()) - sum(put.values()))
    assert counts.objects == len(objects)
    for key, raws in zip(keys, objects, strict=True):
        refused_here = [r for r in raws if r in refused]
        if not refused_here:
            assert key not in store.objects and counts.objects_redriven >= 1
        elif len(refused_here) == len(raws):
            assert store.objects[key] == error_object(raws)  # kept as it was
        else:
            assert key not in store.objects
            assert read_error_object(store.objects[LAYOUT.remainder_key(key)]).raw == tuple(refused_here)

    # the next run, the stream taking everything: only what was left goes, and nothing twice
    again = MemoryStream()
    second = Redrive(store, again, LAYOUT).run()
    assert Counter(d for _, d in again.records) == Counter({r: n for r, n in every.items() if r in refused})
    assert put + Counter(d for _, d in again.records) == every
    assert not left_in_quarantine(store)
    assert second.adds_up() and second.records_failed == 0
    # and a third finds nothing
    assert Redrive(store, MemoryStream(), LAYOUT).run().objects == 0


def test_records_go_back_oldest_object_first_with_opaque_distinct_keys():
    store, keys = quarantine([[b"b1", b"b2"], [b"a1"]])
    store.objects[keys[0]], store.objects[keys[1]] = store.objects[keys[1]], store.objects[keys[0]]  # names, not listing order
    stream = MemoryStream()
    Redrive(store, stream, LAYOUT).run()
    assert [d for _, d in stream.records] == [b"a1", b"b1", b"b2"]
    pks = [pk for pk, _ in stream.records]
    assert pks == [partition_key(keys[0], 0), partition_key(keys[1], 0), partition_key(keys[1], 1)]
    assert len(set(pks)) == 3 and all(len(pk) == 32 and int(pk, 16) >= 0 for pk in pks)


def test_only_the_objects_of_the_range_are_redriven():
    store, keys = quarantine([[b"r0"], [b"r1"], [b"r2"], [b"r3"]])  # 09:30, 09:31, 09:32, 09:33
    untouched = {k: store.objects[k] for k in (keys[0], keys[3])}
    stream = MemoryStream()
    counts = Redrive(store, stream, LAYOUT).run(*parse_range("2026-01-15T09:31:00Z", "2026-01-15T09:33:00Z"))
    assert [d for _, d in stream.records] == [b"r1", b"r2"]
    assert counts.objects == 2 and counts.since == "2026-01-15T09:31:00Z" and counts.until == "2026-01-15T09:33:00Z"
    assert all(store.objects[k] == body for k, body in untouched.items())


def test_objects_that_are_not_firehose_error_records_are_reported_and_untouched():
    store, keys = quarantine([[b"r0"], [b"r1"], [b"r2"]])
    store.objects[keys[1]] = b'{"rawData": "not base64 at all: Jane Doe 123-45-6789"}\n'
    stranger = "quarantine/processing-failed/year=2026/month=01/day=15/readme.txt"
    store.objects[stranger] = b"notes about Jane Doe"
    before = {k: store.objects[k] for k in (keys[1], stranger)}
    stream = MemoryStream()
    counts = Redrive(store, stream, LAYOUT).run()
    assert [d for _, d in stream.records] == [b"r0", b"r2"]
    assert all(store.objects[k] == body for k, body in before.items())
    assert counts.objects == 4 and counts.objects_skipped == 2 and counts.objects_redriven == 2 and counts.adds_up()
    assert sorted(counts.skipped, key=lambda s: s["key"]) == sorted([
        {"key": keys[1], "reason": "line 1: raw_data_not_base64"}, {"key": stranger, "reason": "not_a_firehose_name"}],
        key=lambda s: s["key"])
    assert "Jane" not in repr(counts.as_dict()) and "6789" not in repr(counts.as_dict())


@pytest.mark.parametrize("op", ["copy", "delete"])
def test_a_run_stopped_by_an_aws_failure_reports_it_and_the_next_run_loses_nothing(op):
    store, keys = quarantine([[b"a"], [b"b", b"c"], [b"d"]])
    store.fail[(op, keys[1])] = "SlowDown"
    stream = MemoryStream()
    first = Redrive(store, stream, LAYOUT).run()
    assert not first.complete and first.error == f"{keys[1]}: SlowDown"
    assert "secret" not in repr(first.as_dict()) and "must not" not in repr(first.as_dict())
    assert first.objects_redriven == 1 and first.objects_not_reached == 2 and first.adds_up()
    assert [d for _, d in stream.records] == [b"a", b"b", b"c"]  # put back before the failure
    second = Redrive(store, stream, LAYOUT).run()
    assert second.complete and second.adds_up()
    assert not left_in_quarantine(store)
    got = Counter(d for _, d in stream.records)
    assert set(got) == {b"a", b"b", b"c", b"d"}  # nothing lost
    if op == "delete":  # it had been copied aside: only the delete was left, its records not put again
        assert got == Counter([b"a", b"b", b"c", b"d"]) and second.objects_finished == 1
    else:  # put back, not moved: put back again (at least once, as Firehose)
        assert got == Counter([b"a", b"b", b"c", b"b", b"c", b"d"])


def test_a_split_interrupted_before_the_delete_is_finished_without_putting_anything_again():
    store, keys = quarantine([[b"ok", b"refused"]])
    store.fail[("delete", keys[0])] = "InternalError"
    stream = MemoryStream(refuse={b"refused"})
    first = Redrive(store, stream, LAYOUT).run()
    assert not first.complete and first.records_reput == 1
    second = Redrive(store, MemoryStream(), LAYOUT).run()  # now the stream takes everything
    assert second.objects_finished == 1 and second.records_reput == 1  # only the remainder's record
    assert Counter(d for _, d in stream.records) == Counter([b"ok"])
    assert moved_aside(store) == Counter([b"ok", b"refused"]) and not left_in_quarantine(store)


def test_a_failure_to_write_the_remainder_leaves_the_object_whole():
    store, keys = quarantine([[b"ok", b"refused"]])
    store.fail[("put", LAYOUT.remainder_key(keys[0]))] = "AccessDenied"
    first = Redrive(store, MemoryStream(refuse={b"refused"}), LAYOUT).run()
    assert first.error == f"{keys[0]}: AccessDenied"
    assert store.objects[keys[0]] == error_object([b"ok", b"refused"]) and not moved_aside(store)


def test_the_time_limit_stops_before_an_object_and_the_next_run_goes_on():
    store, keys = quarantine([[b"a"], [b"b"], [b"c"]])
    calls = iter([False, True])
    stream = MemoryStream()
    first = Redrive(store, stream, LAYOUT).run(stop=lambda: next(calls))
    assert not first.complete and first.error is None
    assert (first.objects_redriven, first.objects_not_reached) == (1, 2) and first.adds_up()
    second = Redrive(store, stream, LAYOUT).run()
    assert [d for _, d in stream.records] == [b"a", b"b", b"c"] and second.complete


def test_writes_happen_in_the_order_that_never_loses_a_record():
    store, keys = quarantine([[b"ok", b"refused"], [b"all"]])
    Redrive(store, MemoryStream(refuse={b"refused"}), LAYOUT).run()
    split, whole = keys
    assert store.ops == [
        ("put", LAYOUT.remainder_key(split)), ("put", LAYOUT.redriven_key(split)), ("delete", split),
        ("copy", LAYOUT.redriven_key(whole)), ("delete", whole),
    ]


def test_an_object_outside_firehose_folders_is_reported_not_passed_over():
    """A hostile user's `quarantine/processing-failed/../../data/evil-….gz` was neither redriven,
    nor counted, nor named."""
    store, keys = quarantine([[b"r0"]])
    odd = ["quarantine/processing-failed/../../data/evil-2026-12-01-20-10-11-x.gz",
           "quarantine/processing-failed/stray.gz"]
    for k in odd:
        store.objects[k] = b"raw"
    counts = Redrive(store, MemoryStream(), LAYOUT).run()
    assert counts.objects == 3 and counts.objects_redriven == 1 and counts.objects_skipped == 2 and counts.adds_up()
    assert sorted(s["key"] for s in counts.skipped) == sorted(odd)
    assert all(store.objects[k] == b"raw" for k in odd)
