"""The offline twin's stand-ins for AWS behaviour moto lacks must themselves be faithful."""

import base64
import gzip
import json
from datetime import UTC, datetime

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from stacks.config import load_config
from twin.firehose import ContractViolation, FirehoseEmulator, render_prefix
from twin.kinesis_limits import KinesisLimits


@pytest.fixture
def kinesis_one_shard():
    with mock_aws():
        k = boto3.client("kinesis", region_name="us-east-1")
        k.create_stream(StreamName="pii-scrub-events", ShardCount=1)
        yield k


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def _put(k, n, size=10, prefix="k"):
    return k.put_records(StreamName="pii-scrub-events", Records=[{"Data": b"x" * size, "PartitionKey": f"{prefix}{i}"} for i in range(n)])


def test_putrecords_hard_limits_fail_the_call(kinesis_one_shard):
    k = kinesis_one_shard
    KinesisLimits(k.list_shards(StreamName="pii-scrub-events")["Shards"]).install(k)
    with pytest.raises(ClientError, match="1 to 500"):
        _put(k, 501)
    with pytest.raises(ClientError, match="limit is 1048576"):
        _put(k, 1, size=1024 * 1024)
    with pytest.raises(ClientError, match="PutRecords limit is 5242880"):
        _put(k, 6, size=1000 * 1000)


def test_shard_throughput_throttles_entries_and_refills(kinesis_one_shard):
    k = kinesis_one_shard
    clock = Clock()
    lim = KinesisLimits(k.list_shards(StreamName="pii-scrub-events")["Shards"], clock=clock)
    lim.install(k)
    r1, r2, r3 = _put(k, 500), _put(k, 500), _put(k, 500)
    assert r1["FailedRecordCount"] == r2["FailedRecordCount"] == 0
    assert r3["FailedRecordCount"] == 500
    assert all(e["ErrorCode"] == "ProvisionedThroughputExceededException" for e in r3["Records"])
    clock.t += 0.25  # a quarter second refills 250 records
    r4 = _put(k, 500)
    assert r4["FailedRecordCount"] == 250 and len(r4["Records"]) == 500
    # throttled entries are interleaved at their own positions; accepted ones carry sequence numbers
    assert sum("SequenceNumber" in e for e in r4["Records"]) == 250
    it = k.get_shard_iterator(StreamName="pii-scrub-events", ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON")
    stored = k.get_records(ShardIterator=it["ShardIterator"], Limit=10000)
    assert len(stored["Records"]) == 1250


def test_byte_throughput_is_limited_too(kinesis_one_shard):
    k = kinesis_one_shard
    clock = Clock()
    KinesisLimits(k.list_shards(StreamName="pii-scrub-events")["Shards"], clock=clock).install(k)
    r = _put(k, 20, size=100_000)  # 2 MB into a 1 MiB/s shard
    assert r["FailedRecordCount"] == 10


def test_render_prefix():
    when = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    data = "data/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
    assert render_prefix(data, when) == "data/year=2026/month=03/day=04/hour=05/"
    quarantine = "q/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/"
    assert render_prefix(quarantine, when, "processing-failed") == "q/processing-failed/2026/03/04/"
    with pytest.raises(ValueError, match="error-output-type is only valid in the error prefix"):
        render_prefix("d/!{firehose:error-output-type}/", when)


@pytest.mark.parametrize(
    "resp, code",
    [
        ({"nope": []}, "Lambda.JsonProcessingException"),
        ({"records": [{"recordId": "a", "result": "Ok", "data": ""}]}, "Lambda.MissingRecordId"),
        ({"records": [{"recordId": "a", "result": "Ok", "data": ""}, {"recordId": "a", "result": "Ok", "data": ""}]},
         "Lambda.DuplicatedRecordId"),
        ({"records": [{"recordId": "a", "result": "Ok", "data": ""}, {"recordId": "c", "result": "Ok", "data": ""}]},
         "Lambda.InvalidRecordId"),
        ({"records": [{"recordId": "a", "result": "OK", "data": ""}, {"recordId": "b", "result": "Ok", "data": ""}]},
         "Lambda.InvalidRecordResult"),
        ({"records": [{"recordId": "a", "result": "Ok", "data": "@@"}, {"recordId": "b", "result": "Ok", "data": ""}]},
         "Lambda.JsonProcessingException"),
    ],
)
def test_response_contract_violations_are_detected(resp, code):
    with pytest.raises(ContractViolation) as exc:
        FirehoseEmulator.validate_response(resp, ["a", "b"])
    assert exc.value.code == code


BUCKET = "twin-test-bucket"


def _emulator_with(handler, **cfg_over):
    cfg = load_config(cfg_over)
    ctx = mock_aws()
    ctx.start()
    try:
        return (ctx, *_setup(cfg, handler))
    except Exception:
        ctx.stop()
        raise


def _setup(cfg, handler):
    k = boto3.client("kinesis", region_name="us-east-1")
    s3 = boto3.client("s3", region_name="us-east-1")
    k.create_stream(StreamName=cfg.stream_name, ShardCount=2)
    s3.create_bucket(Bucket=BUCKET)
    em = FirehoseEmulator(
        kinesis=k, s3=s3, config=cfg, handler=handler, context_factory=lambda: None, bucket=BUCKET,
        kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/x", region="us-east-1", account="123456789012",
        lambda_arn="arn:aws:lambda:us-east-1:123456789012:function:f",
    )
    return k, s3, em


def _objects(s3, prefix):
    out = []
    for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []):
        out.extend(gzip.decompress(s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read()).splitlines())
    return out


def test_a_handler_that_breaks_the_contract_gets_its_batch_quarantined_after_retries():
    calls = []

    def bad_handler(event, ctx):
        calls.append(1)
        ok = [{"recordId": r["recordId"], "result": "Ok", "data": r["data"]} for r in event["records"]]
        return {"records": ok[:-1]}  # loses a record id

    ctx, k, s3, em = _emulator_with(bad_handler, delivery={"processor_retries": 2})
    try:
        k.put_records(StreamName="pii-scrub-events", Records=[{"Data": b'{"a": %d}' % i, "PartitionKey": str(i)} for i in range(5)])
        stats = em.run()
        assert len(calls) == 3 and stats.failed == 5 and stats.ok == 0
        errs = [json.loads(line) for line in _objects(s3, "quarantine/processing-failed/")]
        assert {e["errorCode"] for e in errs} == {"Lambda.MissingRecordId"}
        assert sorted(base64.b64decode(e["rawData"]) for e in errs) == sorted(b'{"a": %d}' % i for i in range(5))
        assert all(e["attemptsMade"] == 3 and e["lambdaArn"].endswith(":function:f") for e in errs)
    finally:
        ctx.stop()


def test_a_raising_handler_is_a_function_error():
    def raising(event, ctx):
        raise RuntimeError("boom")

    ctx, k, s3, em = _emulator_with(raising, delivery={"processor_retries": 0})
    try:
        k.put_record(StreamName="pii-scrub-events", Data=b"{}", PartitionKey="p")
        stats = em.run()
        assert stats.failed == 1 and stats.invocations == 1
        assert json.loads(_objects(s3, "quarantine/")[0])["errorCode"] == "Lambda.FunctionError"
    finally:
        ctx.stop()


def test_processor_buffer_respects_the_size_hint_and_delivers_gzip_jsonl():
    seen = []

    def echo(event, ctx):
        seen.append(sum(len(base64.b64decode(r["data"])) for r in event["records"]))
        lines = [(r["recordId"], base64.b64decode(r["data"]) + b"\n") for r in event["records"]]
        return {"records": [{"recordId": rid, "result": "Ok", "data": base64.b64encode(line).decode()} for rid, line in lines]}

    ctx, k, s3, em = _emulator_with(echo, delivery={"processor_buffer_size_mib": 1})
    try:
        for b in range(4):
            records = [{"Data": b'{"n": "%s"}' % (b"x" * 2000), "PartitionKey": f"{b}-{i}"} for i in range(500)]
            k.put_records(StreamName="pii-scrub-events", Records=records)
        stats = em.run()
        assert stats.ok == 2000 and len(seen) >= 4 and max(seen) <= 1024 * 1024
        lines = _objects(s3, "data/")
        assert len(lines) == 2000
        key = stats.data_objects[0]
        assert key.startswith("data/year=") and "/pii-scrub-delivery-1-" in key and key.endswith(".gz")
    finally:
        ctx.stop()


def test_the_source_reads_each_record_once_from_where_the_last_delivery_stopped(kinesis_one_shard):
    from twin.source import KinesisSource

    k = kinesis_one_shard
    shard = "shardId-000000000000"
    _put(k, 30, prefix="a")
    first = KinesisSource(k, "pii-scrub-events")
    assert first.count_pending() == 30 and first.positions == {}  # counting moves nothing
    got = first.read_all()
    assert len(got) == 30 and first.positions == {shard: got[-1].sequence_number}
    _put(k, 12, prefix="b")
    second = KinesisSource(k, "pii-scrub-events", first.positions)
    assert second.count_pending() == 12
    later = second.read_all()
    assert [r.partition_key for r in later] == [f"b{i}" for i in range(12)]
    assert KinesisSource(k, "pii-scrub-events", second.positions).read_all() == []


def test_a_delivery_from_the_same_positions_names_its_objects_the_same():
    def echo(event, ctx):
        return {"records": [{"recordId": r["recordId"], "result": "Ok",
                             "data": base64.b64encode(base64.b64decode(r["data"]) + b"\n").decode()}
                            for r in event["records"]]}

    ctx, k, s3, em = _emulator_with(echo)
    try:
        k.put_records(StreamName="pii-scrub-events", Records=[{"Data": b'{"n": %d}' % i, "PartitionKey": str(i)} for i in range(50)])
        keys = em.run().data_objects
        again = FirehoseEmulator(kinesis=k, s3=s3, config=em.config, handler=echo, context_factory=lambda: None, bucket=BUCKET,
                                 kms_key_arn=em.kms_key_arn, region="us-east-1", account="123456789012", lambda_arn=em.lambda_arn)
        assert again.run().data_objects == keys  # redone from the start: the same keys, overwritten
        later = FirehoseEmulator(kinesis=k, s3=s3, config=em.config, handler=echo, context_factory=lambda: None, bucket=BUCKET,
                                 kms_key_arn=em.kms_key_arn, region="us-east-1", account="123456789012", lambda_arn=em.lambda_arn,
                                 positions=em.checkpoint)
        k.put_record(StreamName="pii-scrub-events", Data=b'{"n": 50}', PartitionKey="50")
        stats = later.run()
        assert stats.records_read == 1 and stats.data_objects[0] not in keys
        assert len(_objects(s3, "data/")) == 51
    finally:
        ctx.stop()
