"""The subject-rights function: its payloads checked (errors name the field, never a value), forget
and export answered in small JSON, large exports written to the receipts bucket, and nothing of a
subject or a record in its logs."""

from __future__ import annotations

import json
from datetime import date

import pytest
from aws_lambda_powertools import Logger
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy.subjects import Root
from rights.handler import SERVICE, make_handler
from rights.request import BadRequest, parse
from rights.settings import ConfigurationError, Settings
from tests.conftest import LambdaContext
from tests.unit.rights.test_core import World, events, without_meta

SECRET = "subject-4711@example.com"  # a subject id that must never be repeated


def _handler(world: World, **kw):
    logger = Logger(service=SERVICE)
    logger.setLevel("INFO")
    s = Settings({}, store=world.store, root=world.rights.root_reader, lake=world.lake, receipts=world.receipts,
                 contracts=world.contracts)
    return make_handler(s, logger, **kw)


def _logged(capfd, caplog) -> str:
    """Everything the handler logged or printed (Powertools writes to stdout; pytest also keeps the records)."""
    out = capfd.readouterr()
    return out.out + out.err + "\n".join(json.dumps(r.__dict__, default=str) for r in caplog.records)


def _roundtrip(handler, payload):
    """As Lambda: the payload and the answer across JSON."""
    return json.loads(json.dumps(handler(json.loads(json.dumps(payload)), LambdaContext())))


@pytest.mark.parametrize("payload, field", [
    ({"subject_id": SECRET}, "action"),
    ({"action": SECRET, "subject_id": SECRET}, "action"),
    ({"action": ["forget"], "subject_id": SECRET}, "action"),
    ({"action": "forget"}, "subject_id"),
    ({"action": "forget", "subject_id": 918273645546372819}, "subject_id"),
    ({"action": "forget", "subject_id": ""}, "subject_id"),
    ({"action": "forget", "subject_id": [SECRET]}, "subject_id"),
    ({"action": "forget", "subject_id": "x" * 5000}, "subject_id"),
    ({"action": "export", "subject_id": SECRET, "from": "2026-1-5"}, "from"),
    ({"action": "export", "subject_id": SECRET, "from": "2026-02-30", "to": "2026-03-01"}, "from"),
    ({"action": "export", "subject_id": SECRET, "from": 20260101, "to": "2026-03-01"}, "from"),
    ({"action": "export", "subject_id": SECRET, "from": "2026-03-02", "to": "2026-03-01"}, "from"),
    ({"action": "export", "subject_id": SECRET, "to": "2026-03-01"}, "from"),
    ({"action": "export", "subject_id": SECRET, "from": "2000-01-01", "to": "2026-03-01"}, "to"),
    ({"action": "export", "subject_id": SECRET, "from": "2026-01-01", "to": SECRET}, "to"),
])
def test_bad_payloads_are_refused_naming_the_field_never_the_value(payload, field, capfd, caplog):
    w = World([])
    answer = _roundtrip(_handler(w), payload)
    assert answer["field"] == field and answer["error"].startswith(f"{field}: ")
    text = json.dumps(answer) + _logged(capfd, caplog)
    assert "request refused" in text
    assert SECRET not in text and "918273645546372819" not in text and "xxxxx" not in text
    assert w.receipts.objects == {} and w.store.items == {}


@pytest.mark.parametrize("payload, named", [
    ([SECRET], None),
    ({"action": "forget", "subject_id": SECRET, "subject": "x"}, "subject"),
    ({"action": "forget", "subject_id": SECRET, "from": "2026-01-01"}, "from"),
    ({"action": "forget", "subject_id": SECRET, SECRET: 1}, "1 key(s) that are not plain names"),
])
def test_payloads_of_another_shape_are_refused_naming_only_plain_keys(payload, named, capfd, caplog):
    answer = _roundtrip(_handler(World([])), payload)
    assert answer["field"] is None and "error" in answer
    assert named is None or named in answer["error"]
    assert SECRET not in json.dumps(answer) + _logged(capfd, caplog)


@settings(max_examples=300)
@given(st.dictionaries(
    st.sampled_from(["action", "subject_id", "from", "to", "x"]),
    st.none() | st.integers() | st.text("ÆØÅxy-0", min_size=1, max_size=12) | st.lists(st.text("ÆØ", max_size=3), max_size=2)
    | st.sampled_from(["forget", "export", "2026-01-05", "2026-02-30", "2025-12-31"])))
def test_any_payload_is_answered_or_refused_naming_a_field_and_never_a_value(payload):
    error = request = None
    try:
        request = parse(payload, today=lambda: date(2026, 2, 1))
    except BadRequest as exc:
        error = exc
    if error is not None:
        assert error.field in (None, "action", "subject_id", "from", "to")
        assert not any(c in str(error) for c in "ÆØÅ")  # no value (they alone hold these letters) is repeated
    else:
        assert request.action in ("forget", "export") and request.subject_id == payload["subject_id"]
        assert set(payload) <= {"action", "subject_id", "from", "to"}
        assert request.start is None or request.start <= request.end


def test_forget_answers_with_the_receipt_and_logs_no_identifier(capfd, caplog):
    w = World(events(20))
    subject = w.events[0]["subject_id"]
    lookup = Root(w.store.roots[1]).lookup_id(subject)
    link = w.store.items[lookup].link
    answer = _roundtrip(_handler(w), {"action": "forget", "subject_id": subject})
    assert answer["outcome"] == "forgotten" and answer["destroyed"] == ["data key", "key link", "lookup mapping"]
    assert answer["receipt"]["key"] in w.receipts.objects and answer["receipt"]["id"] in answer["receipt"]["key"]
    assert "up to 300 seconds" in answer["caches"]
    logs = _logged(capfd, caplog)
    assert "forget done" in logs and answer["receipt"]["id"] in logs
    for secret in (subject, lookup[2:], link[2:]):
        assert secret not in json.dumps(answer) and secret not in logs
    again = _roundtrip(_handler(w), {"action": "forget", "subject_id": subject})
    assert again["outcome"] == "already_forgotten" and answer["receipt"]["id"] in again["summary"]


def test_forget_without_any_key_is_refused_clearly():
    answer = _roundtrip(_handler(World([])), {"action": "forget", "subject_id": SECRET})
    assert answer["reason"] == "no_keys" and "nothing to forget" in answer["error"] and SECRET not in json.dumps(answer)


def test_export_answers_the_lines_or_writes_them_to_the_receipts_bucket_when_large(capfd, caplog):
    w = World(events(40))
    subject = w.events[0]["subject_id"]
    answer = _roundtrip(_handler(w), {"action": "export", "subject_id": subject})
    lines = [json.loads(x) for x in answer["lines"].splitlines()]
    assert answer["status"] == "found" and answer["records"] == len(lines) == len(w.of(subject))
    assert [without_meta(r) for r in lines] == w.of(subject) and answer["scan"]["complete"]
    logs = _logged(capfd, caplog)
    assert "export done" in logs
    for e in w.of(subject):
        for v in (subject, e.get("email"), e.get("name"), e.get("ssn")):
            assert v is None or v not in logs

    big = _roundtrip(_handler(w, inline_limit=1000), {"action": "export", "subject_id": subject, "from": "2026-01-15",
                                                      "to": "2026-01-16"})
    key = big["export"]["key"]
    assert big["lines"] is None and key.startswith("exports/") and key.endswith(".jsonl")
    assert w.receipts.objects[key].decode() == answer["lines"] and big["export"]["bytes"] == len(w.receipts.objects[key])
    assert w.receipts.content_types[key] == "application/x-ndjson"


def test_export_of_a_forgotten_subject_names_the_receipt():
    w = World(events(10))
    subject = w.events[0]["subject_id"]
    done = _roundtrip(_handler(w), {"action": "forget", "subject_id": subject})
    answer = _roundtrip(_handler(w), {"action": "export", "subject_id": subject})
    assert answer["status"] == "forgotten" and answer["records"] == 0 and answer["lines"] == ""
    assert answer["receipt"]["id"] == done["receipt"]["id"] and answer["receipt"]["key"] == done["receipt"]["key"]
    unknown = _roundtrip(_handler(w), {"action": "export", "subject_id": SECRET})
    assert unknown["status"] == "unknown" and unknown["records"] == 0 and SECRET not in json.dumps(unknown)


def test_an_export_that_runs_out_of_time_says_it_is_incomplete():
    class Late(LambdaContext):
        @staticmethod
        def get_remaining_time_in_millis() -> int:
            return 30_000

    w = World(events(20))
    answer = _handler(w)({"action": "export", "subject_id": w.events[0]["subject_id"]}, Late())
    assert answer["scan"]["complete"] is False and answer["scan"]["objects"] == 0 and "narrow from/to" in answer["incomplete"]


def test_settings_refuse_missing_or_malformed_configuration_naming_the_variable():
    with pytest.raises(ConfigurationError, match="missing configuration: SUBJECT_KEYS_TABLE, SUBJECT_KEYS_ROOT_KEY, "
                                                 "LAKE_BUCKET, RECEIPTS_BUCKET"):
        Settings({})
    w = World([])
    with pytest.raises(ConfigurationError, match="SUBJECT_KEYS_PITR_DAYS must be a whole number from 0 to 35"):
        Settings({"SUBJECT_KEYS_PITR_DAYS": "36"}, store=w.store, root=w.rights.root_reader, lake=w.lake,
                 receipts=w.receipts, contracts=w.contracts)
    s = Settings({"SUBJECT_KEYS_PITR_DAYS": "7", "SUBJECT_KEYS_CACHE_TTL_S": "60", "LAKE_PREFIX": "lake/"},
                 store=w.store, root=w.rights.root_reader, lake=w.lake, receipts=w.receipts, contracts=w.contracts)
    assert (s.retention.pitr_days, s.retention.cache_ttl_s, s.lake_prefix) == (7, 60, "lake/")
