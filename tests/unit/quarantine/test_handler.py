"""The redrive function: its payload checked (errors name the field, never a value), its answer the
counts, its logs keys and counts only; and, built from its environment as deployed, against S3 and
Kinesis (moto)."""

from __future__ import annotations

import json

import boto3
import pytest
from aws_lambda_powertools import Logger
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from quarantine.handler import SERVICE, BadRequest, make_handler, parse
from quarantine.layout import Layout
from tests.conftest import LambdaContext
from tests.unit.quarantine.fakes import PREFIX, MemoryStore, MemoryStream, at, error_key, error_object

SECRET = b'{"event_type": "loyalty_joined", "email": "jane.doe@example.com", "ssn": "123-45-6789"}'


def _logger() -> Logger:
    logger = Logger(service=SERVICE)
    logger.setLevel("INFO")
    return logger


def _logged(capfd, caplog) -> str:
    out = capfd.readouterr()
    return out.out + out.err + "\n".join(json.dumps(r.__dict__, default=str) for r in caplog.records)


def _roundtrip(handler, payload, context=None):
    return json.loads(json.dumps(handler(json.loads(json.dumps(payload)), context or LambdaContext())))


@pytest.mark.parametrize("payload, field", [
    ({"since": "2026-02-30"}, "since"),
    ({"since": "2026-01-15T09:30:00"}, "since"),
    ({"since": 20260115}, "since"),
    ({"until": "jane.doe@example.com"}, "until"),
    ({"since": "2026-01-16", "until": "2026-01-15"}, "until"),
    ({"jane.doe@example.com": 1}, None),
    ({"since": "2026-01-15", "subject_id": "x"}, None),
    (["since"], None),
    ("jane.doe@example.com", None),
])
def test_bad_payloads_are_refused_naming_the_field_never_the_value(payload, field, capfd, caplog):
    store = MemoryStore({error_key(at("2026-01-15T09:30:00")): error_object([SECRET])})
    handler = make_handler(store, MemoryStream(), Layout(PREFIX), _logger())
    answer = _roundtrip(handler, payload)
    assert set(answer) == {"error", "field"} and answer["field"] == field
    assert "jane" not in answer["error"] and "2026-02-30" not in answer["error"] and "20260115" not in answer["error"]
    assert "jane" not in _logged(capfd, caplog)
    assert len(store.objects) == 1  # nothing done


def test_unexpected_keys_are_named_only_when_they_are_plain_names():
    with pytest.raises(BadRequest) as exc:
        parse({"since": "2026-01-15", "dry_run": True, "jane.doe@example.com": 1})
    assert "dry_run" in str(exc.value) and "1 key(s) that are not plain names" in str(exc.value) and "jane" not in str(exc.value)


@settings(max_examples=300, deadline=None)
@given(payload=st.one_of(
    st.dictionaries(st.sampled_from(["since", "until"]), st.one_of(st.none(), st.text(max_size=40), st.integers(), st.booleans())),
    st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3), st.lists(st.text(max_size=5)), st.text(max_size=20)))
def test_any_payload_is_a_range_or_refused_naming_a_field_and_never_a_value(payload):
    try:
        since, until = parse(payload)
    except BadRequest as exc:
        refused = exc
    else:
        assert since is None or until is None or since < until
        return
    assert refused.field in (None, "since", "until")
    values = payload.values() if isinstance(payload, dict) else [payload]
    for v in values:
        if isinstance(v, str) and len(v) >= 4 and v not in ("since", "until", "after"):
            assert v not in str(refused), (v, str(refused))


def test_the_answer_is_the_counts_and_the_logs_name_keys_never_records(capfd, caplog):
    keys = [error_key(at("2026-01-15T09:30:00"), 1), error_key(at("2026-01-15T10:30:00"), 2)]
    store = MemoryStore({keys[0]: error_object([SECRET, SECRET + b" 2"]), keys[1]: error_object([SECRET + b" 3"])})
    stream = MemoryStream(refuse={SECRET + b" 2"})
    answer = _roundtrip(make_handler(store, stream, Layout(PREFIX), _logger()), {"since": "2026-01-15", "until": "2026-01-16"})
    assert answer == {
        "since": "2026-01-15T00:00:00Z", "until": "2026-01-16T00:00:00Z", "complete": True, "objects": 2,
        "objects_redriven": 1, "objects_split": 1, "objects_kept": 0, "objects_skipped": 0, "objects_finished": 0,
        "objects_not_reached": 0, "records_read": 3, "records_reput": 2, "records_failed": 1, "skipped": [], "error": None,
        "moved_to": "quarantine/redriven/processing-failed/",
    }
    logged = _logged(capfd, caplog)
    assert keys[0] in logged and '"outcome":"split"' in logged.replace(" ", "") and "redrive done" in logged
    for word in ("jane", "123-45-6789", "loyalty"):
        assert word not in logged and word not in json.dumps(answer)


def test_no_object_is_started_close_to_the_timeout():
    class Late(LambdaContext):
        @staticmethod
        def get_remaining_time_in_millis() -> int:
            return 59_000

    store = MemoryStore({error_key(at("2026-01-15T09:30:00")): error_object([SECRET])})
    answer = _roundtrip(make_handler(store, MemoryStream(), Layout(PREFIX), _logger()), {}, Late())
    assert answer["complete"] is False and answer["objects_not_reached"] == 1 and len(store.objects) == 1


@mock_aws
def test_built_from_its_environment_it_redrives_on_s3_and_kinesis(monkeypatch):
    s3, kinesis = boto3.client("s3", region_name="us-east-1"), boto3.client("kinesis", region_name="us-east-1")
    s3.create_bucket(Bucket="lake")
    kinesis.create_stream(StreamName="events", ShardCount=2)
    key = error_key(at("2026-01-15T09:30:00"))
    s3.put_object(Bucket="lake", Key=key, Body=error_object([SECRET, b"second"]))
    s3.put_object(Bucket="lake", Key="data/year=2026/x.gz", Body=b"delivered")
    for k, v in {"LAKE_BUCKET": "lake", "STREAM_NAME": "events", "QUARANTINE_PREFIX": PREFIX, "MAX_ATTEMPTS": "3"}.items():
        monkeypatch.setenv(k, v)
    answer = _roundtrip(make_handler(logger=_logger()), {"until": "2026-01-16"})
    assert (answer["records_reput"], answer["objects_redriven"], answer["put_records"]) == (2, 1, {"calls": 1, "retried": 0})
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="lake")["Contents"])
    assert keys == ["data/year=2026/x.gz", Layout(PREFIX).redriven_key(key)]
    assert s3.get_object(Bucket="lake", Key=keys[1])["Body"].read() == error_object([SECRET, b"second"])
    got = []
    for shard in kinesis.list_shards(StreamName="events")["Shards"]:
        it = kinesis.get_shard_iterator(StreamName="events", ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
        got += kinesis.get_records(ShardIterator=it["ShardIterator"])["Records"]
    assert sorted(r["Data"] for r in got) == sorted([SECRET, b"second"])
    assert all(len(r["PartitionKey"]) == 32 for r in got)
