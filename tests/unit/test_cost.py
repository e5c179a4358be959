"""The cost estimate as a pure function of the counts: each line's quantity and dollars follow the
billing rule its AWS pricing page states, so a wrong unit (5 KB taken as 5,000 bytes, a GB as
10^9 bytes, a price per 10,000 requests taken per million) changes a figure these tests fix."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twin.cost import (
    COLD_START_EVERY_S,
    GB,
    KEYSTORE_CALL_MS,
    LAMBDA_PAYLOAD_LIMIT,
    MIN_TIMED_RECORDS,
    Deployment,
    Timing,
    Usage,
    batch_records,
    cpu_factor,
    estimate,
    render,
    rounded_bytes,
    split_timings,
)
from twin.prices import load_prices

PRICES = load_prices()
MILLION = 1_000_000


def usd(key: str) -> float:
    return PRICES.prices[key].usd


def usage(n: int = 1000, size: int = 150, **over) -> Usage:
    """``n`` events of ``size`` bytes, timed over as many warm records (none in the cold start)."""
    return Usage(**{"events": n, "record_sizes": [size] * n, "warm": Timing(1, n, 1.0), **over})


def lines(est) -> dict[tuple[str, str], object]:
    return {(ln.service, ln.item): ln for ln in est.lines}


def test_a_million_150_byte_events_are_ingested_by_firehose_as_5_kb_each():
    est = estimate(usage(1000, 150), Deployment(), PRICES, 100)
    firehose = lines(est)[("Firehose", "ingestion")]
    assert firehose.quantity == pytest.approx(MILLION * 5 * 1024 / 2**30)  # 4.77 GB, not 0.14
    assert firehose.usd == pytest.approx(MILLION * 5 * 1024 / 2**30 * 0.029)


@pytest.mark.parametrize("size, kb_in, firehose_kb", [(1, 1, 5), (1024, 1, 5), (1025, 2, 5), (5120, 5, 5),
                                                      (5121, 6, 10), (12 * 1024, 12, 15)])
def test_each_record_is_rounded_up_on_its_own(size, kb_in, firehose_kb):
    est = lines(estimate(usage(10, size), Deployment(), PRICES, 100))
    assert est[("Kinesis (on-demand)", "data in")].quantity == pytest.approx(MILLION * kb_in * 1024 / GB)
    assert est[("Kinesis (on-demand)", "data out")].quantity == pytest.approx(MILLION * kb_in * 1024 / GB)
    assert est[("Firehose", "ingestion")].quantity == pytest.approx(MILLION * firehose_kb * 1024 / GB)


def test_kinesis_on_demand_bills_gb_in_and_out_and_stream_hours_at_the_assumed_rate():
    est = lines(estimate(usage(100, 800), Deployment(), PRICES, 250))
    gb = MILLION * 1024 / 2**30
    assert est[("Kinesis (on-demand)", "data in")].usd == pytest.approx(gb * usd("kinesis_on_demand_data_in"))
    assert est[("Kinesis (on-demand)", "data out")].usd == pytest.approx(gb * usd("kinesis_on_demand_data_out"))
    hours = est[("Kinesis (on-demand)", "stream-hours")]
    assert hours.quantity == pytest.approx(MILLION / 250 / 3600)
    assert hours.usd == pytest.approx(MILLION / 250 / 3600 * 0.04)


def test_a_provisioned_stream_bills_shard_hours_and_a_put_payload_unit_per_25_kb():
    d = Deployment(stream_mode="PROVISIONED", shard_count=3)
    sizes = [100, 25 * 1024, 25 * 1024 + 1, 60 * 1024]  # 1, 1, 2 and 3 units
    est = estimate(Usage(events=4, record_sizes=sizes), d, PRICES, 10)
    got = lines(est)
    assert ("Kinesis (on-demand)", "data in") not in got
    assert got[("Kinesis (provisioned)", "PUT payload")].quantity == pytest.approx(7 * MILLION / 4)
    assert got[("Kinesis (provisioned)", "PUT payload")].usd == pytest.approx(7 * MILLION / 4 / MILLION * 0.014)
    assert got[("Kinesis (provisioned)", "shard-hours")].quantity == pytest.approx(3 * MILLION / 10 / 3600)
    assert got[("Kinesis (provisioned)", "shard-hours")].usd == pytest.approx(3 * MILLION / 10 / 3600 * 0.015)


def test_a_provisioned_stream_too_small_for_the_rate_is_named():
    d = Deployment(stream_mode="PROVISIONED", shard_count=1)
    est = estimate(usage(10, 1000), d, PRICES, 5000)  # 5,000 records/s: 5 shards, at 1,000 records/s each
    assert any("needs 5 shards, not 1" in n for n in est.notes)
    assert not any("shards" in n for n in estimate(usage(10, 1000), d, PRICES, 900).notes)


def test_lambda_gb_seconds_are_the_handlers_own_time_scaled_to_its_vcpu_share_with_the_key_store_calls():
    # 1,000 records of 1 KB a second, a batch of 1,000 (well under 2 MiB, 1,000 a 1 s interval): the
    # warm invocations took 500 ms for 1,000 records, of which 300 ms were waits on the key store (4
    # calls): 200 ms x 1769/1024, + 4 x 10 ms, an invocation. The cold start took 100 ms more than its
    # 2 records' share and made 1 KMS call beyond theirs: once in 3,600 s, of the 1,000 s a million takes
    u = usage(1000, 1024, warm=Timing(2, 1000, 500.0, 4, 300.0), cold=Timing(1, 2, 120.4, 1, 20.0), kms_requests=1)
    est = estimate(u, Deployment(scrubber_memory_mb=1024, processor_interval_s=1), PRICES, 1000)
    billed_ms = math.ceil(200.0 * 1769 / 1024 + 4 * KEYSTORE_CALL_MS)
    cold_starts = 1000 / COLD_START_EVERY_S
    cold_ms = (120.4 - 20.0 - 2 * 0.2) * 1769 / 1024 + (1 - 2 * 4 / 1000) * KEYSTORE_CALL_MS
    got = lines(est)
    assert est.ms_per_record == pytest.approx(0.2) and est.cold_starts == pytest.approx(cold_starts)
    assert got[("Lambda (scrubber)", "requests")].quantity == pytest.approx(MILLION / 1000)
    assert got[("Lambda (scrubber)", "requests")].usd == pytest.approx(MILLION / 1000 * 0.20 / MILLION)
    duration = got[("Lambda (scrubber)", "duration")]
    assert duration.quantity == pytest.approx((billed_ms * 1000 + cold_starts * cold_ms) / 1000)  # ms x 1 GB
    assert duration.usd == pytest.approx(duration.quantity * 0.0000166667)
    assert got[("KMS", "requests")].quantity == pytest.approx(cold_starts)  # one a cold start, not one a command
    arm = lines(estimate(u, Deployment(scrubber_memory_mb=1024, processor_interval_s=1, architecture="arm64"), PRICES, 1000))
    assert arm[("Lambda (scrubber)", "duration")].usd == pytest.approx(duration.quantity * 0.0000133334)


@pytest.mark.parametrize("events", [1, 3, 999, 10_000])
def test_invocations_a_million_events_do_not_depend_on_how_many_the_command_sent(events):
    # the old estimate scaled the command's own invocations: 1 event made 1,000,000 invocations, 3
    # made 333,333, and 10,000 in 400 twin batches made 400. At 100 events/s and 60 s, 6,000 an invocation
    u = Usage(events=events, record_sizes=[300] * events, cold=Timing(1, min(events, 25), 400.0, 1, 5.0),
              warm=Timing(max(0, events // 25 - 1), max(0, events - 25), 0.05 * max(0, events - 25)), kms_requests=1)
    est = estimate(u, Deployment(), PRICES, 100)
    assert est.invocations == pytest.approx(MILLION / 6000)  # about 167, whatever the command's size
    assert lines(est)[("Lambda (scrubber)", "requests")].quantity == pytest.approx(MILLION / 6000)
    assert lines(est)[("KMS", "requests")].quantity == pytest.approx(MILLION / 100 / COLD_START_EVERY_S)
    timed = ("Lambda (scrubber)", "duration") in lines(est)
    assert timed is (events - 25 >= MIN_TIMED_RECORDS)
    if timed:  # the warm rate, the cold start amortised: cents, not the old $7 of a 1-event push
        assert lines(est)[("Lambda (scrubber)", "duration")].usd < 0.01
    else:
        assert est.ms_per_record is None
        table = "\n".join(render(est, PRICES))
        assert "Lambda duration: NOT ESTIMATED (not in the total)" in table
        assert "and the Lambda duration (see below): not included" in table


def test_the_time_a_record_leaves_out_the_cold_start():
    cold = Timing(1, 25, 900.0)  # settings, key store, first imports: 900 ms for 25 records
    warm = Timing(399, 9975, 9975 * 0.05)  # 50 us a record
    est = estimate(usage(10_000, 700, cold=cold, warm=warm), Deployment(), PRICES, 100)
    assert est.ms_per_record == pytest.approx(0.05)


def test_per_invocation_measurements_split_into_the_cold_start_and_the_warm_ones():
    cold, warm = split_timings([500.0, 2.0, 3.0], [25, 25, 10], [(2, 40.0), (1, 5.0), (0, 0.0)])
    assert cold == Timing(1, 25, 500.0, 2, 40.0) and warm == Timing(2, 35, 5.0, 1, 5.0)
    assert split_timings([], [], []) == (Timing(), Timing())


@pytest.mark.parametrize("memory, factor", [(128, 1769 / 128), (1024, 1769 / 1024), (1769, 1.0), (4096, 1.0)])
def test_the_cpu_share_grows_with_memory_up_to_one_vcpu(memory, factor):
    assert cpu_factor(memory) == pytest.approx(factor)


def test_each_invocation_is_billed_at_least_one_millisecond():
    u = usage(1000, 100, warm=Timing(1, 1000, 0.001))  # a microsecond for everything
    est = lines(estimate(u, Deployment(processor_interval_s=1), PRICES, 10))  # 10 records a batch: 100,000 batches
    assert est[("Lambda (scrubber)", "requests")].quantity == pytest.approx(100 * 1000)
    assert est[("Lambda (scrubber)", "duration")].quantity == pytest.approx(100 * 1000 * 1 / 1000)  # 1 ms each, 1 GB


def test_dynamodb_kms_and_s3_at_their_units():
    u = usage(1000, 500, read_request_units=1000, write_request_units=3000, kms_requests=10, key_bytes_stored=10 * GB // 1000,
              data_bytes_gz=GB // 1000, delivered_bytes=512 * 1024 * 1024, quarantined=5, error_bytes_gz=GB // 1000)
    d = Deployment(buffering_bytes=64 * 1024 * 1024, buffering_interval_s=300, quarantine_days=7)
    got = lines(estimate(u, d, PRICES, 1000))  # 1,000 s: 4 intervals of 300 s
    assert got[("DynamoDB (keys)", "reads")].usd == pytest.approx(MILLION * 0.125 / MILLION)
    assert got[("DynamoDB (keys)", "writes")].usd == pytest.approx(3 * MILLION * 0.625 / MILLION)
    # 10 requests a cold start, one an hour of the 1,000 s a million events take at 1,000 a second
    assert got[("KMS", "requests")].usd == pytest.approx(10 * 1000 / 3600 * 0.03 / 10_000)
    # data: 512 MiB x 1000 over 64 MiB = 8,000 objects (more than the 4 intervals); quarantine: one per interval
    assert got[("S3", "PUT requests")].quantity == 8000 + 4
    assert got[("S3", "PUT requests")].usd == pytest.approx(8004 * 0.005 / 1000)
    assert got[("S3", "quarantine")].usd == pytest.approx(1 * 0.023 * 7 / (365 / 12))
    lake, keys = got[("S3", "lake")], got[("DynamoDB (keys)", "storage")]
    assert (lake.monthly, keys.monthly) == (True, True)
    assert lake.usd == pytest.approx(0.023) and keys.usd == pytest.approx(10 * 0.25)
    assert ("DynamoDB (keys)", "backups") not in got
    pitr = lines(estimate(u, Deployment(pitr=True), PRICES, 1000))[("DynamoDB (keys)", "backups")]
    assert pitr.usd == pytest.approx(10 * 0.20) and pitr.monthly


def test_the_total_is_every_one_off_line_and_storage_is_apart():
    est = estimate(usage(1000, 300, data_bytes_gz=GB // 1000, read_request_units=50), Deployment(), PRICES, 100)
    assert est.total == pytest.approx(sum(ln.usd for ln in est.lines if not ln.monthly))
    assert est.monthly == pytest.approx(0.023) and est.total > 0
    table = "\n".join(render(est, PRICES))
    assert f"${est.total:>8.4f}" in table and "kept, per month" in table and "us-east-1 prices of" in table
    assert "x 1.73 (1,024 MB is 0.58 vCPU)" in table


def test_nothing_went_through_nothing_to_scale():
    with pytest.raises(ValueError, match="no events"):
        estimate(usage(0), Deployment(), PRICES, 100)
    with pytest.raises(ValueError, match="events_per_second"):
        estimate(usage(10), Deployment(), PRICES, 0)


def test_firehose_batches_close_on_size_on_interval_and_split_over_6_mb():
    assert batch_records(1000, 3000, 60, 1000) == 3  # size
    assert batch_records(10, 10**6, 2, 1) == 2  # 2 s at 1 record/s
    assert batch_records(10, 10**6, 0, 1000) == 1  # no interval: each record at once
    assert batch_records(10, 10**6, 60, 100) == 6000  # 60 s at 100 records/s
    assert batch_records(10**7, 2 * 1024 * 1024, 60, 100) == 1  # a record over the buffer goes alone
    # 150-byte records filling 2 MiB make a request over 6 MB (base64 + 330 bytes of metadata each): halved
    n = 2 * 1024 * 1024 // 150
    assert batch_records(150, 2 * 1024 * 1024, 60, 10**6, overhead_per_record=330) == n / 2
    assert 200 * n + 330 * n > LAMBDA_PAYLOAD_LIMIT > 200 * (n // 2 + 1) + 330 * (n // 2 + 1)


@given(st.floats(1, 10**6), st.integers(1, 64 * 2**20), st.floats(0.1, 1000), st.integers(0, 900), st.integers(0, 2000))
def test_a_batch_holds_at_least_a_record_within_the_limits(mean, limit, rate, interval, overhead):
    n = batch_records(mean, limit, interval, rate, overhead)
    assert n >= 1
    assert n == 1 or n * mean <= limit  # only a record larger than the buffer goes alone over it
    assert n == 1 or (n - 1) / rate < interval + 1e-9  # no batch spans more than the interval
    assert n == 1 or n * (4 * math.ceil(mean / 3) + overhead) <= LAMBDA_PAYLOAD_LIMIT


def test_the_kb_a_record_is_the_average_billed():
    sizes = [1500] * 3 + [700]  # 2, 2, 2 and 1 KB: 1.75 KB a record in Kinesis; 5 KB each in Firehose
    got = lines(estimate(Usage(events=4, record_sizes=sizes), Deployment(), PRICES, 100))
    assert got[("Kinesis (on-demand)", "data in")].unit == "GB (1.75 KB a record)"
    assert got[("Firehose", "ingestion")].unit == "GB (5 KB a record)"
    assert lines(estimate(usage(10, 100), Deployment(), PRICES, 100))[("Kinesis (on-demand)", "data out")].unit == \
        "GB (1 KB a record)"


@given(st.lists(st.integers(0, 100_000), max_size=200), st.sampled_from([1024, 5120, 25 * 1024]))
def test_rounding_is_per_record_and_never_below_the_data(sizes, increment):
    billed = rounded_bytes(sizes, increment)
    assert billed % increment == 0
    assert sum(sizes) <= billed <= sum(sizes) + (increment - 1) * len(sizes) + sizes.count(0)  # less than one more unit each
    assert billed == sum(max(1, math.ceil(s / increment)) * increment for s in sizes)
