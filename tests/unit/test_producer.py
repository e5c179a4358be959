import copy
from datetime import UTC, datetime

import orjson
import pytest
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy.contract import parse_contract
from producer.conformance import Conformance, load_contracts
from producer.events import EventFactory, producible
from producer.handler import PayloadError, parse_payload, produce
from streams.kinesis_sink import MAX_BYTES_PER_CALL, MAX_RECORD_BYTES, KinesisSink, SendResult, plan_batches
from tests.conftest import V1_TYPES


def test_events_are_reproducible_from_a_seed():
    from datetime import datetime

    t = datetime(2026, 1, 1, tzinfo=UTC)
    a = [orjson.dumps(e) for e in EventFactory(seed=11, subjects=50, start_time=t).events(50)]
    b = [orjson.dumps(e) for e in EventFactory(seed=11, subjects=50, start_time=t).events(50)]
    c = [orjson.dumps(e) for e in EventFactory(seed=12, subjects=50, start_time=t).events(50)]
    assert a == b and a != c


def test_events_carry_the_documented_fields_and_stable_consent_per_subject():
    f = EventFactory(seed=5, subjects=10, consent_ratio=0.5, event_types=V1_TYPES)
    events = list(f.events(300))
    for e in events:
        for k in ("subject_id", "name", "dob", "gender", "ssn", "email", "phone", "address", "note",
                  "data_share_consent", "event_time", "event_id", "event_type"):
            assert k in e
    assert {e["event_type"] for e in events} == {"customer_signed_up", "order_placed", "health_form_submitted", "tax_form_submitted"}
    assert {e["schema_version"] for e in events} == {"1"}
    by_subject = {}
    for e in events:
        by_subject.setdefault(e["subject_id"], set()).add(e["data_share_consent"])
    assert all(len(v) == 1 for v in by_subject.values())
    assert {True, False} <= set().union(*by_subject.values())


def test_consent_ratio_is_respected():
    f = EventFactory(seed=1, subjects=2000, consent_ratio=0.2)
    share = sum(s.consent for s in f.subjects) / len(f.subjects)
    assert 0.17 < share < 0.23


@pytest.mark.parametrize(
    "payload, message",
    [
        ({"count": -1}, "count"),
        ({"count": "10"}, "count"),
        ({"consent_ratio": 1.5}, "consent_ratio"),
        ({"count": 1, "duration_seconds": 1}, "not both"),
        ({"nope": 1}, "unknown"),
        ({"event_types": ["x"]}, "event_types"),
        ({"start_time": "yesterday"}, "start_time"),
    ],
)
def test_payload_is_validated(payload, message):
    with pytest.raises(PayloadError, match=message):
        parse_payload(payload)


class StubKinesis:
    """Answers PutRecords like Kinesis, failing chosen entries on chosen attempts."""

    def __init__(self, fail_plan=None, raise_plan=None):
        self.calls = []
        self.fail_plan = fail_plan or {}  # attempt -> set of indices (within that call) to fail
        self.raise_plan = raise_plan or {}
        self.accepted = []

    def put_records(self, StreamName, Records):  # noqa: N803 - boto3's parameter names
        n = len(self.calls)
        self.calls.append(Records)
        assert len(Records) <= 500
        assert sum(len(r["Data"]) + len(r["PartitionKey"]) for r in Records) <= MAX_BYTES_PER_CALL
        if n in self.raise_plan:
            raise self.raise_plan[n]
        out, failed = [], 0
        for i, r in enumerate(Records):
            if i in self.fail_plan.get(n, ()):
                out.append({"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "slow down"})
                failed += 1
            else:
                out.append({"SequenceNumber": str(len(self.accepted)), "ShardId": "shardId-000000000000"})
                self.accepted.append(r["Data"])
        return {"FailedRecordCount": failed, "Records": out}


def _recs(n, size=100):
    return [(f"pk-{i}", b"x" * size) for i in range(n)]


def test_batches_respect_count_and_size_limits():
    res = SendResult()
    batches = list(plan_batches(_recs(1200), res))
    assert [len(b) for b in batches] == [500, 500, 200]
    big = list(plan_batches(_recs(12, size=900_000), res))
    assert all(sum(len(d) + len(k) for k, d in b) <= MAX_BYTES_PER_CALL for b in big)
    assert sum(len(b) for b in big) == 12


def test_oversized_records_are_failed_not_sent():
    stub = KinesisSink(StubKinesis(), "s", sleep=lambda s: None)
    res = stub.send([("pk", b"x" * MAX_RECORD_BYTES), ("pk", b"ok"), ("", b"no key"), ("k" * 257, b"long key")])
    assert res.sent == 1 and res.failed == 3 and res.rejected_too_large == 1


def test_only_failed_entries_are_retried_with_backoff():
    stub = StubKinesis(fail_plan={0: {1, 3}, 1: {0}})
    sleeps = []
    res = KinesisSink(stub, "s", sleep=sleeps.append, jitter=lambda: 1.0).send(_recs(5))
    assert [len(c) for c in stub.calls] == [5, 2, 1]
    assert [r["PartitionKey"] for r in stub.calls[1]] == ["pk-1", "pk-3"]
    assert res.as_dict() == {"sent": 5, "failed": 0, "batches": 3, "retried": 3}
    assert sleeps == [0.1, 0.2]  # exponential


def test_a_record_is_never_counted_sent_unless_kinesis_accepted_it():
    stub = StubKinesis(fail_plan={i: {0} for i in range(10)})
    res = KinesisSink(stub, "s", max_attempts=3, sleep=lambda s: None).send(_recs(3))
    assert res.sent == 2 and res.failed == 1 and len(stub.accepted) == 2


def test_fatal_errors_stop_retrying():
    err = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "PutRecords")
    stub = StubKinesis(raise_plan={0: err})
    res = KinesisSink(stub, "s", sleep=lambda s: None).send(_recs(3))
    assert res.sent == 0 and res.failed == 3 and len(stub.calls) == 1


def test_transient_call_errors_are_retried():
    err = ClientError({"Error": {"Code": "InternalFailure", "Message": "x"}}, "PutRecords")
    stub = StubKinesis(raise_plan={0: err})
    res = KinesisSink(stub, "s", sleep=lambda s: None).send(_recs(3))
    assert res.sent == 3 and res.failed == 0 and res.retried == 3


def test_produce_counts_malformed_probes():
    stub = StubKinesis()
    opts = parse_payload({"count": 400, "seed": 9, "malformed_ratio": 0.1})
    out = produce(opts, KinesisSink(stub, "s", sleep=lambda s: None))
    assert out["sent"] == 400 and out["produced"] == 400 and 20 < out["malformed"] < 60


def test_events_that_break_their_contract_are_never_sent():
    from producer.conformance import NonConformingEvent

    conf = Conformance(load_contracts())
    ev = EventFactory(seed=1).next_event()
    conf.check(dict(ev))  # a generated event conforms
    for broken in ({**ev, "gender": "unknown"}, {**ev, "surprise": 1}, {k: v for k, v in ev.items() if k != "event_id"}):
        with pytest.raises(NonConformingEvent):
            conf.check(broken)
    stub = StubKinesis()
    calls = []

    def check(e):
        calls.append(1)
        if len(calls) % 10 == 0:
            raise NonConformingEvent("validation_failed")

    out = produce(parse_payload({"count": 100, "seed": 2}), KinesisSink(stub, "s", sleep=lambda s: None), check=check)
    assert out["nonconforming"] == 10 and out["sent"] == 90 and out["failed"] == 10 and len(stub.accepted) == 90


def test_the_producer_only_produces_what_a_contract_says_how_to_generate():
    contracts = load_contracts()
    assert "legacy_consent" not in producible(contracts)  # no generate: hints: the scrubber's only
    assert {"order_placed", "order_placed/1", "order_placed/2"} <= set(producible(contracts))
    without_orders = [c for c in contracts if c.type != "order_placed"]
    with pytest.raises(ValueError, match="event_types must be a non-empty list of customer_signed_up"):
        EventFactory(seed=1, event_types=("order_placed",), contracts=without_orders)
    with pytest.raises(PayloadError, match="event_types"):
        parse_payload({"event_types": ["legacy_consent"]})
    with pytest.raises(RuntimeError, match="no contract says how to generate"):
        Conformance([c for c in contracts if not c.producible])
    only_v2 = EventFactory(seed=1, event_types=("order_placed/2",)).events(50)
    assert {(e["event_type"], e["schema_version"]) for e in only_v2} == {("order_placed", "2")}


_T0 = datetime(2026, 1, 1, tzinfo=UTC)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**63 - 1), ratio=st.sampled_from([0.0, 0.3, 1.0]))
def test_every_generated_event_conforms_to_its_contract(seed, ratio):
    conf = _CONFORMANCE
    f = EventFactory(seed=seed, consent_ratio=ratio, subjects=20, start_time=_T0, contracts=_CONTRACTS)
    for e in f.events(60):
        conf.check(e)


_CONTRACTS = load_contracts()
_CONFORMANCE = Conformance(_CONTRACTS)


def _order_v1_doc() -> dict:
    return copy.deepcopy(next(c.raw for c in _CONTRACTS if c.ref == "order_placed/1"))


def test_events_follow_their_contract_when_it_changes():
    """The contract is the source of truth: a new field, a new enum or a new hint changes the
    events, with no change to the producer."""
    doc = _order_v1_doc()
    doc["fields"]["loyalty_tier"] = {"type": "string", "enum": ["gold"]}
    doc["fields"]["order.currency"]["enum"] = ["CHF"]
    doc["fields"]["order.items"]["generate"] = {"count": [7, 7]}
    doc["fields"]["order.items[*].qty"]["generate"] = {"between": [10, 10]}
    doc["fields"]["order.items[*].gift_message"]["generate"] = {"text": "gift", "present": 0}
    del doc["fields"]["gender"]
    c = parse_contract(doc, "contracts/order_placed/1.yaml")
    events = list(EventFactory(seed=4, start_time=_T0, contracts=[c]).events(40))
    for e in events:
        assert e["loyalty_tier"] == "gold" and e["order"]["currency"] == "CHF" and "gender" not in e
        items = e["order"]["items"]
        assert len(items) == 7 and all(i["qty"] == 10 and "gift_message" not in i for i in items)
        assert list(e)[:4] == ["event_id", "event_type", "schema_version", "event_time"]  # the contract's order
    Conformance([c]).check(events[0])


def test_a_sum_adds_up_and_optional_fields_appear_at_their_share():
    f = EventFactory(seed=6, start_time=_T0, event_types=("order_placed",))
    orders = [e["order"] for e in f.events(600)]
    for o in orders:
        assert o["total"] == round(sum(i["qty"] * i["price"] for i in o["items"]), 2)
        assert all(1 <= i["qty"] <= 4 and 2 <= i["price"] <= 250 for i in o["items"])
    items = [i for o in orders for i in o["items"]]
    share = sum("gift_message" in i for i in items) / len(items)
    assert 0.07 < share < 0.13  # present: 0.1 in the contract
    assert {len(o["items"]) for o in orders} == {1, 2, 3, 4, 5}


def test_cumulative_consent_lists_levels_up_to_the_first_refused():
    doc = copy.deepcopy(next(c.raw for c in _CONTRACTS if c.ref == "order_placed/2"))
    doc["consent"]["levels"] = "cumulative"
    c = parse_contract(doc, "contracts/order_placed/2.yaml")
    f = EventFactory(seed=2, subjects=200, consent_ratio=0.6, start_time=_T0, contracts=[c])
    seen = set()
    for s in f.subjects:
        granted = s.purposes(c)
        assert granted == list(c.purposes[: len(granted)])  # a prefix of the level order
        seen.add(len(granted))
    assert seen == {0, 1, 2, 3}
    for e in f.events(50):
        assert e["consent"]["purposes"] == next(s for s in f.subjects if s.id == e["subject_id"]).purposes(c)


def test_order_v2_events_carry_purposes_per_subject():
    f = EventFactory(seed=5, subjects=10, consent_ratio=0.5)
    v2 = [e for e in f.events(400) if e["schema_version"] == "2"]
    assert v2 and all(e["event_type"] == "order_placed" and "data_share_consent" not in e for e in v2)
    by_subject = {}
    for e in v2:
        by_subject.setdefault(e["subject_id"], set()).add(tuple(e["consent"]["purposes"]))
    assert all(len(v) == 1 for v in by_subject.values())
    assert len({p for v in by_subject.values() for p in v}) > 1  # subjects differ in what they allow


def test_free_texts_quote_every_kind_of_personal_data_and_the_scan_leaves_none_of_it():
    """Notes and gift messages quote the subject's e-mail, phone numbers (with extensions, and
    abroad), SSN (dashed, spaced, labelled without separators), card and IBAN; the scanner masks
    every one of them."""
    import re

    from privacy.detectors import Scanner

    f = EventFactory(seed=3, subjects=200, start_time=datetime(2026, 1, 1, tzinfo=UTC))
    by_id = {s.id: s for s in f.subjects}
    seen = dict.fromkeys(("email", "phone", "extension", "abroad", "ssn", "ssn digits", "ssn spaced", "card", "iban"), 0)
    scanner = Scanner()
    for e in f.events(4000):
        s = by_id[e["subject_id"]]
        texts = [e["note"]] + [i["gift_message"] for i in e.get("order", {}).get("items", []) if "gift_message" in i]
        for t in texts:
            forms = {"email": s.email, "phone": s.phone, "abroad": s.phone_abroad, "ssn": s.ssn, "card": s.card,
                     "iban": s.iban, "ssn digits": "ssn#" + s.ssn.replace("-", ""), "ssn spaced": s.ssn.replace("-", " ")}
            hits = [k for k, v in forms.items() if v in t]
            for k in hits:
                seen[k] += 1
            seen["extension"] += "phone" in hits and "x" in s.phone
            masked, _ = scanner.mask(t)
            assert not [k for k, v in forms.items() if v in masked]
            assert not re.search(r"[0-9]{5}", re.sub(r"\[CARD \*{4}[0-9]{4}\]", "", masked))
    assert all(n >= 10 for n in seen.values()), seen


# -- events of your own: {"events": [...]} ---------------------------------------------------------

def _send(events, stub=None):
    from producer.handler import conformance, send_given

    stub = stub or StubKinesis()
    opts = parse_payload({"events": events})
    return send_given(opts["events"], KinesisSink(stub, "s", sleep=lambda s: None), conformance().check), stub


def _own_events(n=30, seed=8):
    """Events of both consent models: a flag (customer_signed_up/1) and a purposes list (order_placed/2)."""
    events = list(EventFactory(seed=seed, subjects=10, start_time=_T0,
                               event_types=("customer_signed_up", "order_placed/2")).events(n))
    assert {e["schema_version"] for e in events} == {"1", "2"}
    return events


def test_given_events_that_conform_are_sent_as_they_are_keyed_by_their_subject():
    events = _own_events()
    out, stub = _send(events)
    assert out["sent"] == out["produced"] == len(events) and out["failed"] == out["nonconforming"] == 0
    assert out["refused"] == {} and out["refused_at"] == [] and out["malformed"] == 0
    assert [orjson.loads(d) for d in stub.accepted] == events  # unchanged, in order
    keys = [r["PartitionKey"] for call in stub.calls for r in call]
    assert keys == [e["subject_id"] for e in events]


def test_given_events_that_break_their_contract_are_refused_by_index_and_reason_never_value():
    events = _own_events(10)
    secret = "555-12-3456 refused value"
    broken = [
        {**events[0], "gender": secret},  # not in the enum
        {**events[1], "surprise": secret},  # undeclared
        {k: v for k, v in events[2].items() if k != "event_id"},  # a required field missing
        {**events[3], "schema_version": "9"},  # no such contract
        [secret],  # not an object
        {**events[4], "subject_id": ""},  # conforms, but a partition key has 1 to 256 characters
    ]
    mixed = [events[5], *broken, events[6]]
    out, stub = _send(mixed)
    assert out["sent"] == 2 and out["nonconforming"] == len(broken) and out["failed"] == len(broken)
    assert out["produced"] == len(mixed)
    assert [i for i, _ in out["refused_at"]] == [1, 2, 3, 4, 5, 6]
    assert out["refused_at"][3:] == [[4, "unknown_contract"], [5, "not_an_object"], [6, "subject_length"]]
    assert sum(out["refused"].values()) == len(broken) and out["refused"]["unknown_contract"] == 1
    assert [orjson.loads(d) for d in stub.accepted] == [events[5], events[6]]
    assert secret not in orjson.dumps(out).decode() and "555" not in orjson.dumps(out).decode()


def test_a_given_event_is_checked_as_it_will_be_sent():
    """A value that JSON cannot carry as it is (NaN becomes null, an integer beyond 64 bits cannot
    be encoded) is judged on what the stream would hold."""
    ev = next(e for e in _own_events() if e["event_type"] == "order_placed")
    nan = copy.deepcopy(ev)
    nan["order"]["total"] = float("nan")
    huge = copy.deepcopy(ev)
    huge["order"]["items"][0]["qty"] = 2**70
    out, stub = _send([nan, huge])
    assert out["sent"] == 0 and stub.accepted == []
    assert out["refused_at"][1] == [1, "not_encodable"] and out["refused_at"][0][0] == 0


def test_an_oversized_given_event_is_refused():
    from producer.handler import GivenEvents

    ev = next(e for e in _own_events() if e["event_type"] == "customer_signed_up")
    out, _ = _send([{**ev, "note": "x" * 4001}])  # the contract's max_length is 4,000
    assert out["sent"] == 0 and out["refused_at"] == [[0, "validation_failed"]]
    # a record Kinesis cannot hold (over 1 MiB with its partition key) is refused as too large,
    # whatever the contract allows
    contract = next(c for c in _CONTRACTS if c.ref == "customer_signed_up/1")
    room = MAX_RECORD_BYTES - len(orjson.dumps({**ev, "note": ""})) - len(ev["subject_id"])
    g = GivenEvents([{**ev, "note": "x" * (room + 1)}, {**ev, "note": "x" * room}], lambda e: contract)
    sent = list(g.records())
    assert g.refused_at == [[0, "too_large"]] and len(sent) == 1
    assert len(sent[0][1]) + len(sent[0][0]) == MAX_RECORD_BYTES  # the largest record that fits


def test_refused_events_are_named_up_to_a_bound_and_counted_in_full():
    from producer.handler import MAX_REFUSED_AT

    out, _ = _send([1] * (MAX_REFUSED_AT + 50))
    assert len(out["refused_at"]) == MAX_REFUSED_AT and out["refused"] == {"not_an_object": MAX_REFUSED_AT + 50}


@pytest.mark.parametrize("payload, message", [
    ({"events": [], "count": 5}, r"events cannot be combined with generation keys \(count\)"),
    ({"events": [], "seed": 1, "event_types": ["order_placed"]}, r"generation keys \(seed, event_types\)"),
    ({"events": {"event_type": "x"}}, "events must be a list of event objects"),
    ({"events": [], "nope": 1}, "unknown payload key"),
])
def test_events_cannot_be_mixed_with_generation_keys(payload, message):
    with pytest.raises(PayloadError, match=message):
        parse_payload(payload)


@pytest.mark.filterwarnings("ignore:No application metrics to publish")  # the refused payload sends none
def test_the_handler_takes_events_and_reports_refusals_without_values(monkeypatch, lambda_context):
    from producer import handler

    stub = StubKinesis()
    monkeypatch.setenv("STREAM_NAME", "s")
    monkeypatch.setattr(handler, "_client", stub)
    events = _own_events(5)
    out = handler.lambda_handler({"events": [*events, {**events[0], "gender": "x-secret"}]}, lambda_context)
    assert out["sent"] == 5 and out["refused"] == {"validation_failed": 1} and out["refused_at"] == [[5, "validation_failed"]]
    assert "x-secret" not in orjson.dumps(out).decode()
    assert handler.lambda_handler({"events": [], "count": 1}, lambda_context) == {
        "error": "events cannot be combined with generation keys (count): give events to send them, or generation keys "
                 "to generate events"}
    generated = handler.lambda_handler({"count": 3, "seed": 1}, lambda_context)
    assert generated["sent"] == 3 and generated["refused"] == {}


def test_an_unknown_payload_key_is_named_only_when_it_looks_like_one():
    """A key is text the caller chose: one that could hold personal data is counted, not echoed."""
    with pytest.raises(PayloadError) as exc:
        parse_payload({"nope": 1, "078-05-1120 alice@secret.example": 2})
    text = str(exc.value)
    assert text.startswith("unknown payload key(s): nope, 1 other(s), not shown (known: count,")
    assert "alice" not in text and "078" not in text
