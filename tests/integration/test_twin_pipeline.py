"""The whole pipeline offline on the local cloud: what lands in S3 for consenting and non-consenting
subjects."""

from __future__ import annotations

import base64
import gzip
import json
import re

import orjson
import pytest

from producer.handler import Production, parse_payload
from tests.conftest import string_values
from tests.integration.conftest import fresh_config
from twin.pipeline import run_pipeline

SENSITIVE = ("name", "dob", "ssn", "email", "phone", "note")
UNCHANGED_WITH_CONSENT = ("event_id", "event_type", "schema_version", "event_time", "name", "dob", "gender", "ssn",
                          "email", "phone", "address", "data_share_consent")
PAYLOAD = dict(count=3000, seed=21, consent_ratio=0.5, consent_noise=0.05, malformed_ratio=0.01, subjects=600)
# Two event types at least, one of them nested (order_placed: order.items[*]): all four are produced.


PURPOSES = ("analytics", "marketing", "support")
# the purposes of each personal field in the producer's contracts (both versions of order_placed)
FIELD_PURPOSES = {"name": "marketing", "dob": "analytics", "ssn": "support", "email": "marketing", "phone": "support",
                  "note": "support", "address.street": "marketing", "address.city": "marketing", "address.postcode": "analytics"}


def consented_purposes(ev: dict) -> set:
    """What the subject consented to, under the event's consent model, fail-closed."""
    if ev.get("schema_version") == "2":
        purposes = ev.get("consent", {}).get("purposes")
        if isinstance(purposes, list) and all(type(p) is str and p in PURPOSES for p in purposes):
            return set(purposes)
        return set()
    return set(PURPOSES) if ev.get("data_share_consent") is True else set()


def field_value(ev: dict, path: str):
    v = ev
    for part in path.split("."):
        v = v[part]
    return v


def _expected_records():
    """Re-create exactly what the producer sent: same seed, same sequence."""
    opts = parse_payload({**PAYLOAD, "start_time": "2026-01-15T09:30:00Z"})
    return list(Production(opts).records(PAYLOAD["count"]))


@pytest.fixture(scope="module")
def run(tmp_path_factory, local_cloud):
    captured = {}
    config = fresh_config()

    def inspect(s3, bucket):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for o in page.get("Contents", []):
                obj = s3.get_object(Bucket=bucket, Key=o["Key"])
                captured[o["Key"]] = (obj["Body"].read(), obj.get("ServerSideEncryption"))

    summary = run_pipeline(
        cloud=local_cloud,
        config=config,
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
    return summary, data, quarantine, config


def test_counts_add_up(run):
    summary, data, quarantine, _ = run
    assert summary.produced == PAYLOAD["count"] == summary.sent
    assert summary.pending_before == 0 and summary.read == summary.sent
    assert summary.produced == summary.delivered + summary.quarantined + summary.dropped
    assert summary.counts_add_up
    assert summary.quarantined == summary.malformed_injected > 0
    assert set(data) | set(quarantine) == set(summary.data_keys) | set(summary.quarantine_keys)


def test_with_consent_counts_the_events_consenting_to_every_purpose_under_both_models(run):
    summary, _, _, _ = run
    sent = [orjson.loads(d) for pk, d in _expected_records() if not pk.startswith("malformed-")]
    full = [ev for ev in sent if consented_purposes(ev) == set(PURPOSES)]
    assert summary.consented == len(full)
    assert {ev["schema_version"] for ev in full} == {"1", "2"}  # a flag, and a list of every purpose
    assert 0 < summary.consented < summary.delivered


def test_objects_are_gzip_kms_encrypted_under_the_configured_prefixes(run):
    _, data, quarantine, config = run
    assert data and quarantine
    for key, (body, sse) in {**data, **quarantine}.items():
        assert body[:2] == b"\x1f\x8b", key
        assert sse == "aws:kms"
    # Firehose renders !{timestamp:...} from arrival time, and names objects stream-version-time-uuid.
    stream = re.escape(config.delivery_stream_name)
    data_key = re.compile(rf"^data/year=\d{{4}}/month=\d\d/day=\d\d/hour=\d\d/{stream}-1-\d{{4}}(-\d\d){{5}}-[0-9a-f-]{{36}}\.gz$")
    q_key = re.compile(rf"^quarantine/processing-failed/year=\d{{4}}/month=\d\d/day=\d\d/"
                       rf"{stream}-1-\d{{4}}(-\d\d){{5}}-[0-9a-f-]{{36}}\.gz$")
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


def _opener(cloud, config):
    """A reader of the local cloud's key table (export's view): opens sealed fields."""
    from keystore.dynamo import DynamoKeyStore
    from privacy.subjects import Opener

    return Opener(DynamoKeyStore(config.subject_keys_table_name, config.subject_keys_alias, dynamodb=cloud.client("dynamodb"),
                                 kms=cloud.client("kms"), create_root=False))


def test_each_field_is_kept_or_transformed_by_its_purposes_under_both_consent_models(run, local_cloud):
    from privacy.sealed import open_record, sites
    from stacks.config import load_contracts

    _, data, _, config = run
    delivered, text = _delivered(data)
    contracts_by_ref = {c.ref: c for c in load_contracts(config.contracts)}
    opener = _opener(local_cloud, config)
    sent = [orjson.loads(d) for pk, d in _expected_records() if not pk.startswith("malformed-")]
    assert len(delivered) == len(sent)
    contracts, pseudonyms = set(), {}
    kept = transformed = 0
    for ev in sent:
        got = delivered[ev["event_id"]]
        ref = f"{ev['event_type']}/{ev['schema_version']}"
        contracts.add(ref)
        assert got["_privacy"]["contract"] == ref
        # the subject id is always pseudonymised (its key link), the same subject always the same
        assert got["subject_id"].startswith("k:") and got["subject_id"] != ev["subject_id"]
        assert pseudonyms.setdefault(ev["subject_id"], got["subject_id"]) == got["subject_id"]
        consented = consented_purposes(ev)
        # what is kept with consent is sealed under the subject's key: in the lake, no plaintext
        sealed = sites(contracts_by_ref[ref])
        for path in sealed:
            if consented >= set(contracts_by_ref[ref].fields[[f.path for f in contracts_by_ref[ref].fields].index(path)].pii.purposes):
                v = field_value(ev, path)
                assert field_value(got, path).startswith("~") and (not isinstance(v, str) or v not in text), (ref, path)
        assert open_record(got, contracts_by_ref[ref], opener) == []
        for path, purpose in FIELD_PURPOSES.items():
            before, after = field_value(ev, path), field_value(got, path)
            if purpose in consented:
                if path != "note":  # free text is scanned (and masked) whatever the consent
                    assert after == before, (ref, path)
                kept += 1
            else:
                assert after != before, (ref, path)
                assert got["_privacy"]["applied"][path] in ("redact", "mask", "generalise")
                transformed += 1
        if "support" not in consented:
            assert got["ssn"] == "***-**-" + ev["ssn"][-4:]
        if "marketing" not in consented:
            assert got["email"] == ev["email"][0] + "***@" + ev["email"].split("@")[1] and got["name"] == "REDACTED_CONTENT"
        if "analytics" not in consented:
            assert got["dob"] == ev["dob"][:4] and got["address"]["postcode"] == ev["address"]["postcode"][:3]
        if consented != set(PURPOSES):
            assert got["data_redacted"] is True and got["redacted_at"].endswith("Z")
        if ev["event_type"] == "health_form_submitted" and "support" not in consented:
            assert "smoker" not in got["form"] and got["form"]["blood_type"] == "REDACTED_CONTENT"
        if ev["event_type"] == "order_placed" and "marketing" not in consented:
            for item in got["order"]["items"]:
                assert item.get("gift_message", "REDACTED_CONTENT") == "REDACTED_CONTENT"  # nested array
    assert contracts == {"customer_signed_up/1", "order_placed/1", "order_placed/2", "health_form_submitted/1", "tax_form_submitted/1"}
    assert kept > 3000 and transformed > 3000
    # under the purposes model, subjects who allow some purposes but not others are common
    partial = [e for e in sent if e["schema_version"] == "2" and 0 < len(consented_purposes(e)) < 3]
    assert len(partial) > 50


def test_non_consenting_values_appear_nowhere_in_the_lake(run):
    _, data, _, _ = run
    delivered, text = _delivered(data)
    values = set()  # every string value anywhere in the lake
    for ev in delivered.values():
        values.update(string_values(ev))
    # personal data that free text could carry: e-mail addresses and SSNs, as whole tokens
    tokens = set(re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|\b\d{3}-\d{2}-\d{4}\b", text))
    sent = [orjson.loads(d) for pk, d in _expected_records() if not pk.startswith("malformed-")]
    allowed = set()  # values an event legitimately keeps, by consent (e.g. a shared birth date)
    for ev in sent:
        consented = consented_purposes(ev)
        for path, purpose in FIELD_PURPOSES.items():
            if purpose in consented:
                allowed.update(string_values(field_value(ev, path)))
        if "marketing" in consented:
            allowed.update(i["gift_message"] for i in ev.get("order", {}).get("items", []) if "gift_message" in i)
    checked = 0
    for ev in sent:
        consented = consented_purposes(ev)
        for path, purpose in FIELD_PURPOSES.items():
            if purpose in consented:
                continue
            for v in string_values(field_value(ev, path)):
                if v in allowed:
                    continue
                checked += 1
                assert v not in values, path
        assert ev["subject_id"] not in values
        if "marketing" not in consented:
            for item in ev.get("order", {}).get("items", []):
                if "gift_message" in item and item["gift_message"] not in allowed:
                    assert item["gift_message"] not in values
        for path in ("email", "ssn"):
            v = ev[path]
            if FIELD_PURPOSES[path] not in consented and v not in allowed:
                assert v not in tokens
    assert checked > 5000


def _scanned_texts(ev: dict, paths: list[str]):
    """The values of an event's free-text fields (``scan: true``), arrays of objects included."""
    def walk(node, parts):
        if not parts:
            if isinstance(node, str):
                yield node
            return
        head, rest = parts[0], parts[1:]
        if head.endswith("[*]"):
            for item in node.get(head[:-3], []) if isinstance(node, dict) else []:
                yield from walk(item, rest)
        elif isinstance(node, dict) and head in node:
            yield from walk(node[head], rest)

    for path in paths:
        yield from walk(ev, path.split("."))


def _digits(s: str) -> str:
    return re.sub(r"[^0-9]", "", s)


def _subjects_raw_values():
    """Every subject's personal data as the producer's free texts may quote it: (kind, as written,
    its digits or None). A phone number's digits are those of the number without its extension."""
    opts = parse_payload({**PAYLOAD, "start_time": "2026-01-15T09:30:00Z"})
    for s in Production(opts).factory.subjects:
        yield "email", s.email, None
        for phone in (s.phone, s.phone_abroad):
            yield "phone", phone, _digits(re.split(r"x|ext", phone)[0])[-7:]  # its last seven: the subscriber's number
        yield "ssn", s.ssn, _digits(s.ssn)
        yield "card", s.card, _digits(s.card)
        yield "iban", s.iban, s.iban.replace(" ", "")


def test_no_raw_personal_data_of_any_subject_is_left_in_free_text(run):
    """After the scan, no free-text field of the lake holds a raw e-mail address, phone number,
    SSN, card number or IBAN of any subject: not as written, and not as its run of digits either
    (digits read across the whole text, separators and masks' last-four aside)."""
    from producer.conformance import load_contracts

    _, data, _, _ = run
    delivered, _ = _delivered(data)
    scanned = {f"{c.type}/{c.version}": [f.path for f in c.fields if f.scan] for c in load_contracts() if c.producible}
    assert all(scanned.values())  # every contract the producer emits has free text
    raw = list(_subjects_raw_values())
    written = re.compile("|".join(sorted({re.escape(v.lower()) for _, v, _ in raw}, key=len, reverse=True)))
    needles = {d for _, _, d in raw if d}
    lengths = sorted({len(d) for d in needles})

    def leaks(text: str) -> list[str]:
        found = [m.group() for m in written.finditer(text.lower())]
        p = _digits(re.sub(r"\[CARD \*{4}[0-9]{4}\]", " ", text))  # a card's mask keeps its last four
        found += [p[i:i + n] for n in lengths for i in range(len(p) - n + 1) if p[i:i + n] in needles]
        return found

    # the producer's texts quote every kind, in the formats the detectors must catch
    sent = [orjson.loads(d) for pk, d in _expected_records() if not pk.startswith("malformed-")]
    quoted = {kind: 0 for kind, _, _ in raw}
    kinds = {v.lower(): kind for kind, v, _ in raw}
    for ev in sent:
        for text in _scanned_texts(ev, scanned[f"{ev['event_type']}/{ev['schema_version']}"]):
            for m in written.finditer(text.lower()):
                quoted[kinds[m.group()]] += 1
    assert all(n > 20 for n in quoted.values()), quoted
    assert sum(kind == "phone" and "x" in v for kind, v, _ in raw) > 100  # numbers with an extension
    texts, masks = 0, set()
    for ev in delivered.values():
        for text in _scanned_texts(ev, scanned[ev["_privacy"]["contract"]]):
            texts += 1
            masks.update(re.findall(r"\[(EMAIL|SSN|PHONE|CARD|IBAN)", text))
            left = len(leaks(text))  # a count: the failure message names no value
            assert left == 0, (ev["_privacy"]["contract"], "raw personal data left in free text")
    assert texts > 1000 and masks == {"EMAIL", "SSN", "PHONE", "CARD", "IBAN"}


def test_malformed_records_are_in_quarantine_raw_and_nowhere_else(run):
    _, data, quarantine, config = run
    expected = sorted(d for pk, d in _expected_records() if pk.startswith("malformed-"))
    errors = [json.loads(line) for body, _ in quarantine.values() for line in gzip.decompress(body).splitlines()]
    assert sorted(base64.b64decode(e["rawData"]) for e in errors) == expected
    assert {e["errorCode"] for e in errors} == {"Lambda.ProcessingFailedStatus"}
    assert all(e["lambdaArn"].endswith(f":function:{config.scrubber_function_name}") for e in errors)
    _, text = _delivered(data)
    assert "no_such_type" not in text


def test_shard_throttling_is_retried_and_nothing_is_lost(local_cloud, monkeypatch):
    import functools
    import itertools

    from twin import kinesis_limits

    # the shard's clock advances 0.1 s per PutRecords call, however slow the machine: 100 records
    # of throughput per call, so 500-record calls are throttled whatever the load
    ticks = itertools.count()
    monkeypatch.setattr(kinesis_limits, "KinesisLimits",
                        functools.partial(kinesis_limits.KinesisLimits, clock=lambda: next(ticks) * 0.1))
    cfg = fresh_config(stream={"mode": "PROVISIONED", "shard_count": 1})
    s = run_pipeline(cloud=local_cloud, config=cfg, events=2500, seed=4, malformed_ratio=0.0, consent_noise=0.0)
    assert s.throttled_entries > 0 and s.producer_retried >= s.throttled_entries
    assert s.sent == s.delivered == 2500 and s.counts_add_up
