"""The Firehose contract: every recordId exactly once, never Ok for what we could not scrub."""

import base64
import json

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scrubber.batch import FAILED, OK, RESPONSE_BUDGET, process_records
from scrubber.codec import INVALID_JSON
from tests.conftest import firehose_event, string_values

NOW = "2026-01-15T09:30:00.000Z"
SENSITIVE = ("name", "dob", "ssn", "email", "phone", "address", "note")


def decode(rec):
    return orjson.loads(base64.b64decode(rec["data"]))


def test_mixed_batch(policy):
    payloads = [
        orjson.dumps({"event_type": "order_placed", "ssn": "111-22-3333", "data_share_consent": True}),
        orjson.dumps({"event_type": "order_placed", "ssn": "111-22-4444", "data_share_consent": False}),
        b"not json",
        b'{"event_type": "who_knows"}',
    ]
    ev = firehose_event(payloads)
    res = process_records(ev["records"], policy, NOW)
    assert [r["recordId"] for r in res.records] == [r["recordId"] for r in ev["records"]]
    assert [r["result"] for r in res.records] == [OK, OK, FAILED, FAILED]
    assert decode(res.records[0])["ssn"] == "111-22-3333"
    assert decode(res.records[1])["ssn"] == "REDACTED_CONTENT"
    assert res.ok == 2 and res.redacted == 1 and res.failed == {"invalid_json": 1, "unknown_event_type": 1}
    # failed records carry no data: Firehose quarantines the original, we echo nothing back
    assert res.records[2]["data"] == "" and res.records[3]["data"] == ""


def test_output_records_are_newline_terminated_single_lines(policy):
    pretty = b'{\n  "name": "Gnoll",\n  "dob": "2011-04-22",\n  "data_share_consent": true\n}'
    res = process_records(firehose_event([pretty])["records"], policy, NOW)
    line = base64.b64decode(res.records[0]["data"])
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert orjson.loads(line)["dob"] == "2011-04-22"


def test_invalid_base64_fails_the_record_only(policy):
    ev = firehose_event([b'{"name": "a"}', b'{"name": "b"}'])
    ev["records"][0]["data"] = "%%% not base64 %%%"
    res = process_records(ev["records"], policy, NOW)
    assert [r["result"] for r in res.records] == [FAILED, OK]
    assert res.failed == {"invalid_base64": 1}


def test_unexpected_error_fails_closed(policy, monkeypatch):
    import scrubber.batch as batch

    def boom(*_a, **_k):
        raise KeyError("jane@example.com")

    monkeypatch.setattr(batch, "encode_line", boom)
    res = process_records(firehose_event([b'{"name": "a"}'])["records"], policy, NOW)
    assert res.records[0]["result"] == FAILED and res.failed == {"internal_error": 1}


def lambda_response_size(records) -> int:
    """What the Lambda runtime sends back: json.dumps with its default separators."""
    return len(json.dumps({"records": records}).encode("utf-8"))


def test_response_budget_fails_the_overflow_instead_of_the_invocation(policy):
    big = orjson.dumps({"event_type": "order_placed", "note": "x" * 50_000, "data_share_consent": True})
    small = orjson.dumps({"event_type": "order_placed", "note": "x", "data_share_consent": True})
    ev = firehose_event([big] * 10 + [small])
    res = process_records(ev["records"], policy, NOW, budget=300_000)
    results = [r["result"] for r in res.records]
    assert results.count(OK) >= 2 and results.count(FAILED) >= 1
    assert results[-1] == OK  # a small record after the budget tripped still fits
    assert res.failed[RESPONSE_BUDGET] == results.count(FAILED)
    assert lambda_response_size(res.records) <= 300_000


def test_many_failed_records_with_a_long_token_still_fit_the_budget():
    """Failed entries cost bytes too: reserve them before filling the budget with data."""
    from scrubber.policy import Policy

    raw = json.loads(__import__("tests.conftest", fromlist=["CONFIG"]).CONFIG.scrub_policy.to_json())
    raw["redaction_token"] = "R" * 256
    p = Policy.from_dict(raw)
    payloads = [b'{"event_type":"order_placed","name":1,"email":1,"ssn":1,"phone":1,"note":1,"address":1,"dob":1}'] * 3000
    payloads += [b"not json"] * 3000
    res = process_records(firehose_event(payloads)["records"], p, NOW, budget=600_000)
    assert lambda_response_size(res.records) <= 600_000
    assert len(res.records) == 6000


# ---- properties ---------------------------------------------------------------------------

pii_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=6, max_size=30)
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), pii_text)
consent_values = st.one_of(st.just(True), st.just(False), st.none(), st.just("true"), st.just(1), st.lists(st.booleans(), max_size=2))


@st.composite
def producer_like_event(draw):
    ev = {"event_type": draw(st.sampled_from(["customer_signed_up", "order_placed", "health_form_submitted", "tax_form_submitted"]))}
    ev["event_id"] = draw(st.uuids()).hex
    for f in SENSITIVE:
        if draw(st.booleans()) or f == "ssn":
            ev[f] = draw(st.one_of(pii_text.map(lambda s: "PII:" + s), st.dictionaries(st.sampled_from(["street", "city"]), pii_text.map(lambda s: "PII:" + s), max_size=2)))
    if draw(st.booleans()):
        ev["data_share_consent"] = draw(consent_values)
    ev["extra"] = draw(json_scalar)
    return ev


def _with_extra_consent(ev_and_value):
    ev, value = ev_and_value
    return orjson.dumps(ev)[:-1] + (b', "data_share_consent": ' + orjson.dumps(value) + b"}" if ev else b'"data_share_consent": true}')


raw_record = st.one_of(
    producer_like_event().map(orjson.dumps),
    st.tuples(producer_like_event(), st.booleans()).map(_with_extra_consent),  # maybe a duplicate key
    st.binary(max_size=64),
    st.sampled_from([b"[1]", b"NaN", b'{"a": NaN}', b"\xff", b'{"event_type": 5}']),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(raw_record, min_size=1, max_size=25))
def test_every_record_id_comes_back_exactly_once_and_nothing_unconsented_leaks(policy, payloads):
    ev = firehose_event(payloads)
    res = process_records(ev["records"], policy, NOW)
    assert [r["recordId"] for r in res.records] == [r["recordId"] for r in ev["records"]]
    assert res.ok + res.failed_total + res.dropped == len(payloads)
    for src, out in zip(payloads, res.records):
        assert out["result"] in (OK, FAILED)
        if out["result"] != OK:
            continue
        original = orjson.loads(src)
        got = orjson.loads(base64.b64decode(out["data"]))
        pairs = json.loads(src, object_pairs_hook=lambda p: p)  # the top-level key/value pairs, all of them
        consents = [v for k, v in pairs if k == "data_share_consent"]
        consented = len(consents) == 1 and consents[0] is True  # one consent key, the JSON value true
        if consented:
            assert got == original  # consenting subjects come through intact
        else:
            out_text = base64.b64decode(out["data"]).decode()
            for f in SENSITIVE:
                if f in original:
                    assert got[f] == "REDACTED_CONTENT"
                    for s in string_values(original[f]):
                        assert s not in out_text  # the value appears nowhere in the output
            assert got["data_redacted"] is True and got["redacted_at"] == NOW


def test_consenting_records_pass_through_byte_for_byte(policy):
    raw = b'{"event_type": "order_placed", "amount": 123456789012345678901234567890, "name": "Zo\\u00eb",  "data_share_consent": true}'
    res = process_records(firehose_event([b"  " + raw + b" \n"])["records"], policy, NOW)
    assert base64.b64decode(res.records[0]["data"]) == raw + b"\n"  # big ints and spacing kept


def test_duplicate_consent_keys_are_redacted_in_the_batch(policy):
    raw = b'{"event_type": "order_placed", "ssn": "111-22-3333", "data_share_consent": false, "data_share_consent": true}'
    res = process_records(firehose_event([raw])["records"], policy, NOW)
    got = decode(res.records[0])
    assert got["ssn"] == "REDACTED_CONTENT" and res.redacted == 1
    assert b"111-22-3333" not in base64.b64decode(res.records[0]["data"])


def test_non_ascii_base64_is_invalid_base64(policy):
    ev = firehose_event([b'{"a": 1}'])
    ev["records"][0]["data"] = "eyJhIjogMX0=é"
    res = process_records(ev["records"], policy, NOW)
    assert res.failed == {"invalid_base64": 1}


def test_big_integers_stay_exact_when_a_record_is_redacted(policy):
    raw = b'{"event_type": "order_placed", "order_ref": 123456789012345678901234567890, "ssn": "1", "data_share_consent": false}'
    res = process_records(firehose_event([raw])["records"], policy, NOW)
    line = base64.b64decode(res.records[0]["data"])
    assert b"123456789012345678901234567890" in line and json.loads(line)["ssn"] == "REDACTED_CONTENT"


def test_a_record_without_data_fails_alone_and_nothing_raises(policy):
    ev = firehose_event([b'{"name": "a"}', b'{"name": "b"}'])
    del ev["records"][0]["data"]
    res = process_records(ev["records"], policy, NOW)
    assert [r["result"] for r in res.records] == [FAILED, OK] and res.failed == {"invalid_base64": 1}
