"""Properties over generated events (any JSON value in the encrypted fields, several subjects,
consent given or not): export gives back what was sealed, and after a forget no command recovers
any of that subject's sealed values, while the others' still open."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from privacy.keys import Keyring
from privacy.memory_store import MemoryKeyStore
from privacy.subjects import SubjectKeys
from privacy.tokens import is_token
from rights.core import Rights
from rights.ports import MemoryLake, MemoryReceipts, memory_root
from rights.receipt import FORGOTTEN, NO_KEY
from rights.records import ContractView, to_line, walk
from tests.unit.rights.lakes import at, data_key, encrypting_contracts, lake_object, lake_record

CONTRACTS = {c.ref: c for c in encrypting_contracts(deterministic=("email",))}
CSU, OP2 = CONTRACTS["customer_signed_up/1"], CONTRACTS["order_placed/2"]
VIEWS = {ref: ContractView(c) for ref, c in CONTRACTS.items()}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


@st.composite
def lakes(draw):
    subjects = draw(st.lists(st.text(min_size=1, max_size=20), min_size=2, max_size=4, unique=True))
    events = []
    for i in range(draw(st.integers(2, 12))):
        contract = draw(st.sampled_from([CSU, OP2]))
        e = {"event_id": f"e{i}", "event_type": contract.type, "schema_version": contract.version,
             "subject_id": draw(st.sampled_from(subjects))}
        if contract is CSU:
            e["data_share_consent"] = draw(st.booleans())
        else:
            e["consent"] = {"purposes": draw(st.lists(st.sampled_from(contract.purposes), unique=True))}
        for path in VIEWS[contract.ref].sites:
            if draw(st.booleans()):
                head, _, leaf = path.rpartition(".")
                (e.setdefault(head, {}) if head else e)[leaf] = draw(json_values)
        events.append(e)
    return subjects, events


def _world(events):
    store = MemoryKeyStore()
    keys = SubjectKeys(Keyring({"v1": b"k" * 32}, "v1"), store, clock=lambda: at(15).timestamp())
    records = [lake_record(e, CONTRACTS[f"{e['event_type']}/{e['schema_version']}"], keys) for e in events]
    half = len(records) // 2
    lake = MemoryLake({data_key(at(15), 0): lake_object(records[:half]), data_key(at(16), 1): lake_object(records[half:])})
    rights = Rights(store, memory_root(store), lake, MemoryReceipts(), CONTRACTS.values(),
                    now=lambda: datetime(2026, 2, 1, tzinfo=UTC))
    return rights, records


def _expected(event, record):
    """What an export must give: the stored record, each token replaced by the original value."""
    view = VIEWS[record["_privacy"]["contract"]]
    out = copy.deepcopy(record)
    for segs in view.segs.values():
        for (c, k, _), (oc, ok, _) in zip(walk(out, segs), walk(event, segs), strict=True):
            if is_token(c[k]):
                c[k] = oc[ok]
    out["subject_id"] = event["subject_id"]
    del out["_privacy"]
    return out


def _sealed(record):
    """(event id, path) of every token a record holds."""
    view = VIEWS[record["_privacy"]["contract"]]
    return {(record["event_id"], where) for segs in view.segs.values() for c, k, where in walk(record, segs) if is_token(c[k])}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lakes(), st.data())
def test_export_returns_the_originals_and_forget_leaves_nothing_to_open(lake, data):
    subjects, events = lake
    rights, records = _world(events)
    for s in subjects:
        got = [copy.deepcopy(o.record) for o in rights.export(s).records]
        mine = [(e, r) for e, r in zip(events, records, strict=True) if e["subject_id"] == s]
        assert [{k: v for k, v in g.items() if k != "_privacy"} for g in got] == [_expected(e, r) for e, r in mine]

    gone = data.draw(st.sampled_from(subjects))
    keyed = any(e["subject_id"] == gone for e in events)
    assert rights.forget(gone).outcome == (FORGOTTEN if keyed else NO_KEY)
    out = rights.export(gone)
    assert out.status == "forgotten" and list(out.records) == []
    theirs = set().union(*[_sealed(r) for e, r in zip(events, records, strict=True) if e["subject_id"] == gone])
    for purpose in ("analytics", "marketing", "support"):
        for o in rights.reveal(purpose).records:
            still = _sealed(o.record)
            assert {t for t in theirs if t[0] == o.record["event_id"]} <= still  # every one of their tokens stays a token
            assert {where for where, _ in o.unopened} <= {w for eid, w in still if eid == o.record["event_id"]}
            assert all(reason == "forgotten" for _, reason in o.unopened)
            to_line(o)  # every returned record is a JSON line
    for s in subjects:
        if s != gone:
            mine = [(e, r) for e, r in zip(events, records, strict=True) if e["subject_id"] == s]
            assert [{k: v for k, v in o.record.items() if k != "_privacy"} for o in rights.export(s).records] == \
                [_expected(e, r) for e, r in mine]
