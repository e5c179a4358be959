"""The backfill handler on moto: every line delivered scrubbed or quarantined, exactly as the stream's
scrubber decides it; counts that add up; no plaintext of what was sealed or redacted; one key per
partition and source object, the same on a re-run; and each failure answered with the code that
tells S3 Batch Operations whether to retry, having written nothing."""

from __future__ import annotations

import base64
import functools
import gzip
import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backfill.layout import ERROR_TYPE, source_id
from keystore.items import KeyStoreError
from privacy.codec import DecodeFailure
from privacy.common import Rejection
from privacy.scrub import Scrubber
from producer.events import MALFORMED_SAMPLES, EventFactory, encode
from tests.conftest import CONFIG, LambdaContext, contract_set
from tests.unit.backfill.conftest import LAKE, SOURCE, event, invoke

HIDING = {"encrypt", "redact", "mask", "pseudonymise", "generalise", "drop"}  # actions after which the raw value is gone


@functools.cache
def _reference() -> Scrubber:
    return Scrubber(contract_set())


def expected(lines: list[bytes]) -> list[str | None]:
    """What the stream's scrubber does with each line: None (delivered) or its quarantine reason."""
    scrubber = _reference()
    out = []
    for line in lines:
        try:
            scrubber.batch("2026-01-01T00:00:00.000Z")(line)
        except (DecodeFailure, Rejection) as exc:
            out.append(exc.reason)
        else:
            out.append(None)
    return out


def _value(event: dict, path: str):
    for part in path.split("."):
        if not isinstance(event, dict) or part not in event:
            return None
        event = event[part]
    return event


def assert_no_plaintext(data: dict[str, bytes], events: list[dict]) -> int:
    """No delivered line holds the raw value of a field its provenance says was sealed, redacted,
    masked, pseudonymised, generalised or dropped. Returns how many values were checked."""
    from stacks.config import load_contracts

    by_ref = {c.ref: c for c in load_contracts(CONFIG.contracts)}
    by_id = {e["event_id"]: e for e in events if "event_id" in e}
    checked = 0
    for body in data.values():
        for line in body.splitlines():
            out = json.loads(line)
            raw = by_id.get(out.get("event_id"))
            if raw is None:
                continue
            applied = out["_privacy"]["applied"]
            for f in by_ref[out["_privacy"]["contract"]].fields:
                value = _value(raw, f.path)
                if f.pii is not None and applied.get(f.path) in HIDING and isinstance(value, str) and len(value) >= 5:
                    assert value.encode() not in line, (f.path, applied.get(f.path))
                    checked += 1
    return checked


def assert_no_content(result: dict, lines: list[bytes]) -> None:
    """The result string (the completion report) holds counts and codes, never a line's content."""
    text = json.dumps(result)
    for line in lines:
        for token in (t for t in line.replace(b'"', b" ").split() if len(t) >= 8):
            assert token.decode("utf-8", "replace") not in text


# --- every line, delivered or quarantined ---------------------------------------------------------

_line = st.one_of(
    st.tuples(st.just("event"), st.integers(0, 119)),
    st.tuples(st.just("malformed"), st.sampled_from(MALFORMED_SAMPLES)),
    st.tuples(st.just("bytes"), st.binary(max_size=30).filter(lambda b: b"\n" not in b)),
    st.tuples(st.just("blank"), st.sampled_from([b"", b"  ", b"\t", b"\r"])),
)


_objects = itertools.count()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(items=st.lists(_line, min_size=1, max_size=60), gz=st.booleans(), crlf=st.booleans(), schema=st.sampled_from(["1.0", "2.0"]))
def test_every_line_is_delivered_scrubbed_or_quarantined_and_the_counts_add_up(cloud, handler, pool, items, gz, crlf, schema):
    events, encoded = pool
    lines = [encoded[x] if kind == "event" else x for kind, x in items]
    key = f"h/part-{next(_objects):04d}.jsonl"  # each example its own source object in the one local lake
    cloud.put(key, lines, gz=gz, newline=b"\r\n" if crlf else b"\n")
    code, result, _ = invoke(handler, event(key, schema=schema))
    assert code == "Succeeded"
    mine = f"backfill-{result['source_id']}.gz"
    data, quarantine = cloud.data(mine), cloud.quarantine(mine)
    non_blank = [(n, line.strip()) for n, line in enumerate(lines, 1) if line.strip()]
    want = expected([line for _, line in non_blank])
    assert result["lines"] == len(lines) and result["blank"] == len(lines) - len(non_blank)
    assert result["records_in"] == len(non_blank) == result["delivered"] + result["quarantined"]
    assert result["delivered"] == want.count(None)
    delivered = [json.loads(x) for body in data.values() for x in body.splitlines()]
    assert len(delivered) == result["delivered"] and all("_privacy" in r for r in delivered)
    # one quarantine object, written even when empty; each record: the raw line, its number, the reason
    assert list(quarantine) == [result["quarantine_object"]]
    records = [json.loads(x) for x in quarantine[result["quarantine_object"]].splitlines()]
    assert [(r["source"]["line"], base64.b64decode(r["rawData"]), r["errorMessage"]) for r in records] == [
        (n, line, reason) for (n, line), reason in zip(non_blank, want, strict=True) if reason is not None]
    assert all(r["errorCode"] == "Backfill.ProcessingFailed" and r["source"]["key"] == key for r in records)
    assert sum(result["reasons"].values()) == result["quarantined"]
    assert_no_plaintext(data, [events[x] for kind, x in items if kind == "event"])
    assert_no_content(result, lines)


@pytest.fixture
def handler(cloud):
    return cloud.handler()


def test_sealed_and_redacted_values_never_reach_the_lake_in_clear(cloud, pool):
    events, encoded = pool
    cloud.put("h/a.jsonl", encoded)
    code, result, _ = invoke(cloud.handler(), event("h/a.jsonl"))
    assert code == "Succeeded" and result["delivered"] == len(events)
    assert assert_no_plaintext(cloud.data(), events) > 500  # the check ran on hundreds of values


# --- both schemas, one answer per task ------------------------------------------------------------

@pytest.mark.parametrize("schema", ["1.0", "2.0"])
def test_both_schemas_name_the_object_and_are_answered_per_task(cloud, pool, schema):
    _, encoded = pool
    key = "history 2023/exports+old/ünïcode part.jsonl.gz"  # URL-encoded in the event: spaces, '+', non-ASCII
    cloud.put(key, encoded[:10], gz=True)
    code, result, _ = invoke(cloud.handler(), event(key, schema=schema))
    assert code == "Succeeded" and result["delivered"] == 10
    etag = cloud.s3.head_object(Bucket=SOURCE, Key=key)["ETag"]
    assert result["source_id"] == source_id(SOURCE, key, etag)
    assert all(k.endswith(f"/backfill-{result['source_id']}.gz") for k in cloud.data())
    for key in cloud.lake():  # written SSE-KMS with the lake key, as Firehose writes
        head = cloud.s3.head_object(Bucket=LAKE, Key=key)
        assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", cloud.lake_key)


def test_a_version_id_reads_that_version(cloud, pool):
    _, encoded = pool
    first = cloud.put("h/v.jsonl", encoded[:3])
    cloud.put("h/v.jsonl", encoded[:7])  # the current version has 7
    code, result, _ = invoke(cloud.handler(), event("h/v.jsonl", version=first["version"]))
    assert code == "Succeeded" and result["delivered"] == 3


# --- partitions: the event's time, else the object's ------------------------------------------------

def test_records_land_in_the_hour_of_their_event_time_else_of_the_objects_last_modified_time(cloud):
    factory = EventFactory(seed=3, subjects=5, event_types=("order_placed",))
    hours = [datetime(2023, 6, 3, 14, 5, tzinfo=UTC), datetime(2023, 6, 3, 15, 59, tzinfo=UTC), datetime(2024, 1, 1, 0, 0, tzinfo=UTC)]
    events = []
    for i in range(30):
        e = factory.next_event()
        e["event_time"] = (hours[i % 3] + timedelta(seconds=i)).isoformat().replace("+00:00", "Z")
        events.append(e)
    legacy = {"evnt_time": "2019-05-01T00:00:00Z", "name": "someone", "data_share_consent": True}  # the default contract: no event_time
    cloud.put("h/t.jsonl", [encode(e) for e in events] + [json.dumps(legacy).encode()])
    code, result, _ = invoke(cloud.handler(), event("h/t.jsonl"))
    assert code == "Succeeded" and result["delivered"] == 31 and result["data_objects"] == 4
    modified = cloud.s3.head_object(Bucket=SOURCE, Key="h/t.jsonl")["LastModified"].astimezone(UTC)
    name = f"backfill-{result['source_id']}.gz"
    counts = {k: len(v.splitlines()) for k, v in cloud.data().items()}
    assert counts == {
        f"data/year=2023/month=06/day=03/hour=14/{name}": 10,
        f"data/year=2023/month=06/day=03/hour=15/{name}": 10,
        f"data/year=2024/month=01/day=01/hour=00/{name}": 10,
        modified.strftime("data/year=%Y/month=%m/day=%d/hour=%H/") + name: 1,
    }
    assert result["quarantine_object"] == modified.strftime(f"quarantine/{ERROR_TYPE}/year=%Y/month=%m/day=%d/") + name


# --- idempotent -------------------------------------------------------------------------------------

def test_a_rerun_writes_the_same_keys_and_no_second_copy(cloud, pool):
    _, encoded = pool
    cloud.put("h/r.jsonl", encoded[:50] + list(MALFORMED_SAMPLES))
    handler = cloud.handler()
    first = invoke(handler, event("h/r.jsonl"))
    second = invoke(cloud.handler(), event("h/r.jsonl", schema="1.0"))  # another job, another container
    assert first[0] == second[0] == "Succeeded"
    assert {k: v for k, v in first[1].items()} == second[1]
    lake = cloud.lake()
    assert sum(len(b.splitlines()) for k, b in lake.items() if k.startswith("data/")) == 50
    versions = cloud.s3.list_object_versions(Bucket=LAKE)["Versions"]
    assert sorted(v["Key"] for v in versions) == sorted(list(lake) * 2)  # each key written twice, never a new key
    # a changed object is another source: new keys beside the old ones
    cloud.put("h/r.jsonl", encoded[:5])
    code, changed, _ = invoke(handler, event("h/r.jsonl"))
    assert code == "Succeeded" and changed["source_id"] != first[1]["source_id"]


# --- failures: the right code, nothing written, no content ------------------------------------------

class BrokenStore:
    """The key store down: every call fails after the adapter's retries."""

    def root(self, version):
        raise KeyStoreError("KMS Decrypt of the root failed after 4 attempts")

    def get_many(self, ids):
        raise KeyStoreError("BatchGetItem: 12 keys still not done after 9 attempts")

    create_many = get_many


def test_a_key_store_outage_is_a_temporary_failure_and_writes_nothing(cloud, pool):
    _, encoded = pool
    cloud.put("h/k.jsonl", encoded)
    code, result, _ = invoke(cloud.handler(store=BrokenStore()), event("h/k.jsonl"))
    assert code == "TemporaryFailure" and result == {"error": "key_store_unavailable"}
    assert cloud.lake() == {}
    # S3 Batch Operations retries the task: with the store back, it succeeds
    code, result, _ = invoke(cloud.handler(), event("h/k.jsonl"))
    assert code == "Succeeded" and result["delivered"] == len(encoded)


class ThrottledS3:
    """S3 answering SlowDown (after boto3's retries) to reads, or to writes."""

    def __init__(self, s3, on: str):
        self._s3, self._on = s3, on

    def __getattr__(self, name):
        from botocore.exceptions import ClientError

        if name == self._on:
            def fail(*_a, **_k):
                raise ClientError({"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."},
                                   "ResponseMetadata": {"HTTPStatusCode": 503}}, name)
            return fail
        return getattr(self._s3, name)


@pytest.mark.parametrize("on", ["get_object", "upload_fileobj"])
def test_throttling_is_a_temporary_failure(cloud, pool, on):
    _, encoded = pool
    cloud.put("h/s.jsonl", encoded[:5])
    code, result, _ = invoke(cloud.handler(s3=ThrottledS3(cloud.s3, on)), event("h/s.jsonl"))
    assert code == "TemporaryFailure" and result == {"error": "aws_unavailable", "aws_error": "SlowDown"}
    assert cloud.data() == {}


def test_a_missing_object_is_a_permanent_failure(cloud):
    code, result, _ = invoke(cloud.handler(), event("h/none.jsonl"))
    assert code == "PermanentFailure" and result == {"error": "source_missing", "aws_error": "NoSuchKey"}


def test_an_object_over_the_limit_or_not_gzip_fails_permanently_and_writes_nothing(cloud, pool):
    _, encoded = pool
    cloud.put("h/big.jsonl", encoded)
    size = len(b"\n".join(encoded)) + 1
    code, result, _ = invoke(cloud.handler(MAX_OBJECT_BYTES=str(size - 1)), event("h/big.jsonl"))
    assert code == "PermanentFailure" and result["error"] == "object_too_large" and "split it" in result["detail"]
    # a GZIP object is limited by what it holds, not by its compressed size
    cloud.put("h/big.jsonl.gz", encoded, gz=True)
    code, result, _ = invoke(cloud.handler(MAX_OBJECT_BYTES=str(size - 1)), event("h/big.jsonl.gz"))
    assert code == "PermanentFailure" and result["error"] == "object_too_large"
    body = gzip.compress(b"\n".join(encoded))
    cloud.s3.put_object(Bucket=SOURCE, Key="h/cut.jsonl.gz", Body=body[: len(body) // 2])  # cut short
    code, result, _ = invoke(cloud.handler(), event("h/cut.jsonl.gz"))
    assert code == "PermanentFailure" and result["error"] == "not_gzip"
    assert cloud.lake() == {}
    assert_no_content(result, encoded)


def test_running_out_of_time_fails_permanently_before_anything_is_written(cloud, pool):
    _, encoded = pool
    cloud.put("h/slow.jsonl", encoded)

    class Late(LambdaContext):
        @staticmethod
        def get_remaining_time_in_millis():
            return 5_000

    code, result, _ = invoke(cloud.handler(), event("h/slow.jsonl"), Late())
    assert code == "PermanentFailure" and result["error"] == "out_of_time"
    assert cloud.lake() == {}


def test_a_line_over_the_record_limit_is_quarantined_by_number_without_its_content(cloud, pool):
    _, encoded = pool
    huge = b'{"event_type": "order_placed", "note": "' + b"x" * (1 << 20) + b'"}'
    cloud.put("h/huge.jsonl", [encoded[0], huge, encoded[1]])
    code, result, _ = invoke(cloud.handler(), event("h/huge.jsonl"))
    assert code == "Succeeded" and (result["delivered"], result["quarantined"], result["reasons"]) == (2, 1, {"too_large": 1})
    [record] = [json.loads(x) for body in cloud.quarantine().values() for x in body.splitlines()]
    assert record["rawData"] is None and record["source"]["line"] == 2 and record["errorMessage"] == "too_large"


def test_a_missing_configuration_fails_every_task_permanently_naming_the_variable(cloud, monkeypatch):
    from backfill.handler import make_handler

    for name in ("LAKE_BUCKET", "DATA_PREFIX", "QUARANTINE_PREFIX", "MAX_OBJECT_BYTES"):
        monkeypatch.delenv(name, raising=False)
    code, result, _ = invoke(make_handler(), event("h/x.jsonl"))
    assert code == "PermanentFailure" and result["error"] == "configuration"
    assert "LAKE_BUCKET" in result["detail"] and "MAX_OBJECT_BYTES" in result["detail"]


def test_the_scrubber_runs_one_batch_per_thousand_lines(cloud, monkeypatch):
    """Chunks of 1,000 lines: each one batch of the scrubber (its subjects resolved at once)."""
    factory = EventFactory(seed=4, subjects=50)
    lines = [encode(factory.next_event()) for _ in range(2500)]
    cloud.put("h/c.jsonl", lines)
    sizes = []
    real = Scrubber.batch

    def spy(self, *args, **kwargs):
        batch = real(self, *args, **kwargs)
        prepare_all = batch.prepare_all

        def note(raws):
            sizes.append(len(raws))
            return prepare_all(raws)

        batch.prepare_all = note
        return batch

    monkeypatch.setattr(Scrubber, "batch", spy)
    code, result, _ = invoke(cloud.handler(), event("h/c.jsonl"))
    assert code == "Succeeded" and result["delivered"] == 2500
    assert sizes == [1000, 1000, 500]
