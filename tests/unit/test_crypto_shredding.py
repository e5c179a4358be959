"""Per-subject keys through the Firehose batch (issue 11): what a consenting, a non-consenting and a
forgotten subject get in the lake; that an outage of the key store or of KMS fails the invocation
with nothing emitted; and that forgetting one subject leaves every other subject readable."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from privacy.keys import Keyring
from privacy.memory_store import MemoryKeyStore
from privacy.scrub import Scrubber
from privacy.sealed import open_record
from privacy.subjects import Opener, SubjectKeys, Tombstone
from producer.events import EventFactory
from scrubber.batch import OK, process_records
from tests.conftest import CONFIG, TEST_KEYRING_SECRET, V1_TYPES, contract_set, firehose_event, string_values

NOW = "2026-01-15T09:30:00.000Z"
SEALED = ("name", "ssn", "email", "phone", "dob")
CONTRACTS = {c.contract.ref: c.contract for c in contract_set().compiled.values()}
POOL = list(EventFactory(seed=21, consent_ratio=0.5, subjects=30, start_time=datetime(2026, 1, 1, tzinfo=UTC),
                         event_types=V1_TYPES).events(120))


def _port(store, **kw) -> SubjectKeys:
    return SubjectKeys(Keyring.from_secret(TEST_KEYRING_SECRET), store, retention_days={730}, **kw)


def _scrubber(store, **kw) -> Scrubber:
    return Scrubber(contract_set(keys=_port(store, **kw)))


def _run(scrubber, events) -> list[dict]:
    res = process_records(firehose_event([orjson.dumps(e) for e in events])["records"], scrubber, NOW)
    assert [r["result"] for r in res.records] == [OK] * len(events)
    return [orjson.loads(base64.b64decode(r["data"])) for r in res.records]


def _open(record: dict, store) -> tuple[dict, list]:
    out = json.loads(json.dumps(record))
    return out, open_record(out, CONTRACTS[out["_privacy"]["contract"]], Opener(store))


class Failing(MemoryKeyStore):
    """A key store whose DynamoDB (or KMS) is down: every call raises."""

    def __init__(self, what: str):
        super().__init__()
        self.what = what

    def _fail(self, *_a, **_k):
        raise ConnectionError(f"{self.what} unavailable")

    def fail(self):
        if self.what == "kms":
            self.root = self._fail
        else:
            self.get_many = self.create_many = self.period = self._fail


@pytest.mark.parametrize("what", ["dynamodb", "kms"])
def test_an_outage_of_the_key_store_or_kms_fails_the_invocation_and_emits_nothing(what):
    store = Failing(what)
    store.fail()
    scrubber = _scrubber(store)
    records = firehose_event([orjson.dumps(e) for e in POOL[:20]])["records"]
    with pytest.raises(ConnectionError) as exc:
        process_records(records, scrubber, NOW)  # Firehose retries the batch, then quarantines it
    text = str(exc.value) + repr(exc.value.__traceback__)
    assert not any(e["subject_id"] in text or e["name"] in text for e in POOL[:20])


def test_a_failure_after_some_keys_were_cached_still_emits_nothing_in_clear():
    store = Failing("dynamodb")
    scrubber = _scrubber(store)
    _run(scrubber, POOL[:10])  # these subjects' keys are cached now
    store.fail()
    records = firehose_event([orjson.dumps(e) for e in POOL[:40]])["records"]  # some new subjects too
    with pytest.raises(ConnectionError):
        process_records(records, scrubber, NOW)


def test_a_forgotten_subjects_later_events_keep_none_of_their_personal_data():
    store = MemoryKeyStore()
    scrubber = _scrubber(store, ttl_s=0)  # (no cache: the tombstone is seen at once)
    who = next(e for e in POOL if e["data_share_consent"] is True)
    first = _run(scrubber, [who])[0]
    link = first["subject_id"]
    assert link.startswith("k:") and first["name"].startswith("~g")
    port = scrubber.keys
    store.forget(port.lookup_id(who["subject_id"]), Tombstone("r-1", NOW))
    later = [{**e, "subject_id": who["subject_id"], "data_share_consent": True} for e in POOL[:6]]
    for out, e in zip(_run(scrubber, later), later, strict=True):
        text = json.dumps(out)
        assert out["subject_id"] == "REDACTED_CONTENT" and link not in text  # no key recreated, no link
        assert out["_privacy"]["applied"]["subject_id"] == "redact" and out["data_redacted"] is True
        # the consent they state is not what was applied: the output does not show it as consent
        assert out["data_share_consent"] is False and out["_privacy"]["applied"]["data_share_consent"] == "void"
        for f in SEALED:
            assert e[f] not in text and not str(out[f]).startswith("~")  # redacted or masked, never sealed
        assert e["address"]["street"] not in text and out["address"]["street"] == "REDACTED_CONTENT"
    assert isinstance(store.items[port.lookup_id(who["subject_id"])], Tombstone)  # still the tombstone
    # and what was sealed before cannot be opened any more
    assert {reason for _p, reason in _open(first, store)[1]} == {"forgotten"}


def test_a_forgotten_key_lives_on_in_a_warm_cache_for_at_most_its_ttl():
    store = MemoryKeyStore()
    scrubber = _scrubber(store, ttl_s=0.2)
    who = {**POOL[0], "data_share_consent": True}
    assert _run(scrubber, [who])[0]["name"].startswith("~g")
    store.forget(scrubber.keys.lookup_id(who["subject_id"]), Tombstone("r-2", NOW))
    assert _run(scrubber, [who])[0]["name"].startswith("~g")  # cached: the stated TTL
    time.sleep(0.25)
    assert _run(scrubber, [who])[0]["name"] == "REDACTED_CONTENT"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(picks=st.lists(st.integers(0, len(POOL) - 1), min_size=1, max_size=25),
       consents=st.lists(st.booleans(), min_size=25, max_size=25), forget=st.integers(0, 24))
def test_sealed_values_never_appear_open_as_the_originals_and_forget_one_leaves_the_others(picks, consents, forget):
    store = MemoryKeyStore()
    events = [{**POOL[i], "data_share_consent": c} for i, c in zip(picks, consents, strict=False)]
    out = _run(_scrubber(store), events)
    text = json.dumps(out)
    for e, o in zip(events, out, strict=True):
        assert e["subject_id"] not in text
        if e["data_share_consent"]:
            for f in SEALED:
                assert e[f] not in text, f  # no consented plaintext of an encrypted field
            opened, problems = _open(o, store)
            assert problems == []
            assert {f: opened[f] for f in SEALED} == {f: e[f] for f in SEALED}  # export gives the originals
            assert opened["address"] == e["address"]
    # forget one subject: none of its values can be recovered, every other subject's still can
    gone = events[forget % len(events)]["subject_id"]
    port = _port(store)
    store.forget(port.lookup_id(gone), Tombstone("r-3", NOW))
    for e, o in zip(events, out, strict=True):
        opened, problems = _open(o, store)
        if e["subject_id"] == gone:
            assert all(reason == "forgotten" for _p, reason in problems)
            assert not any(e[f] in string_values(opened) for f in SEALED)
        elif e["data_share_consent"]:
            assert problems == [] and {f: opened[f] for f in SEALED} == {f: e[f] for f in SEALED}


def test_the_key_table_holds_no_raw_identifier():
    store = MemoryKeyStore()
    _run(_scrubber(store), POOL[:30])
    held = repr(store.items) + repr(store.period_keys)
    assert not any(e["subject_id"] in held or e["name"] in held for e in POOL[:30])
    assert len({e["subject_id"] for e in POOL[:30]}) == sum(1 for k in store.items if k.startswith("s#"))


def test_the_scrubbers_cache_ttl_and_size_come_from_its_environment(tmp_path):
    from privacy.contract import bundle_json
    from scrubber.settings import Settings
    from stacks.config import load_contracts

    bundle = tmp_path / "contracts.json"
    bundle.write_text(bundle_json(load_contracts(CONFIG.contracts)))
    env = {"CONTRACT_SELECTOR": CONFIG.contracts.selector_json(), "CONTRACTS_FILE": str(bundle),
           "SUBJECT_KEYS_CACHE_TTL_S": "7", "SUBJECT_KEYS_CACHE_SIZE": "1234"}
    port = Settings(env, secret=lambda: TEST_KEYRING_SECRET, store=MemoryKeyStore()).scrubber().keys
    assert (port.ttl_s, port.size, port.retention_days) == (7.0, 1234, (730,))


def test_a_new_day_seals_under_the_new_period_key_even_for_cached_subjects_and_old_ones_expire():
    from privacy.tokens import parse

    store, now = MemoryKeyStore(), [1_800_000_000.0]
    scrubber = _scrubber(store, clock=lambda: now[0])
    health = {**next(e for e in POOL if e["event_type"] == "health_form_submitted"), "data_share_consent": True}
    first = _run(scrubber, [health])[0]
    now[0] += 86400  # the subject's key is still cached: its period ciphers follow the day
    second = _run(scrubber, [health])[0]
    d1, d2 = parse(first["name"]).period, parse(second["name"]).period
    assert d2 == d1 + 1 == int(now[0] // 86400)
    for out in (first, second):  # both open today
        record = json.loads(json.dumps(out))
        assert open_record(record, CONTRACTS[out["_privacy"]["contract"]], Opener(store, clock=lambda: now[0])) == []
    # 730 days after the first day ends, its period key refuses to open (by its own expiry time)
    later = (d1 + 1 + 730) * 86400
    record = json.loads(json.dumps(first))
    problems = open_record(record, CONTRACTS[first["_privacy"]["contract"]], Opener(store, clock=lambda: later))
    assert problems and {r for _p, r in problems} == {"expired"} and record["name"] == first["name"]
    record = json.loads(json.dumps(second))  # the next day's values still open, for one more day
    assert open_record(record, CONTRACTS[second["_privacy"]["contract"]], Opener(store, clock=lambda: later)) == []


def test_a_cached_subject_absent_from_the_days_first_batch_still_seals_under_the_new_day():
    """The day changes with one subject's batch; another cached subject's next record, later
    that day, is sealed under the new period key too, as the reference engine would."""
    from privacy.tokens import parse

    store, now = MemoryKeyStore(), [1_800_000_000.0]
    scrubber = _scrubber(store, clock=lambda: now[0])
    forms = [e for e in POOL if e["event_type"] == "health_form_submitted"]
    a = {**forms[0], "data_share_consent": True}
    b = {**next(e for e in forms if e["subject_id"] != a["subject_id"]), "data_share_consent": True}
    _run(scrubber, [a, b])
    now[0] += 86400
    today = int(now[0] // 86400)
    assert parse(_run(scrubber, [a])[0]["name"]).period == today
    assert parse(_run(scrubber, [b])[0]["name"]).period == today


@pytest.mark.parametrize("second", [b'"subject_id":"someone-else"', b'"subject\\u005fid":"someone-else"'],
                         ids=["spelt twice", "spelt again with an escape"])
def test_a_subject_key_spelt_twice_is_quarantined_not_filed_under_either(second):
    """Whose key would seal it, and whose export or forget would find it? Neither: quarantined,
    on the fast path and the reference engine alike."""
    store = MemoryKeyStore()
    scrubber = _scrubber(store)
    event = {**POOL[0], "data_share_consent": True}
    raw = orjson.dumps(event)
    raw = raw[:-1] + b"," + second + b"}"
    res = process_records(firehose_event([raw])["records"], scrubber, NOW)
    assert [r["result"] for r in res.records] == ["ProcessingFailed"] and res.failed == {"ambiguous_subject": 1}
    from privacy.codec import decode_object

    cc = scrubber.contracts.resolve(decode_object(raw))
    with pytest.raises(Exception, match="ambiguous_subject"):
        cc.apply(decode_object(raw), raw, NOW, keys=scrubber.keys)


@pytest.mark.parametrize("subject", ["", " ", " 123", "123 ", "\t123"])
def test_an_empty_or_space_edged_subject_id_is_quarantined_never_keyed(subject):
    """No rights command could name such an id as it is (make strips leading spaces): it is
    refused, on both engines, and no key is made for it."""
    store = MemoryKeyStore()
    scrubber = _scrubber(store)
    raw = orjson.dumps({**POOL[0], "subject_id": subject, "data_share_consent": True})
    res = process_records(firehose_event([raw])["records"], scrubber, NOW)
    assert [r["result"] for r in res.records] == ["ProcessingFailed"] and res.failed == {"invalid_subject": 1}
    assert not any(k.startswith("s#") and isinstance(v, Tombstone) is False for k, v in store.items.items()
                   if k == _port(store).lookup_id(subject))
