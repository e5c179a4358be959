"""The Firehose contract on top of the data contracts: every recordId exactly once, never Ok for
what we could not scrub, and nothing unconsented in the output."""

import base64
import json
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from producer.events import EventFactory
from scrubber.batch import FAILED, OK, RESPONSE_BUDGET, process_records
from tests.conftest import V1_TYPES, firehose_event, opened, string_values

NOW = "2026-01-15T09:30:00.000Z"
SENSITIVE = ("name", "dob", "ssn", "email", "phone", "note")
ENCRYPTED = ("name", "dob", "ssn", "email", "phone")  # and address.street, address.city: sealed with consent
# flag-model events (order_placed/2's purposes model is covered by the engine and twin tests)
_FACTORY = EventFactory(seed=99, consent_ratio=0.5, subjects=50, start_time=datetime(2026, 1, 1, tzinfo=UTC), event_types=V1_TYPES)
POOL = [_FACTORY.next_event() for _ in range(200)]


def decode(rec):
    return orjson.loads(base64.b64decode(rec["data"]))


def event(i=0, **changes):
    ev = json.loads(json.dumps(POOL[i]))
    ev.update(changes)
    return ev


def test_mixed_batch(scrubber):
    payloads = [
        orjson.dumps(event(0, data_share_consent=True)),
        orjson.dumps(event(1, data_share_consent=False)),
        b"not json",
        orjson.dumps(event(2, event_type="who_knows")),
        orjson.dumps(event(3, schema_version="9")),
        orjson.dumps(event(4, gender=5)),
        orjson.dumps(event(5, event_id="not-a-uuid")),
    ]
    res = process_records(firehose_event(payloads)["records"], scrubber, NOW)
    assert [r["result"] for r in res.records] == [OK, OK] + [FAILED] * 5
    assert res.failed == {"invalid_json": 1, "unknown_contract": 2, "validation_failed": 1, "type_mismatch": 1}
    kept, masked = decode(res.records[0]), decode(res.records[1])
    assert kept["ssn"].startswith("~g") and POOL[0]["ssn"] not in res.records[0]["data"]  # sealed, with consent
    kept = opened(kept)
    assert kept["ssn"] == POOL[0]["ssn"] and kept["email"] == POOL[0]["email"]
    assert masked["ssn"] == "***-**-" + POOL[1]["ssn"][-4:] and masked["name"] == "REDACTED_CONTENT"
    for out in (kept, masked):
        assert out["_privacy"]["contract"] == f"{out['event_type']}/1"
        assert out["subject_id"].startswith("k:")  # always pseudonymised (the key link), consent or not
    assert res.ok == 2 and res.redacted >= 1
    assert res.records[2]["data"] == ""  # failed records carry no data: Firehose quarantines the original


def test_reference_003_event_through_the_legacy_contract(scrubber):
    ref = [
        b'{"name": "Gnoll", "dob": "2011-04-22", "gender": "M", "ssn_no": "807831104", "data_share_consent": false, '
        b'"evnt_time": "2021-01-31T20:31:26.114917"}',
        b'{"name": "Kalashtar", "dob": "1942-09-05", "gender": "M", "ssn_no": "231793521", "data_share_consent": true, '
        b'"evnt_time": "2021-01-31T22:09:45.591946"}',
        b'{"name": "Gnoll", "dob": "2011-04-22", "ssn_no": "807831104", "data_share_consent": false, "email": "typed@event.lost.its.type"}',
    ]
    recs = process_records(firehose_event(ref)["records"], scrubber, NOW).records
    a, b = decode(recs[0]), decode(recs[1])
    # the person's name is personal data too: without consent it goes with dob and ssn_no
    assert a == {"name": "REDACTED_CONTENT", "dob": "REDACTED_CONTENT", "gender": "M", "ssn_no": "REDACTED_CONTENT",
                 "data_share_consent": False, "evnt_time": "2021-01-31T20:31:26.114917",
                 "_privacy": {"contract": "legacy_consent/1",
                              "applied": {"name": "redact", "dob": "redact", "ssn_no": "redact"}},
                 "data_redacted": True, "redacted_at": NOW}
    assert {k: v for k, v in b.items() if k != "_privacy"} == orjson.loads(ref[1])
    # an untyped event with fields beyond the legacy shape is quarantined, not scrubbed weakly
    assert recs[2]["result"] == FAILED


@pytest.mark.parametrize("consent", ["true", 1, None, [True], {"value": True}, "yes", 0, False])
def test_anything_but_json_true_is_no_consent(scrubber, consent):
    res = process_records(firehose_event([orjson.dumps(event(0, data_share_consent=consent))])["records"], scrubber, NOW)
    out = decode(res.records[0])
    assert out["name"] == "REDACTED_CONTENT" and out["data_redacted"] is True


@pytest.mark.parametrize("spelling", [b'"data_share_consent"', b'"data_share_consen\\u0074"'])
def test_duplicate_consent_keys_are_no_consent_and_the_output_says_so(scrubber, spelling):
    ev = event(0, data_share_consent=False)
    raw = orjson.dumps(ev)[:-1] + b"," + spelling + b":true}"
    out = decode(process_records(firehose_event([raw])["records"], scrubber, NOW).records[0])
    assert out["name"] == "REDACTED_CONTENT" and POOL[0]["ssn"] not in json.dumps(out)
    # what was applied (no consent), never the value a reader would take for consent
    assert out["data_share_consent"] is False
    assert out["_privacy"]["applied"]["data_share_consent"] == "void" and out["data_redacted"] is True


def test_duplicate_purpose_lists_are_no_consent_and_the_output_says_so(scrubber):
    factory = EventFactory(seed=5, consent_ratio=1.0, subjects=3, event_types=("order_placed/2",))
    ev = factory.next_event()
    assert ev["consent"]["purposes"], "a consenting subject lists purposes"
    raw = orjson.dumps(ev)[:-1] + b',"consent":{"purposes":["analytics","marketing","support"]}}'
    out = decode(process_records(firehose_event([raw])["records"], scrubber, NOW).records[0])
    assert out["consent"] == {"purposes": []}
    assert ev["email"] not in json.dumps(out) and out["_privacy"]["applied"]["consent.purposes"] == "void"


def test_output_records_are_newline_terminated_single_lines(scrubber):
    pretty = json.dumps(event(0, data_share_consent=True), indent=2).encode()
    res = process_records(firehose_event([pretty])["records"], scrubber, NOW)
    line = base64.b64decode(res.records[0]["data"])
    assert line.endswith(b"\n") and line.count(b"\n") == 1


def test_invalid_base64_and_missing_data_fail_the_record_only(scrubber):
    ev = firehose_event([orjson.dumps(event(0))] * 3)
    ev["records"][0]["data"] = "%%% not base64 %%%"
    del ev["records"][1]["data"]
    ev["records"][2]["data"] = ev["records"][2]["data"][:-4] + "é==="
    res = process_records(ev["records"], scrubber, NOW)
    assert [r["result"] for r in res.records] == [FAILED, FAILED, FAILED] and res.failed == {"invalid_base64": 3}


def test_unexpected_error_fails_closed(scrubber, monkeypatch):
    import privacy.scrub as scrub_module

    def boom(*_a, **_k):
        raise KeyError("jane@example.com")

    monkeypatch.setattr(scrub_module, "encode_line", boom)  # the reference engine's encoder
    monkeypatch.setattr(scrubber.fast, "prepare", boom)  # and the fast path declines
    res = process_records(firehose_event([orjson.dumps(event(0))])["records"], scrubber, NOW)
    assert res.records[0]["result"] == FAILED and res.failed == {"internal_error": 1}


def test_an_error_on_the_fast_path_hands_the_record_to_the_reference_engine(scrubber, monkeypatch):
    records = firehose_event([orjson.dumps(event(i)) for i in range(4)])["records"]
    fast = process_records(records, scrubber, NOW)
    assert fast.reference_path == 0

    def boom(*_a, **_k):
        raise RuntimeError("fast path bug")

    monkeypatch.setattr(scrubber.fast, "prepare", boom)
    slow = process_records(records, scrubber, NOW)
    assert slow.reference_path == 4 and slow.ok == 4
    as_objects = [[opened(orjson.loads(base64.b64decode(r["data"]))) for r in res.records] for res in (fast, slow)]
    assert as_objects[0] == as_objects[1]


def test_big_integers_stay_exact(scrubber):
    i = next(i for i, e in enumerate(POOL) if e["event_type"] == "tax_form_submitted")
    ev = event(i, data_share_consent=True)
    ev["form"]["gross_income"] = 7
    raw = orjson.dumps(ev).replace(b'"gross_income":7', b'"gross_income":123456789012345678901234567890')
    res = process_records(firehose_event([raw])["records"], scrubber, NOW)
    assert res.records[0]["result"] == OK
    assert b'"gross_income":123456789012345678901234567890' in base64.b64decode(res.records[0]["data"])


def lambda_response_size(records) -> int:
    """What the Lambda runtime sends back: json.dumps with its default separators."""
    return len(json.dumps({"records": records}).encode("utf-8"))


def test_response_budget_fails_the_overflow_instead_of_the_invocation(scrubber):
    big = orjson.dumps(event(0, data_share_consent=True, note="x" * 3900))
    small = orjson.dumps(event(1))
    ev = firehose_event([big] * 80 + [small])
    res = process_records(ev["records"], scrubber, NOW, budget=300_000)
    results = [r["result"] for r in res.records]
    assert results.count(OK) >= 2 and results.count(FAILED) >= 1
    assert results[-1] == OK  # a small record after the budget tripped still fits
    assert res.failed[RESPONSE_BUDGET] == results.count(FAILED)
    assert lambda_response_size(res.records) <= 300_000


def test_many_failed_records_still_fit_the_budget(scrubber):
    """Failed entries cost bytes too: they are reserved before data fills the budget."""
    payloads = [orjson.dumps(event(i % 200)) for i in range(2000)] + [b"not json"] * 2000
    res = process_records(firehose_event(payloads)["records"], scrubber, NOW, budget=1_200_000)
    assert lambda_response_size(res.records) <= 1_200_000
    assert len(res.records) == 4000


# ---- properties -----------------------------------------------------------------------------

consent_values = st.one_of(st.just(True), st.just(False), st.none(), st.just("true"), st.just(1), st.lists(st.booleans(), max_size=2))


@st.composite
def record(draw):
    kind = draw(st.sampled_from(["event", "event", "event", "duplicate_consent", "garbage"]))
    if kind == "garbage":
        return draw(st.one_of(st.binary(max_size=64), st.sampled_from([b"[1]", b"NaN", b'{"a": NaN}', b"\xff", b'{"event_type": 5}'])))
    ev = event(draw(st.integers(0, len(POOL) - 1)))
    if draw(st.booleans()):
        ev["data_share_consent"] = draw(consent_values)
    if draw(st.booleans()):
        del ev["data_share_consent"]
    raw = orjson.dumps(ev)
    if kind == "duplicate_consent":
        raw = raw[:-1] + b',"data_share_consent":' + orjson.dumps(draw(st.booleans())) + b"}"
    return raw


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture], deadline=None)
@given(st.lists(record(), min_size=1, max_size=20))
def test_every_record_id_once_consented_intact_and_nothing_unconsented_leaks(scrubber, payloads):
    ev = firehose_event(payloads)
    res = process_records(ev["records"], scrubber, NOW)
    assert [r["recordId"] for r in res.records] == [r["recordId"] for r in ev["records"]]
    assert res.ok + res.failed_total + res.dropped == len(payloads)
    for src, out in zip(payloads, res.records, strict=True):
        assert out["result"] in (OK, FAILED)
        if out["result"] != OK:
            continue
        original = orjson.loads(src)
        got = decode(out)
        text = base64.b64decode(out["data"]).decode()
        pairs = json.loads(src, object_pairs_hook=lambda p: p)
        consents = [v for k, v in pairs if k == "data_share_consent"]
        if len(consents) == 1 and consents[0] is True:
            for f in ("name", "dob", "ssn", "email", "phone", "address", "gender", "event_id"):
                assert opened(got)[f] == original[f]  # consenting subjects' fields come through intact, sealed
            for f in ENCRYPTED:
                assert original[f] not in text, f  # ... and no plaintext of them is in the output
            for f in ("street", "city"):
                assert original["address"][f] not in text
        else:
            for f in SENSITIVE:
                for s in string_values(original[f]):
                    assert s not in text, f  # the value appears nowhere in the output
            for f in ("street", "city"):
                assert original["address"][f] not in text
            assert got["data_redacted"] is True and got["redacted_at"] == NOW
        assert original["subject_id"] not in text  # pseudonymised always


def test_the_reference_engine_does_not_run_inside_the_fast_paths_exception(scrubber, monkeypatch):
    """msgspec's errors quote the record: a rejection raised by the reference engine must not
    chain one as its context, where a traceback would print it."""
    import sys

    seen = []
    real = scrubber.contracts.apply

    def spy(*a, **k):
        seen.append(sys.exc_info()[1])
        return real(*a, **k)

    monkeypatch.setattr(scrubber.contracts, "apply", spy)
    bad = orjson.dumps({**event(0), "gender": "987-65-4321"})  # not in the enum: both paths refuse it
    res = process_records(firehose_event([bad])["records"], scrubber, NOW)
    assert res.failed == {"validation_failed": 1} and seen == [None]
