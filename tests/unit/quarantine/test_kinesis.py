"""The redrive's stream adapter on PutRecords: within Kinesis's limits, only the entries Kinesis
refused are sent again, a bounded number of times, and those still refused are named."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quarantine.aws import KinesisStream
from streams.kinesis_sink import MAX_BYTES_PER_CALL, MAX_RECORDS_PER_CALL


class FakeKinesis:
    """PutRecords answering per entry: ``refuse(data, attempt)`` says whether the attempt-th try
    of that record (1-based) is throttled."""

    def __init__(self, refuse):
        self.refuse = refuse
        self.calls: list[list[tuple[str, bytes]]] = []
        self.tries: dict[bytes, int] = {}

    def put_records(self, StreamName, Records):  # noqa: N803 - boto3's names
        self.calls.append([(r["PartitionKey"], r["Data"]) for r in Records])
        out = []
        for r in Records:
            n = self.tries[r["Data"]] = self.tries.get(r["Data"], 0) + 1
            if self.refuse(r["Data"], n):
                out.append({"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "Rate exceeded"})
            else:
                out.append({"SequenceNumber": str(len(self.calls)), "ShardId": "shardId-000000000000"})
        return {"FailedRecordCount": sum("ErrorCode" in e for e in out), "Records": out}


def entries(n: int, size: int = 10) -> list[tuple[str, bytes]]:
    return [(f"pk{i:05d}", i.to_bytes(4, "big") + b"x" * size) for i in range(n)]


@settings(max_examples=100, deadline=None)
@given(n=st.integers(0, 1200), seed=st.integers(0, 2**32), share=st.floats(0, 1), attempts=st.integers(1, 6))
def test_only_refused_entries_are_sent_again_and_at_most_max_attempts_times(n, seed, share, attempts):
    rng = random.Random(seed)
    stubborn = {d for _, d in entries(n) if rng.random() < share}  # refused every time
    flaky = {d for _, d in entries(n) if rng.random() < share}  # refused the first time only
    kinesis = FakeKinesis(lambda d, k: d in stubborn or (d in flaky and k == 1))
    stream = KinesisStream(kinesis, "s", max_attempts=attempts, sleep=lambda _s: None)
    given_entries = entries(n)
    failed = stream.put(given_entries)

    accepted = {d for call in kinesis.calls for _, d in call} - stubborn - (flaky if attempts == 1 else set())
    assert failed == sorted(i for i, (_, d) in enumerate(given_entries) if d not in accepted)
    for d, tries in kinesis.tries.items():  # bounded; and once taken, never sent again
        assert tries <= attempts
        if d not in stubborn and not (d in flaky and attempts == 1):
            assert tries == (2 if d in flaky else 1)
        else:
            assert tries == attempts
    for call in kinesis.calls:
        assert 1 <= len(call) <= MAX_RECORDS_PER_CALL
        assert sum(len(pk) + len(d) for pk, d in call) <= MAX_BYTES_PER_CALL
    assert stream.totals.sent == n - len(failed) and stream.totals.failed == len(failed)


def test_calls_stay_within_five_mib():
    kinesis = FakeKinesis(lambda _d, _k: False)
    big = entries(30, size=400_000)  # 12 MB in all
    assert KinesisStream(kinesis, "s", max_attempts=1).put(big) == []
    assert len(kinesis.calls) == 3 and [len(c) for c in kinesis.calls] == [13, 13, 4]


def test_a_record_kinesis_can_never_take_is_named_without_being_sent():
    kinesis = FakeKinesis(lambda _d, _k: False)
    too_big = ("pk", b"x" * (1024 * 1024))
    assert KinesisStream(kinesis, "s", max_attempts=3).put([("a", b"1"), too_big, ("b", b"2")]) == [1]
    assert [d for c in kinesis.calls for _, d in c] == [b"1", b"2"]


def test_partition_keys_of_one_put_must_be_distinct():
    with pytest.raises(ValueError, match="distinct"):
        KinesisStream(FakeKinesis(lambda _d, _k: False), "s", max_attempts=1).put([("a", b"1"), ("a", b"2")])
