"""Issue 12's test of the redrive, on the local cloud: records quarantined as ``unknown_contract``
are delivered once the missing contract is added and the redrive runs, and the counts add up.
Each quarantined record is traced by its log line (sequence number, arrival time, reason; no
content), and a second redrive puts nothing back twice."""

from __future__ import annotations

import gzip
import json
import logging
import shutil
from collections import Counter
from contextlib import contextmanager

import orjson

from stacks.config import load_from_cdk_json
from tests.integration.conftest import fresh_config
from twin.pipeline import ROOT, redrive_quarantine, run_pipeline

MISSING = """\
contract: loyalty_joined
version: 1
subject: subject_id
consent: {model: flag, field: data_share_consent}
purposes: [marketing]
fields:
  event_type: {type: string, required: true, enum: [loyalty_joined]}
  schema_version: {type: string, required: true, enum: ["1"]}
  subject_id:
    type: string
    required: true
    pii: {purposes: [marketing], action: pseudonymise, always: pseudonymise}
  email:
    type: string
    pii: {purposes: [marketing], action: mask, mask: email}
  tier: {type: string, enum: [bronze, silver, gold]}
  data_share_consent: {type: any}
"""
M = 40  # events of the type no contract describes yet


def _events():
    return [{"event_type": "loyalty_joined", "schema_version": "1", "subject_id": f"loyal-{i:03d}",
             "email": f"loyal.member{i:03d}@example.com", "tier": "gold", "data_share_consent": i % 2 == 0} for i in range(M)]


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def _logged(*services: str):
    """What the Lambdas of ``services`` log at INFO, whenever their Powertools loggers were made."""
    collect, saved = _Collect(), []
    for name in services:
        lg = logging.getLogger(name)
        saved.append((lg, lg.level))
        lg.addHandler(collect)
        lg.setLevel(logging.INFO)
    try:
        yield collect.records
    finally:
        for lg, level in saved:
            lg.removeHandler(collect)
            lg.setLevel(level)


def _text(records) -> str:
    return "\n".join(json.dumps(r.__dict__, default=str) for r in records)


def _lake_lines(cloud, bucket: str, keys) -> list[dict]:
    s3 = cloud.client("s3")
    return [orjson.loads(line) for k in keys for line in gzip.decompress(s3.get_object(Bucket=bucket, Key=k)["Body"].read()).splitlines()]


def test_unknown_contract_records_are_delivered_after_the_contract_is_added_and_the_redrive_runs(
        local_cloud, tmp_path, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "INFO")  # the twin's Lambdas log at WARNING by default
    before = fresh_config()  # the shipped contracts: no loyalty_joined
    added = tmp_path / "contracts"
    shutil.copytree(ROOT / before.contracts.dir, added)
    (added / "loyalty_joined").mkdir()
    (added / "loyalty_joined" / "1.yaml").write_text(MISSING)
    after = load_from_cdk_json(ROOT / "cdk.json", json.dumps({"name_prefix": before.name_prefix, "contracts": {"dir": str(added)}}))
    assert "loyalty_joined/1" in after.contracts.refs and "loyalty_joined/1" not in before.contracts.refs

    # Another producer writes events of the new type to the stream before their contract is deployed.
    kinesis = local_cloud.client("kinesis")
    events = _events()
    run_pipeline(cloud=local_cloud, config=before, events=0)  # the resources (nothing to deliver yet)
    put = kinesis.put_records(StreamName=before.stream_name,
                              Records=[{"Data": orjson.dumps(e), "PartitionKey": e["subject_id"]} for e in events])
    assert put["FailedRecordCount"] == 0
    sequence_numbers = {r["SequenceNumber"] for r in put["Records"]}

    with _logged("pii-scrubber") as logs:
        first = run_pipeline(cloud=local_cloud, config=before, events=300, seed=3, malformed_ratio=0.03, subjects=60,
                             out_dir=tmp_path / "out1")
    text = _text(logs)
    assert first.counts_add_up and first.pending_before == M
    assert first.quarantined == M + first.malformed_injected and first.malformed_injected > 0
    # Each quarantined record has its log line: sequence number, arrival time and reason, no content.
    traced = [r for r in logs if r.getMessage() == "record quarantined"]
    assert len(traced) == first.quarantined
    reasons = Counter(r.reason for r in traced)  # the producer's malformed probes include unknown types too
    assert reasons["unknown_contract"] >= M
    # found by sequence number (unique within a shard: moto numbers each shard from 1, so match the reason too)
    assert sequence_numbers <= {r.sequence_number for r in traced if r.reason == "unknown_contract"}
    assert all(isinstance(r.arrival_ms, int) for r in traced)
    assert "loyal" not in text and "example.com" not in text

    # The contract is added; the redrive puts the quarantined records back, and they are delivered.
    with _logged("pii-scrubber", "pii-quarantine-redrive") as logs:
        second = redrive_quarantine(cloud=local_cloud, config=after, out_dir=tmp_path / "out2")
    text = _text(logs)
    r = second.redrive
    assert r["complete"] and r["error"] is None
    assert r["objects"] == len(first.quarantine_keys) == r["objects_redriven"]
    assert r["records_read"] == first.quarantined == r["records_reput"] and r["records_failed"] == 0
    assert second.sent == first.quarantined and second.read == first.quarantined
    assert second.delivered == M  # the unknown_contract records, now known
    assert second.quarantined == first.malformed_injected  # the malformed ones fail again, as they must
    assert second.counts_add_up
    assert Counter(x.reason for x in logs if x.getMessage() == "record quarantined") == reasons - Counter(unknown_contract=M)
    assert [x.outcome for x in logs if x.getMessage() == "error object"] == ["redriven"] * r["objects"]
    assert "loyal" not in text and "example.com" not in text  # the redrive's logs and the scrubber's: no content
    delivered = _lake_lines(local_cloud, second.lake["bucket"], second.data_keys)
    assert len(delivered) == M and {d["_privacy"]["contract"] for d in delivered} == {"loyalty_joined/1"}
    assert all(d["subject_id"].startswith("k:") for d in delivered)  # scrubbed by the new contract
    assert sum(d["email"].endswith("@example.com") and not d["email"].startswith("l***") for d in delivered) == M // 2
    # the original error objects were moved aside, the records failed again are a new error object
    s3 = local_cloud.client("s3")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=second.lake["bucket"], Prefix="quarantine/").get("Contents", [])}
    moved = {k.replace("quarantine/", "quarantine/redriven/", 1) for k in first.quarantine_keys}
    assert moved <= keys and not set(first.quarantine_keys) & keys
    assert set(second.quarantine_keys) <= keys
    assert second.lake["quarantined"] == first.malformed_injected  # the quarantine as it stands, not what was moved aside

    # Nothing is redriven twice: a second redrive finds only the records that failed again.
    third = redrive_quarantine(cloud=local_cloud, config=after)
    assert third.redrive["records_read"] == first.malformed_injected and third.delivered == 0 and third.counts_add_up
    everything = [k for k in (o["Key"] for o in s3.list_objects_v2(Bucket=second.lake["bucket"], Prefix="data/")["Contents"])]
    lake = _lake_lines(local_cloud, second.lake["bucket"], everything)
    assert sum(d["_privacy"]["contract"] == "loyalty_joined/1" for d in lake) == M
    # and a range that holds no error object redrives nothing
    assert redrive_quarantine(cloud=local_cloud, config=after, until="2000-01-01").redrive["objects"] == 0
