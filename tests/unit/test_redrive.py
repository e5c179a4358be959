"""No valid record is lost to Lambda's 6 MB response: what the response has no room for goes back
on the source stream, with its partition key, and is answered ``Dropped``; Firehose reads it again
in a later batch. Tested at the extremes the configuration allows: the largest processor buffer
(3 MB) of the smallest events, and of events whose every personal field is transformed."""

from __future__ import annotations

import base64
import json

import boto3
import orjson
import pytest
from moto import mock_aws

from producer.events import EventFactory
from scrubber.batch import DROPPED, FAILED, OK, process_records
from scrubber.redrive import RedriveFailed, StreamRedrive
from tests.conftest import firehose_event

NOW = "2026-01-15T09:30:00.000Z"
MAX_BUFFER = 3 * 1024 * 1024  # Firehose's largest processor buffer
LAMBDA_LIMIT = 6 * 1024 * 1024


def small_events():
    """Reference 003's event shape, about 150 bytes each, none consenting: every one grows."""
    i = 0
    while True:
        yield orjson.dumps({"name": f"Gnoll {i:06d}", "dob": "2011-04-22", "gender": "M", "ssn_no": f"{807831104 + i}",
                            "data_share_consent": False, "evnt_time": "2021-01-31T20:31:26.114917"})
        i += 1


def minimal_orders():
    """order_placed/1 events with only the required fields and the personal ones (about 470 to
    590 bytes), no consent: the size at which a full buffer's output outgrows the response."""
    factory = EventFactory(seed=4, consent_ratio=0.0, subjects=2000, event_types=("order_placed/1",))
    keep = ("event_id", "event_type", "schema_version", "event_time", "subject_id", "order",
            "name", "email", "phone", "ssn", "dob", "address")
    while True:
        e = factory.next_event()
        m = {k: e[k] for k in keep if k in e}
        m["order"]["items"] = m["order"]["items"][:1]
        m["data_share_consent"] = False
        yield orjson.dumps(m)


def sealed_orders():
    """Minimal order_placed/1 events whose subjects consent: every personal field is kept sealed
    (issue 11: tokens make them grow more than redaction does)."""
    for raw in minimal_orders():
        e = orjson.loads(raw)
        e["data_share_consent"] = True
        yield orjson.dumps(e)


def sealed_producer_events():
    """The producer's events, every subject consenting: every identifying field sealed."""
    factory = EventFactory(seed=5, consent_ratio=1.0, subjects=2000)
    while True:
        e = factory.next_event()
        if e.get("schema_version") == "2":
            e["consent"]["purposes"] = ["analytics", "marketing", "support"]
        yield orjson.dumps(e)


def producer_events():
    """The producer's events, no subject consenting: every personal field transformed."""
    factory = EventFactory(seed=3, consent_ratio=0.0, subjects=2000)
    while True:
        yield orjson.dumps(factory.next_event())


def largest_batch(source) -> dict:
    """As many records as Firehose would send in one invocation: up to the 3 MB buffer, with the
    request itself within Lambda's 6 MB."""
    payloads, raw = [], 0
    for p in source:
        if raw + len(p) > MAX_BUFFER:
            break
        payloads.append(p)
        raw += len(p)
    event = firehose_event(payloads)
    while len(json.dumps(event)) > LAMBDA_LIMIT:
        payloads = payloads[: len(payloads) * 9 // 10]
        event = firehose_event(payloads)
    return event


class FakeStream:
    def __init__(self):
        self.entries: list[tuple[str, bytes]] = []

    def __call__(self, entries):
        self.entries.extend(entries)


@pytest.mark.parametrize("source, overflows", [(minimal_orders, True), (small_events, False), (producer_events, False),
                                               (sealed_orders, True), (sealed_producer_events, True)],
                         ids=["minimal orders, every personal field", "150-byte events", "producer events, no consent",
                              "minimal orders, every personal field sealed", "producer events, every identifying field sealed"])
def test_the_largest_buffer_loses_no_valid_record(scrubber, source, overflows):
    event = largest_batch(source())
    records = event["records"]
    stream = FakeStream()
    res = process_records(records, scrubber, NOW, redrive=stream)
    # (150-byte events hit the 6 MB request before the 3 MB buffer, and fit; the minimal orders
    # would have lost hundreds of valid records to the response's limit)
    assert (res.dropped > 100) is overflows
    body = json.dumps({"records": res.records})  # as the Lambda runtime serialises it
    assert len(body) <= LAMBDA_LIMIT
    assert [r["recordId"] for r in res.records] == [r["recordId"] for r in records]  # each once, in order
    results = [r["result"] for r in res.records]
    assert FAILED not in results, res.failed
    dropped = [rec for rec, out in zip(records, res.records, strict=True) if out["result"] == DROPPED]
    assert res.redriven == res.dropped == len(dropped) == len(stream.entries)
    # what went back is each record as it came, under its own partition key
    assert stream.entries == [(rec["kinesisRecordMetadata"]["partitionKey"], base64.b64decode(rec["data"])) for rec in dropped]
    # and a later batch takes them: everything is delivered in the end
    delivered = results.count(OK)
    if source in (sealed_orders, sealed_producer_events):  # sealed indeed: no identifying value in clear
        out = b"".join(base64.b64decode(r["data"]) for r in res.records if r["result"] == OK)
        assert out.count(b'"name":"~g') == results.count(OK) and b'"name":"REDACTED' not in out
    pending = [data for _key, data in stream.entries]
    rounds = 0
    while pending:
        rounds += 1
        again = FakeStream()
        res = process_records(firehose_event(pending)["records"], scrubber, NOW, redrive=again)
        assert FAILED not in [r["result"] for r in res.records]
        delivered += res.ok
        pending = [data for _key, data in again.entries]
        assert rounds < 5
    assert delivered == len(records)


def test_without_a_stream_to_return_to_the_overflow_is_failed_not_passed(scrubber):
    event = largest_batch(minimal_orders())
    res = process_records(event["records"], scrubber, NOW)  # a Direct PUT source: no redrive
    assert res.failed.get("response_budget", 0) > 0 and res.dropped == 0
    assert len(json.dumps({"records": res.records})) <= LAMBDA_LIMIT


def test_a_record_that_cannot_go_back_fails_the_invocation_and_says_no_content(scrubber):
    def refused(entries):
        raise RedriveFailed(f"{len(entries)} of {len(entries)} records could not be put back on the stream")

    event = largest_batch(minimal_orders())
    with pytest.raises(RedriveFailed) as exc:
        process_records(event["records"], scrubber, NOW, redrive=refused)
    assert str(exc.value).endswith("records could not be put back on the stream") and "@" not in str(exc.value)


@mock_aws
def test_redrive_puts_records_on_the_source_stream_and_fails_on_rejection():
    kinesis = boto3.client("kinesis", region_name="us-east-1")
    kinesis.create_stream(StreamName="pii-scrub-events", ShardCount=1)
    arn = kinesis.describe_stream_summary(StreamName="pii-scrub-events")["StreamDescriptionSummary"]["StreamARN"]
    StreamRedrive(arn, kinesis)([("subject-1", b'{"a":1}'), ("subject-2", b'{"b":2}')])
    shard = kinesis.list_shards(StreamName="pii-scrub-events")["Shards"][0]["ShardId"]
    it = kinesis.get_shard_iterator(StreamName="pii-scrub-events", ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    got = kinesis.get_records(ShardIterator=it)["Records"]
    assert [(r["PartitionKey"], r["Data"]) for r in got] == [("subject-1", b'{"a":1}'), ("subject-2", b'{"b":2}')]

    class Rejecting:
        def put_records(self, StreamName, Records):  # noqa: N803 - boto3's names
            return {"FailedRecordCount": len(Records),
                    "Records": [{"ErrorCode": "ProvisionedThroughputExceededException"} for _ in Records]}

    with pytest.raises(RedriveFailed, match="^2 of 2 records could not be put back on the stream$"):
        StreamRedrive(arn, Rejecting(), sleep=lambda _s: None)([("k", b"x"), ("k", b"y")])
