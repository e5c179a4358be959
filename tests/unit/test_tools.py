"""The contract commands: validate, and batch scrubbing of a JSON-lines file."""

import json
import shutil
from pathlib import Path

import orjson
import pytest

from producer.events import EventFactory, encode
from tools.contracts import main

ROOT = Path(__file__).resolve().parents[2]
KEYRING = '{"current": "v1", "v1": "local-key-0123456789abcdef0123456789abcdef"}'


def test_validate_lists_the_contracts(capsys):
    assert main(["validate"]) == 0
    out = capsys.readouterr().out
    assert "order_placed/1" in out and "order_placed/2" in out and "6 contracts valid" in out


def test_validate_names_the_broken_file(tmp_path, capsys):
    shutil.copytree(ROOT / "contracts", tmp_path / "contracts")
    bad = tmp_path / "contracts" / "tax_form_submitted" / "1.yaml"
    bad.write_text(bad.read_text().replace("generalise: prefix, prefix: 3", "generalise: nowhere"))
    assert main(["validate", "--dir", str(tmp_path / "contracts")]) == 1
    assert "contracts/tax_form_submitted/1.yaml: fields.address.postcode.pii.generalise: must be one of" in capsys.readouterr().err


def test_validate_refuses_generator_hints_the_contract_itself_refuses(tmp_path, capsys):
    shutil.copytree(ROOT / "contracts", tmp_path / "contracts")
    bad = tmp_path / "contracts" / "order_placed" / "2.yaml"
    bad.write_text(bad.read_text().replace('generate: {template: "SKU-%####"}', 'generate: {template: "SKU-##"}'))
    assert main(["validate", "--dir", str(tmp_path / "contracts")]) == 1
    assert ("invalid: contracts/order_placed/2.yaml: the producer's events for it do not conform to it "
            "(validation_failed): check fields.order.items[*].sku.generate") in capsys.readouterr().err


def test_scrub_writes_output_next_to_a_quarantine_file(tmp_path, capsys):
    f = EventFactory(seed=8, consent_ratio=0.0)
    events = [f.next_event() for _ in range(50)]
    src = tmp_path / "events.jsonl"
    src.write_bytes(b"".join(encode(e) + b"\n" for e in events) + b'{"event_type": "nope"}\n\nnot json\n')
    keys = tmp_path / "keys.json"
    keys.write_text(KEYRING)
    assert main(["scrub", str(src), "--keyring", str(keys), "--quiet", "--redact-encrypted"]) == 0
    out = [orjson.loads(line) for line in (tmp_path / "events.scrubbed.jsonl").read_bytes().splitlines()]
    q = [json.loads(line) for line in (tmp_path / "events.quarantine.jsonl").read_text().splitlines()]
    assert len(out) == 50 and [x["event_id"] for x in out] == [e["event_id"] for e in events]
    assert all(o["name"] == "REDACTED_CONTENT" and o["subject_id"].startswith("v1:") for o in out)
    text = (tmp_path / "events.scrubbed.jsonl").read_text()
    assert not any(e["ssn"] in text or e["email"] in text for e in events)
    assert [(x["line"], x["reason"]) for x in q] == [(51, "unknown_contract"), (53, "invalid_json")]
    assert "50 scrubbed" in capsys.readouterr().out


def test_batch_mode_and_the_stream_give_the_same_output(tmp_path):
    """A backfill must land what the stream would have: same engine, same pseudonyms."""
    import base64

    from privacy.engine import ContractSet
    from privacy.keys import Keyring
    from privacy.scrub import Scrubber
    from scrubber.batch import process_records
    from stacks.config import load_contracts
    from tests.conftest import CONFIG, firehose_event

    f = EventFactory(seed=9, consent_ratio=0.5, subjects=40)
    raws = [encode(f.next_event()) for _ in range(300)]
    src = tmp_path / "events.jsonl"
    src.write_bytes(b"".join(r + b"\n" for r in raws))
    keys = tmp_path / "keys.json"
    keys.write_text(KEYRING)
    assert main(["scrub", str(src), "--keyring", str(keys), "--quiet", "--redact-encrypted"]) == 0
    batch = [orjson.loads(line) for line in (tmp_path / "events.scrubbed.jsonl").read_bytes().splitlines()]
    c = CONFIG.contracts
    cs = ContractSet(load_contracts(c), type_field=c.type_field, version_field=c.version_field,
                     default_contract=c.default_contract, default_versions=dict(c.default_versions),
                     token=c.redaction_token, keyring=Keyring.from_secret(KEYRING))
    res = process_records(firehose_event(raws)["records"], Scrubber(cs), "2026-01-01T00:00:00.000Z")
    stream = [orjson.loads(base64.b64decode(r["data"])) for r in res.records]
    for o in batch + stream:
        o.pop("redacted_at", None)
    # (no per-subject keys here: what would be sealed is redacted, by the reference engine)
    assert batch == stream and res.ok == len(raws)
    assert all(o["name"] == c.redaction_token for o in stream if "name" in o)


def test_scrub_refuses_to_pseudonymise_without_a_keyring(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("PSEUDONYM_KEYRING", raising=False)
    src = tmp_path / "e.jsonl"
    src.write_text("{}\n")
    assert main(["scrub", str(src), "--quiet"]) == 2
    assert "--keyring" in capsys.readouterr().err


def test_scrub_with_a_forced_contract(tmp_path, monkeypatch):
    monkeypatch.setenv("PSEUDONYM_KEYRING", KEYRING)
    src = tmp_path / "legacy.jsonl"
    src.write_text('{"name": "Gnoll", "dob": "2011-04-22", "gender": "M", "ssn_no": "807831104", "data_share_consent": false, '
                   '"evnt_time": "x"}\n')
    assert main(["scrub", str(src), "--contract", "legacy_consent/1", "--quiet", "--redact-encrypted"]) == 0
    out = json.loads((tmp_path / "legacy.scrubbed.jsonl").read_text())
    assert out["ssn_no"] == "REDACTED_CONTENT" and out["_privacy"]["contract"] == "legacy_consent/1"
    assert main(["scrub", str(src), "--contract", "nope/1", "--quiet"]) == 2


def test_every_producer_event_conforms_to_its_contract(contracts):
    """The producer's events and the contracts agree: none is rejected, for any event type."""
    f = EventFactory(seed=12, consent_ratio=0.5)
    seen = set()
    for _ in range(2000):
        ev = f.next_event()
        raw = encode(ev)
        out = contracts.apply(orjson.loads(raw), raw, "now")
        seen.add(ev["event_type"])
        assert not any(k.endswith("*") for k in out.applied)  # nothing undeclared dropped, at any depth
    assert len(seen) == 4


def test_scrub_keeps_going_past_a_big_integer(tmp_path, monkeypatch):
    monkeypatch.setenv("PSEUDONYM_KEYRING", KEYRING)
    f = EventFactory(seed=9, consent_ratio=1.0)
    ev = next(e for e in (f.next_event() for _ in range(200)) if e["event_type"] == "tax_form_submitted")
    ev["form"]["gross_income"] = 7
    big = encode(ev).replace(b'"gross_income":7', b'"gross_income":123456789012345678901234567890')
    src = tmp_path / "e.jsonl"
    src.write_bytes(big + b"\n" + encode(f.next_event()) + b"\n")
    assert main(["scrub", str(src), "--quiet", "--redact-encrypted"]) == 0
    lines = (tmp_path / "e.scrubbed.jsonl").read_bytes().splitlines()
    assert len(lines) == 2 and b'"gross_income":123456789012345678901234567890' in lines[0]


@pytest.mark.parametrize("old, new, message", [
    (None, "  ssn: {type: string, generate: {subject: ssn}}\n", "fields.ssn: the key 'ssn' appears twice, at lines"),
    ('pattern: "^SKU-\\\\d{5}$"', "pattern: \"^([A-Za-z]+[ .']*)+\\\\1$\"", "pattern: RE2 cannot compile it"),
])
def test_validate_refuses_repeated_keys_and_patterns_re2_refuses(tmp_path, capsys, old, new, message):
    shutil.copytree(ROOT / "contracts", tmp_path / "contracts")
    bad = tmp_path / "contracts" / "order_placed" / "1.yaml"
    text = bad.read_text()
    assert old is None or old in text
    bad.write_text(text + new if old is None else text.replace(old, new))
    assert main(["validate", "--dir", str(tmp_path / "contracts")]) == 1
    err = capsys.readouterr().err
    assert "contracts/order_placed/1.yaml: " in err and message in err
