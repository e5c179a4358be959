"""The msgspec fast path against the reference engine: same outcome for every record it takes.

The fast path (privacy.fast) may decline a record (it raises, and the batch runs the reference
engine); it must never produce an output the reference engine would not, nor accept a record the
reference engine rejects.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from privacy.codec import DecodeFailure, decode_object, encode_line
from privacy.common import NeedsExactNumbers, Rejection
from privacy.contract import parse_contract
from privacy.engine import CompiledContract, ContractSet
from privacy.fast import FastPlan
from privacy.fast_select import FastContracts
from privacy.fast_types import Unsupported
from privacy.keys import Keyring, Resolved
from privacy.memory_store import MemoryKeyStore
from privacy.scrub import Scrubber
from privacy.subjects import SubjectKeys, Tombstone
from producer.events import MALFORMED_SAMPLES, EventFactory, encode
from stacks.config import load_contracts
from tests.conftest import CONFIG

NOW = "2026-01-15T09:30:00.000Z"
KEYS = Keyring({"v1": b"a" * 32}, "v1")
# Per-subject keys for the generated records' subjects (u1, u2, u3; u3 forgotten, whose records
# the fast path declines), and the ids of the producer's subjects as they come
STORE = MemoryKeyStore()
SUBJECT_KEYS = SubjectKeys(KEYS, STORE, retention_days=[*range(1, 8), 730])
STORE.items[SUBJECT_KEYS.lookup_id("u3")] = Tombstone("r-test", NOW)
SUBJECTS = SUBJECT_KEYS.resolve(["u1", "u2", "u3"])


class _Subjects(Resolved):
    """Every subject id resolved on first sight (the producer's ids are not known in advance)."""

    def get(self, key, default=None):
        if key not in self:
            self.update(SUBJECT_KEYS.resolve([key]))
        return dict.get(self, key, default)


ALL_SUBJECTS = _Subjects(SUBJECTS)


pytestmark = pytest.mark.usefixtures("zero_nonce")  # the two engines' tokens compared byte for byte


TOKEN = "REDACTED_CONTENT"
TAILS = FastContracts.tails(NOW)
_FAST: dict[int, FastContracts] = {}


def fast_of(cs: ContractSet) -> FastContracts:
    """The fast path of a contract set (one per set, as a Scrubber keeps it)."""
    if id(cs) not in _FAST:
        _FAST[id(cs)] = Scrubber(cs).fast
    return _FAST[id(cs)]


def reference(cs_or_cc, raw: bytes):
    """(output object, redacted) from the reference engine, or None if it rejects the record."""
    try:
        event = decode_object(raw)
        if isinstance(cs_or_cc, ContractSet):
            out = cs_or_cc.apply(event, raw, NOW, subjects=ALL_SUBJECTS)
        else:
            try:
                out = cs_or_cc.apply(event, raw, NOW, subjects=ALL_SUBJECTS)
            except NeedsExactNumbers:
                event = json.loads(raw)
                out = cs_or_cc.apply(event, raw, NOW, exact=True, subjects=ALL_SUBJECTS)
        return orjson.loads(encode_line(event)) if _orjson_ok(event) else json.loads(encode_line(event)), out.redacted
    except (DecodeFailure, Rejection):
        return None


def _orjson_ok(event) -> bool:
    try:
        orjson.dumps(event)
        return True
    except TypeError:
        return False


def fast(plan: FastPlan, raw: bytes):
    try:
        line, redacted = plan.scrub(raw, TAILS, KEYS.pseudonyms, ALL_SUBJECTS)
    except Exception:  # noqa: BLE001 - declined: the reference engine decides
        return None
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    return json.loads(line), redacted


def assert_same(fast_out, ref_out):
    """The fast path may decline; when it does not, the reference agrees exactly."""
    if fast_out is None:
        return
    assert ref_out is not None, "the fast path accepted a record the reference engine rejects"
    assert fast_out == ref_out


# ---- the repository's contracts and the producer's events -------------------------------------


@pytest.fixture(scope="module")
def contract_set():
    c = CONFIG.contracts
    return ContractSet(
        load_contracts(c), type_field=c.type_field, version_field=c.version_field,
        default_contract=c.default_contract, default_versions=dict(c.default_versions),
        token=c.redaction_token, keyring=KEYS,
    )


def test_every_repository_contract_has_a_fast_plan(contract_set):
    fc = fast_of(contract_set)
    assert fc.unsupported == {}
    assert set(fc.plans) == set(contract_set.compiled)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_producer_events_take_the_fast_path_with_the_reference_output(contract_set, seed):
    fc = fast_of(contract_set)
    f = EventFactory(seed=seed, consent_ratio=0.5, subjects=300, start_time=datetime(2026, 1, 1, tzinfo=UTC))
    kinds = set()
    for event in f.events(1500):
        raw = encode(event)
        plan = fc.plan_for(raw)
        assert plan is not None
        got = fast(plan, raw)
        assert got is not None, f"{event['event_type']}/{event['schema_version']} declined"
        assert got == reference(contract_set, raw)
        line, redacted = fc.scrub(raw, TAILS, KEYS.pseudonyms, ALL_SUBJECTS)  # the batch's entry point
        assert (json.loads(line), redacted) == got
        kinds.add((event["event_type"], event["schema_version"], got[1]))
    # all producer types and versions, each both redacted and not
    assert len(kinds) == 2 * len(contract_set.compiled) - 2  # legacy_consent is not produced


def test_the_legacy_event_of_reference_003_takes_the_fast_path(contract_set):
    raw = (b'{"name": "Jane Doe", "dob": "1990-04-01", "gender": "F", "ssn_no": "123-45-6789", "data_share_consent": false, '
           b'"evnt_time": "2026-01-01"}')
    got = fast(fast_of(contract_set).plan_for(raw), raw)
    assert got is not None and got == reference(contract_set, raw)
    assert got[0]["ssn_no"] == TOKEN and got[0]["dob"] == TOKEN


@pytest.mark.parametrize("raw", MALFORMED_SAMPLES)
def test_malformed_samples_are_declined(contract_set, raw):
    plan = None
    try:
        plan = fast_of(contract_set).plan_for(raw)
    except Exception:  # noqa: BLE001 - the batch falls back to the reference engine, which rejects it
        pass
    if plan is not None:
        assert fast(plan, raw) is None
    assert reference(contract_set, raw) is None


def _producer_event(contract_set, seed=7):
    f = EventFactory(seed=seed, consent_ratio=0.0, subjects=5, start_time=datetime(2026, 1, 1, tzinfo=UTC))
    for e in f.events(50):
        if e["event_type"] == "order_placed" and e["schema_version"] == "2" and e["order"]["items"]:
            return e
    raise AssertionError("no order_placed/2 event")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda e: e.update(extra="x"),  # undeclared: the reference engine drops it and says so
        lambda e: e.update(_privacy={"contract": "forged"}),
        lambda e: e.update(data_redacted=False),
        lambda e: e["order"]["items"][0].update(EMAIL="a@b.example"),
        lambda e: e.update(dob="2021-02-29"),
        lambda e: e.update(dob=19900401),
        lambda e: e.update(email=None),
        lambda e: e.pop("event_id"),
        lambda e: e["order"].update(total=-1),
        lambda e: e["order"].update(total=123456789012345678901234567890),
        lambda e: e["order"]["items"][0].update(qty=1.0),
        lambda e: e["order"]["items"][0].update(qty=True),
        lambda e: e["order"].update(items="none"),
        lambda e: e["consent"].update(purposes="all"),
        lambda e: e["consent"].update(purposes=["analytics", "nope"]),
        lambda e: e["consent"].update(purposes=[0, 1, 2]),
        lambda e: e["consent"].update(purposes=[True]),
        lambda e: e.update(consent=None),
        lambda e: e.update(note="call 555-123-4567 or mail jane@example.com"),
        lambda e: e.update(schema_version=2),
        lambda e: e.update(event_type=None),
    ],
)
def test_mutated_events_match_the_reference_or_are_declined(contract_set, mutate):
    e = _producer_event(contract_set)
    mutate(e)
    raw = orjson.dumps(e) if _orjson_ok(e) else json.dumps(e).encode()
    ref = reference(contract_set, raw)
    try:
        plan = fast_of(contract_set).plan_for(raw)
    except Exception:  # noqa: BLE001
        plan = None
    if plan is not None:
        assert_same(fast(plan, raw), ref)


def test_duplicate_consent_keys_go_to_the_reference_engine_which_gives_no_consent(contract_set):
    f = EventFactory(seed=3, consent_ratio=1.0, subjects=5, start_time=datetime(2026, 1, 1, tzinfo=UTC))
    e = next(e for e in f.events(50) if e["event_type"] == "customer_signed_up")
    raw = orjson.dumps(e)
    raw = raw[:-1] + b',"data_share_consent":true}'
    raw = raw.replace(b'"data_share_consent":true', b'"data_share_consent":false', 1)
    assert fast(fast_of(contract_set).plan_for(raw), raw) is None
    ref = reference(contract_set, raw)
    assert ref[0]["email"] != e["email"] and ref[1] is True


# ---- hand-written contracts (generated contracts and records: test_differential.py) -------------

PURPOSES = ("p1", "p2", "p3")


def _compiled(doc):
    """(compiled contract, its fast plan or None)."""
    cc = CompiledContract(parse_contract(doc, "t.yaml"), TOKEN, Keyring({"v1": b"a" * 32}, "v1"))
    try:
        return cc, FastPlan(cc)
    except Unsupported:
        return cc, None


@pytest.mark.parametrize(
    "fields, extra",
    [
        ({"f": {"type": "any"}}, {"undeclared_fields": "keep"}),
        ({"f": {"type": "boolean", "enum": [True]}}, {}),
        ({"f": {"type": "number", "enum": [1.5]}}, {}),
        ({"f": {"type": "any", "max_length": 3}}, {}),
        ({"f": {"type": "date", "pattern": "^2"}}, {}),
        ({"f": {"type": "datetime", "enum": ["2026-01-01T00:00:00Z"]}}, {}),
    ],
)
def test_contracts_the_fast_path_cannot_express_exactly_have_no_plan(fields, extra):
    doc = {"contract": "t", "version": "1", "subject": "uid", "purposes": ["p1"],
           "consent": {"model": "flag", "field": "consent"},
           "fields": {"uid": {"type": "string", "required": True}, "consent": {"type": "any"}, **fields}, **extra}
    cc = CompiledContract(parse_contract(doc, "t.yaml"), TOKEN, KEYS)
    with pytest.raises(Unsupported):
        FastPlan(cc)


@pytest.mark.parametrize(
    "shape, taken",
    [
        (lambda e: json.dumps(e).encode(), True),  # spaces after the colons
        (lambda e: json.dumps(e, indent=2).encode(), True),
        (lambda e: json.dumps(e).replace('"event_type"', '"event\\u005ftype"', 1).encode(), True),  # an escaped key
        # duplicate keys: the last one counts; msgspec validates both (and declines)
        (lambda e: b'{"event_type":"customer_signed_up",' + orjson.dumps(e)[1:], False),
        (lambda e: b'{"schema_version":"1",' + orjson.dumps(e)[1:], False),
    ],
)
def test_the_contract_is_chosen_from_the_decoded_fields(contract_set, shape, taken):
    e = _producer_event(contract_set)
    raw = shape(e)
    ref = reference(contract_set, raw)
    try:
        line, redacted = fast_of(contract_set).scrub(raw, TAILS, KEYS.pseudonyms, ALL_SUBJECTS)
    except Exception:  # noqa: BLE001 - declined: the reference engine decides
        assert not taken
        return
    assert (json.loads(line), redacted) == ref
    assert json.loads(line)["_privacy"]["contract"] == "order_placed/2"


def test_the_guess_from_the_bytes_is_only_a_guess(contract_set):
    """The contract is guessed from the first '"event_type":"' and '"schema_version":"' in the
    bytes and confirmed by the decode; where the guess is wrong, the decoded fields decide."""
    f = EventFactory(seed=3, consent_ratio=1.0, subjects=5, start_time=datetime(2026, 1, 1, tzinfo=UTC),
                     event_types=("order_placed/1",))
    e = f.next_event()
    decoy = {"event_type": "customer_signed_up", "schema_version": "1"}
    fc = fast_of(contract_set)
    cases = {
        # the keys inside an untyped value, before the real ones: the guess fails, the record is taken
        "nested first": b'{"data_share_consent":' + orjson.dumps(decoy) + b"," + orjson.dumps(
            {k: v for k, v in e.items() if k != "data_share_consent"})[1:],
        "as in the producer": orjson.dumps(e),
        "version as a number": orjson.dumps({**e, "schema_version": 1}),
        "type escaped": orjson.dumps(e).replace(b'"order_placed"', b'"order\\u005fplaced"', 1),
    }
    taken = {}
    for name, raw in cases.items():
        ref = reference(contract_set, raw)
        try:
            line, redacted = fc.scrub(raw, TAILS, KEYS.pseudonyms, ALL_SUBJECTS)
        except Exception:  # noqa: BLE001 - declined: the reference engine decides
            taken[name] = False
            continue
        taken[name] = json.loads(line)["_privacy"]["contract"]
        assert (json.loads(line), redacted) == ref, name
    assert taken == {"nested first": "order_placed/1", "as in the producer": "order_placed/1",
                     # a consenting record with a \\u escape needs the exact duplicate-key check
                     "version as a number": False, "type escaped": False}


def test_a_record_no_plan_takes_is_handed_back(contract_set):
    from privacy.fast import Fallback

    for raw in (b'{"event_type": "nope"}', b'{"event_type": 1}', b"[]", b'{"event_type": "order_placed", "schema_version": "2"}'):
        with pytest.raises(Exception) as exc:  # noqa: PT011 - any exception hands the record back
            fast_of(contract_set).scrub(raw, TAILS, KEYS.pseudonyms, ALL_SUBJECTS)
        assert exc.type in (Fallback, msgspec.ValidationError, msgspec.DecodeError)


def _small_contract(fields, **extra):
    doc = {"contract": "t", "version": "1", "subject": "uid", "purposes": ["p1", "p2"],
           "consent": {"model": "flag", "field": "consent"},
           "fields": {"uid": {"type": "string", "required": True}, "consent": {"type": "any"}, **fields}, **extra}
    return CompiledContract(parse_contract(doc, "t.yaml"), TOKEN, KEYS)


def test_a_consent_only_the_exact_check_can_clear_is_declined():
    """Escapes in the record: whether the consent key is there once needs the reference engine's
    exact (stdlib) check, whose outcome can even depend on nesting depth."""
    cc = _small_contract({"a": {"type": "any"}, "email": {"type": "string", "pii": {"purposes": ["p1"], "action": "redact"}}})
    plan = FastPlan(cc)
    for raw in (
        b'{"uid":"\\u0075","email":"jane@example.com","consent":true,"a":' + b"[" * 990 + b"]" * 990 + b"}",
        b'{"uid":"\\u0075","email":"jane@example.com","consent":true}',
        b'{"uid":"u","email":"jane@example.com","consent":false,"consent":true}',
    ):
        assert fast(plan, raw) is None
    # without an escape, the quick check decides
    assert fast(plan, b'{"uid":"u","email":"jane@example.com","consent":true}')[0]["email"] == "jane@example.com"


@pytest.mark.parametrize(
    "fields, raw",
    [
        ({"o": {"type": "object"}}, b'{"uid":"u","consent":true,"o":{"n":18446744073709551617}}'),
        ({"a": {"type": "any", "pii": {"purposes": ["p1"], "action": "pseudonymise"}}},
         b'{"uid":"u","consent":false,"a":[18446744073709551617]}'),
        ({"l": {"type": "array"}}, b'{"uid":"u","consent":true,"l":[{"x":[-9223372036854775809]}]}'),
    ],
)
def test_integers_beyond_64_bits_in_untyped_values_go_to_the_reference_engine(fields, raw):
    """orjson (the reference engine's parser) reads them as floats, msgspec exactly: decline."""
    cc = _small_contract(fields)
    assert fast(FastPlan(cc), raw) is None
    ok = raw.replace(b"18446744073709551617", b"18446744073709551615").replace(b"-9223372036854775809", b"-9223372036854775808")
    assert_same(fast(FastPlan(cc), ok), reference(cc, ok))
    assert fast(FastPlan(cc), ok) is not None


def test_a_version_beyond_64_bits_selects_nothing():
    doc = {"contract": "t", "version": "18446744073709551616", "subject": "uid", "purposes": ["p1"],
           "consent": {"model": "flag", "field": "consent"},
           "fields": {"uid": {"type": "string", "required": True}, "consent": {"type": "any"},
                      "event_type": {"type": "string"}, "schema_version": {"type": "any"}}}
    cs = ContractSet([parse_contract(doc, "t.yaml")], keyring=KEYS)
    raw = b'{"uid":"u","event_type":"t","schema_version":18446744073709551616,"consent":true}'
    assert reference(cs, raw) is None
    with pytest.raises(Exception):  # noqa: B017, PT011 - declined, whatever the exception
        fast_of(cs).scrub(raw, TAILS, KEYS.pseudonyms, ALL_SUBJECTS)


# ---- what a plan remembers between records -----------------------------------------------------

_CONSENTS = st.one_of(
    st.booleans(), st.none(), st.just("yes"), st.just([]),
    st.lists(st.sampled_from(PURPOSES), unique=True, min_size=1),
    st.lists(st.one_of(st.integers(-1, 4), st.booleans(), st.floats(0, 2), st.sampled_from(PURPOSES + ("p9",))), max_size=3),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example("granular", [([1], "a@b.co"), ([True], "a@b.co"), ([1.0], "c@d.org"), (["p2"], "a@b.co"), (["p2", 2], "a@b.co")])
@given(st.sampled_from(["flag", "granular", "cumulative"]),
       st.lists(st.tuples(_CONSENTS, st.sampled_from(["a@b.co", "c@d.org"])), min_size=2, max_size=25))
def test_one_plan_over_many_records_agrees_with_the_reference_record_by_record(model, records):
    """A plan remembers grants by the list of purposes, and masked values and pseudonyms by value:
    whatever came before, each record's output is the reference engine's. ([1] and [True] are
    equal tuples to Python; only lists of names are remembered.)"""
    doc = {"contract": "t", "version": "1", "subject": "uid", "purposes": list(PURPOSES),
           "consent": {"model": "flag", "field": "consent"} if model == "flag" else
           {"model": "purposes", "field": "consent", "levels": model},
           "fields": {"uid": {"type": "string", "required": True, "pii": {"purposes": ["p1"], "action": "pseudonymise"}},
                      "consent": {"type": "any"},
                      "email": {"type": "string", "pii": {"purposes": ["p2"], "action": "mask", "mask": "email"}},
                      "zip": {"type": "string", "pii": {"purposes": ["p1", "p3"], "action": "generalise", "generalise": "prefix"}}}}
    cc, plan = _compiled(doc)
    taken = 0
    for consent, email in records:
        raw = orjson.dumps({"uid": email[:1], "consent": consent, "email": email, "zip": "SW1A 1AA"})
        out = fast(plan, raw)
        assert_same(out, reference(cc, raw))
        taken += out is not None
    assert taken == len(records)


@pytest.mark.parametrize("model", ["flag", "granular"])
def test_integers_beyond_64_bits_in_the_consent_are_malformed_consent_on_both_paths(model):
    """The consent field skips the big-integer check: such a value grants nothing and is redacted."""
    doc = {"contract": "t", "version": "1", "subject": "uid", "purposes": ["p1"],
           "consent": {"model": "flag", "field": "consent"} if model == "flag" else
           {"model": "purposes", "field": "consent", "levels": "granular"},
           "fields": {"uid": {"type": "string", "required": True}, "consent": {"type": "any"},
                      "email": {"type": "string", "pii": {"purposes": ["p1"], "action": "redact"}}}}
    cc, plan = _compiled(doc)
    for consent in (b"[18446744073709551617]", b'{"n":18446744073709551617}', b'["p1",-9223372036854775809]'):
        raw = b'{"uid":"u","email":"a@b.co","consent":' + consent + b"}"
        out = fast(plan, raw)
        assert out is not None
        assert_same(out, reference(cc, raw))
        assert out[0]["consent"] == TOKEN and out[0]["email"] == TOKEN


@pytest.mark.parametrize(
    "fields, event",
    [
        # a parent and a field within it both personal data: actions keep the contract's order
        ({"addr": {"type": "object", "pii": {"purposes": ["p1"], "action": "redact"}},
          "addr.city": {"type": "string", "pii": {"purposes": ["p2"], "action": "mask", "mask": "last4"}}},
         {"addr": {"city": "Springfield"}}),
        # required fields: no presence test, whatever the action
        ({"born": {"type": "date", "required": True, "pii": {"purposes": ["p1"], "action": "generalise", "generalise": "year"}},
          "ssn": {"type": "string", "required": True, "pii": {"purposes": ["p2"], "action": "mask", "mask": "ssn"}},
          "gone": {"type": "string", "required": True, "pii": {"purposes": ["p1"], "action": "drop"}},
          "age": {"type": "integer", "required": True, "nullable": True,
                  "pii": {"purposes": ["p1"], "action": "generalise", "generalise": "age_band"}}},
         {"born": "1980-02-29", "ssn": "123-45-6789", "gone": "x", "age": 41}),
    ],
)
@pytest.mark.parametrize("consent", [True, False])
def test_grouped_actions_match_the_reference(fields, event, consent):
    cc = _small_contract(fields)
    plan = FastPlan(cc)
    raw = orjson.dumps({"uid": "u", "consent": consent, **event})
    out = fast(plan, raw)
    assert_same(out, reference(cc, raw))
    assert out is not None or "addr" in fields  # a transformed parent may be the reference's to handle


def test_plans_share_the_memo_of_a_rule_and_keep_their_outputs(contract_set):
    """An e-mail address recurs in events of every type: the plans of a contract set remember
    masked values by rule (mask kind and parameters, token), not by field."""
    from privacy.common import Memo

    fc = fast_of(contract_set)
    memos = {}
    for plan in fc.plans.values():
        for value in plan.finish.__globals__.values():
            if isinstance(value, Memo) and getattr(value.fn, "__name__", "") == "email":
                memos.setdefault(id(value), value)
    assert len(memos) == 1
    f = EventFactory(seed=11, consent_ratio=0.0, subjects=3, start_time=datetime(2026, 1, 1, tzinfo=UTC))
    for _ in range(60):
        raw = encode(f.next_event())
        line, redacted = fc.scrub(raw, TAILS, KEYS.pseudonyms, ALL_SUBJECTS)
        assert (json.loads(line), redacted) == reference(contract_set, raw)
