"""The cost estimate a twin command ends with, checked against what the local cloud holds after it:
the records on the stream (Kinesis and Firehose bytes, rounded per record), the key table's new
items (write units and bytes stored), the lake's GZIP objects (S3 storage)."""

from __future__ import annotations

import json
import math

import pytest

from keystore.items import ITEM_OVERHEAD_BYTES, item_bytes
from tests.integration.conftest import fresh_config
from tools.small_events import small_events
from twin.cost import GB
from twin.pipeline import push_file, run_pipeline

MILLION = 1_000_000


def _line(summary, service, item) -> dict:
    return next(ln for ln in summary.cost["lines"] if (ln["service"], ln["item"]) == (service, item))


def _stream_sizes(cloud, config) -> list[int]:
    kinesis = cloud.client("kinesis")
    sizes = []
    for shard in kinesis.list_shards(StreamName=config.stream_name)["Shards"]:
        it = kinesis.get_shard_iterator(StreamName=config.stream_name, ShardId=shard["ShardId"],
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while it:
            page = kinesis.get_records(ShardIterator=it, Limit=10_000)
            sizes += [len(r["Data"]) for r in page["Records"]]
            it = page.get("NextShardIterator") if page["Records"] else None
    return sizes


def test_a_run_is_priced_from_what_it_put_wrote_and_stored(local_cloud, tmp_path):
    config = fresh_config()
    s = run_pipeline(cloud=local_cloud, config=config, events=400, seed=11, malformed_ratio=0.02, out_dir=tmp_path / "out",
                     events_per_second=50)
    assert s.counts_add_up and s.cost["events_measured"] == s.sent == 400
    scale = MILLION / 400
    sizes = _stream_sizes(local_cloud, config)
    assert len(sizes) == 400
    assert _line(s, "Firehose", "ingestion")["quantity"] * GB == pytest.approx(
        sum(math.ceil(n / 5120) * 5120 for n in sizes) * scale)
    assert _line(s, "Kinesis (on-demand)", "data in")["quantity"] * GB == pytest.approx(
        sum(math.ceil(n / 1024) * 1024 for n in sizes) * scale)
    assert _line(s, "Kinesis (on-demand)", "stream-hours")["quantity"] == pytest.approx(MILLION / 50 / 3600)
    # the key table, new: each subject written in a transaction (2 units a KB) and copied into the
    # by-link index (1), the root, its mark and the retention periods' keys in a PutItem each (1)
    pages = local_cloud.client("dynamodb").get_paginator("scan").paginate(TableName=config.subject_keys_table_name)
    table = [i for p in pages for i in p["Items"]]
    subjects = [i for i in table if i["id"]["S"].startswith("s#")]
    others = [i for i in table if not i["id"]["S"].startswith("s#")]
    assert subjects and {i["id"]["S"].split("#")[0] for i in others} <= {"root", "meta", "p"}
    assert _line(s, "DynamoDB (keys)", "writes")["quantity"] == pytest.approx((3 * len(subjects) + len(others)) * scale)
    stored = sum(item_bytes(i) + ITEM_OVERHEAD_BYTES for i in table) + sum(item_bytes(i) + ITEM_OVERHEAD_BYTES for i in subjects)
    assert _line(s, "DynamoDB (keys)", "storage")["quantity"] * GB == pytest.approx(stored * scale)
    assert _line(s, "KMS", "requests")["quantity"] == pytest.approx(s.cost["cold_starts"])  # the root's GenerateDataKey, a cold start
    # the lake: the GZIP bytes of the data objects this run wrote
    s3 = local_cloud.client("s3")
    bucket = config.data_bucket_name("123456789012", "us-east-1")
    gz = sum(s3.head_object(Bucket=bucket, Key=k)["ContentLength"] for k in s.data_keys)
    lake = _line(s, "S3", "lake")
    assert lake["monthly"] and lake["quantity"] * GB == pytest.approx(gz * scale)
    assert s.cost["total_usd"] == pytest.approx(sum(ln["usd"] for ln in s.cost["lines"] if not ln["monthly"]))
    text = s.report()
    assert "  cost per 1M events  us-east-1 prices of " in text and "at 50 events/s" in text
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["cost"]["total_usd"] == s.cost["total_usd"]


def test_small_events_put_directly_cost_5_kb_each_in_firehose(local_cloud, tmp_path):
    config = fresh_config()
    path = tmp_path / "small.jsonl"
    path.write_bytes(b"\n".join(small_events(600)) + b"\n")
    s = push_file(path, cloud=local_cloud, config=config, throughput_limits=False, direct=True)
    assert s.producer_invocations == 0 and s.sent == s.delivered == 600 and s.quarantined == 0 and s.counts_add_up
    assert "put on the stream as they are (--direct)" in s.report()
    assert _line(s, "Firehose", "ingestion")["quantity"] == pytest.approx(MILLION * 5120 / GB)
    assert _line(s, "Kinesis (on-demand)", "data in")["quantity"] == pytest.approx(MILLION * 1024 / GB)
    assert _line(s, "DynamoDB (keys)", "writes")["quantity"] == 0  # the default contract encrypts nothing
