"""The whole pipeline offline on moto: what lands in S3 for consenting and non-consenting subjects."""

from __future__ import annotations

import base64
import gzip
import json
import re
import subprocess
import sys

import orjson
import pytest

from producer.handler import Production, parse_payload
from stacks.config import load_config
from tests.conftest import string_values
from twin.pipeline import ROOT, run_pipeline

SENSITIVE = ("name", "dob", "ssn", "email", "phone", "note")
UNCHANGED_WITH_CONSENT = ("event_id", "event_type", "schema_version", "event_time", "name", "dob", "gender", "ssn",
                          "email", "phone", "address", "data_share_consent")
PAYLOAD = dict(count=3000, seed=21, consent_ratio=0.5, consent_noise=0.05, malformed_ratio=0.01, subjects=600)
# Two event types at least, one of them nested (order_placed: order.items[*]): all four are produced.


def _expected_records():
    """Re-create exactly what the producer sent: same seed, same sequence."""
    opts = parse_payload({**PAYLOAD, "start_time": "2026-01-15T09:30:00Z"})
    return list(Production(opts).records(PAYLOAD["count"]))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    captured = {}

    def inspect(s3, bucket):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for o in page.get("Contents", []):
                obj = s3.get_object(Bucket=bucket, Key=o["Key"])
                captured[o["Key"]] = (obj["Body"].read(), obj.get("ServerSideEncryption"))

    summary = run_pipeline(
        events=PAYLOAD["count"],
        seed=PAYLOAD["seed"],
        consent_ratio=PAYLOAD["consent_ratio"],
        consent_noise=PAYLOAD["consent_noise"],
        malformed_ratio=PAYLOAD["malformed_ratio"],
        subjects=PAYLOAD["subjects"],
        out_dir=tmp_path_factory.mktemp("out"),
        inspect=inspect,
    )
    data = {k: v for k, v in captured.items() if k.startswith("data/")}
    quarantine = {k: v for k, v in captured.items() if k.startswith("quarantine/")}
    return summary, data, quarantine


def test_counts_add_up(run):
    summary, data, quarantine = run
    assert summary.produced == PAYLOAD["count"] == summary.sent
    assert summary.produced == summary.delivered + summary.quarantined + summary.dropped
    assert summary.counts_add_up
    assert summary.quarantined == summary.malformed_injected > 0
    assert set(data) | set(quarantine) == set(summary.data_keys) | set(summary.quarantine_keys)


def test_objects_are_gzip_kms_encrypted_under_the_configured_prefixes(run):
    _, data, quarantine = run
    assert data and quarantine
    for key, (body, sse) in {**data, **quarantine}.items():
        assert body[:2] == b"\x1f\x8b", key
        assert sse == "aws:kms"
    # Firehose renders !{timestamp:...} from arrival time, and names objects stream-version-time-uuid.
    data_key = re.compile(r"^data/year=\d{4}/month=\d\d/day=\d\d/hour=\d\d/pii-scrub-delivery-1-\d{4}(-\d\d){5}-[0-9a-f-]{36}\.gz$")
    q_key = re.compile(r"^quarantine/processing-failed/year=\d{4}/month=\d\d/day=\d\d/pii-scrub-delivery-1-\d{4}(-\d\d){5}-[0-9a-f-]{36}\.gz$")
    assert all(data_key.match(k) for k in data), list(data)
    assert all(q_key.match(k) for k in quarantine), list(quarantine)


def _delivered(data):
    out = {}
    text = []
    for body, _ in data.values():
        raw = gzip.decompress(body)
        text.append(raw.decode("utf-8"))
        for line in raw.splitlines():
            ev = orjson.loads(line)
            assert ev["event_id"] not in out, "a record was delivered twice"
            out[ev["event_id"]] = ev
    return out, "".join(text)


def test_consenting_subjects_are_intact_and_others_are_transformed_by_their_contract(run):
    _, data, _ = run
    delivered, _ = _delivered(data)
    sent = [orjson.loads(d) for pk, d in _expected_records() if not pk.startswith("malformed-")]
    assert len(delivered) == len(sent)
    consenting = redacted = 0
    types = set()
    pseudonyms: dict[str, str] = {}
    for ev in sent:
        got = delivered[ev["event_id"]]
        types.add(ev["event_type"])
        assert got["_privacy"]["contract"] == f"{ev['event_type']}/1"
        # the subject id is always pseudonymised, and the same subject always gets the same pseudonym
        assert got["subject_id"].startswith("v1:") and got["subject_id"] != ev["subject_id"]
        assert pseudonyms.setdefault(ev["subject_id"], got["subject_id"]) == got["subject_id"]
        if ev.get("data_share_consent") is True:
            consenting += 1
            for f in UNCHANGED_WITH_CONSENT:
                assert got[f] == ev[f], f
            assert "@" not in got["note"] or "[EMAIL]" in got["note"]  # free text is still scanned
        else:
            redacted += 1
            assert got["name"] == got["note"] == got["address"]["street"] == got["address"]["city"] == "REDACTED_CONTENT"
            assert got["ssn"] == "***-**-" + ev["ssn"][-4:]
            assert got["email"] == ev["email"][0] + "***@" + ev["email"].split("@")[1]
            assert got["dob"] == ev["dob"][:4] and got["address"]["postcode"] == ev["address"]["postcode"][:3]
            assert got["phone"].endswith(ev["phone"][-4:]) and got["phone"] != ev["phone"]
            assert got["data_redacted"] is True and got["redacted_at"].endswith("Z")
            if ev["event_type"] == "health_form_submitted":
                assert "smoker" not in got["form"] and got["form"]["blood_type"] == "REDACTED_CONTENT"
            if ev["event_type"] == "order_placed":
                for item in got["order"]["items"]:
                    assert item.get("gift_message", "REDACTED_CONTENT") == "REDACTED_CONTENT"  # nested array
    assert types == {"customer_signed_up", "order_placed", "health_form_submitted", "tax_form_submitted"}
    assert consenting > 500 and redacted > 1000


def test_non_consenting_values_appear_nowhere_in_the_lake(run):
    _, data, _ = run
    delivered, text = _delivered(data)
    values = set()  # every string value anywhere in the lake
    for ev in delivered.values():
        values.update(string_values(ev))
    # personal data that free text could carry: e-mail addresses and SSNs, as whole tokens
    tokens = set(re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|\b\d{3}-\d{2}-\d{4}\b", text))
    sent = [orjson.loads(d) for pk, d in _expected_records() if not pk.startswith("malformed-")]
    allowed = set()  # values a consenting event legitimately carries (e.g. a shared birth date)
    for ev in sent:
        if ev.get("data_share_consent") is True:
            for f in SENSITIVE + ("address",):
                allowed.update(string_values(ev[f]))
            allowed.update(i["gift_message"] for i in ev.get("order", {}).get("items", []) if "gift_message" in i)
    checked = 0
    for ev in sent:
        if ev.get("data_share_consent") is True:
            continue
        for f in SENSITIVE:
            for v in string_values(ev[f]):
                if v in allowed:
                    continue
                checked += 1
                assert v not in values, f
        for v in (ev["address"]["street"], ev["address"]["city"], ev["subject_id"]):
            if v not in allowed:
                assert v not in values
        for item in ev.get("order", {}).get("items", []):
            if "gift_message" in item and item["gift_message"] not in allowed:
                assert item["gift_message"] not in values
        for v in (ev["email"], ev["ssn"]):
            if v not in allowed:
                assert v not in tokens
    assert checked > 5000


def test_malformed_records_are_in_quarantine_raw_and_nowhere_else(run):
    _, data, quarantine = run
    expected = sorted(d for pk, d in _expected_records() if pk.startswith("malformed-"))
    errors = [json.loads(l) for body, _ in quarantine.values() for l in gzip.decompress(body).splitlines()]
    assert sorted(base64.b64decode(e["rawData"]) for e in errors) == expected
    assert {e["errorCode"] for e in errors} == {"Lambda.ProcessingFailedStatus"}
    assert all(e["lambdaArn"].endswith(":function:pii-scrub-scrubber") for e in errors)
    _, text = _delivered(data)
    assert "no_such_type" not in text


def test_shard_throttling_is_retried_and_nothing_is_lost():
    cfg = load_config({"stream": {"mode": "PROVISIONED", "shard_count": 1}})
    s = run_pipeline(config=cfg, events=2500, seed=4, malformed_ratio=0.0, consent_noise=0.0)
    assert s.throttled_entries > 0 and s.producer_retried >= s.throttled_entries
    assert s.sent == s.delivered == 2500 and s.counts_add_up


def test_command_line_prints_the_summary(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "twin", "--events", "300", "--out", str(tmp_path / "out")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr
    for word in ("produced", "delivered", "redacted", "quarantined", "objects written", "elapsed", "counts add up       yes"):
        assert word in r.stdout
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["produced"] == 300
    assert list((tmp_path / "out").rglob("*.gz"))
