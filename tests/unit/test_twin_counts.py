"""The twin's "with consent" count: events whose subject consented to every purpose of their
contract, under either consent model, read from the delivered lines."""

from __future__ import annotations

import copy
import functools
import shutil

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from privacy.codec import decode_object, encode_line
from privacy.engine import ContractSet
from privacy.files import load_contract_dir
from producer.events import EventFactory, encode
from tests.conftest import CONFIG, contract_set, subject_keys
from twin.counts import count_delivered

NOW = "2026-01-15T09:30:00.000Z"
ALL = ["analytics", "marketing", "support"]
CS = contract_set()


@functools.cache
def _base_event(contract: str) -> dict:
    return EventFactory(seed=3, consent_ratio=0.5, event_types=(contract,)).next_event()


def _event(contract: str) -> dict:
    return copy.deepcopy(_base_event(contract))


def _flag(value) -> bytes:
    ev = _event("customer_signed_up")
    ev.pop("data_share_consent", None)
    if value is not _ABSENT:
        ev["data_share_consent"] = value
    return encode(ev)


def _purposes(value, contract: str = "order_placed/2") -> bytes:
    ev = _event(contract)
    ev["consent"] = {"purposes": value}
    return encode(ev)


_ABSENT = object()


def _deliver(raw: bytes, cs: ContractSet = CS) -> bytes:
    """What the scrubber delivers for ``raw`` (the reference engine, which the fast path matches),
    with the subject's key resolved as a batch would."""
    event = decode_object(raw)
    try:
        subject = cs.resolve(event).subject_of(event)
    except Exception:  # noqa: BLE001 - the record is refused below, with its reason
        subject = None
    cs.apply(event, raw, NOW, subjects=cs.keys.resolve([subject] if subject is not None else []))
    return encode_line(event)


def _counted(raw: bytes, cs: ContractSet = CS) -> bool:
    counts = count_delivered([_deliver(raw, cs)], cs)
    assert counts.delivered == 1 and counts.unreadable == 0
    return counts.consented == 1


@pytest.mark.parametrize("raw, consented", [
    (_flag(True), True),
    (_flag(False), False),
    (_flag(_ABSENT), False),
    (_flag("true"), False),  # malformed: redacted, no consent
    (_flag(1), False),
    (_purposes(ALL), True),
    (_purposes(["support", "analytics", "marketing", "support"]), True),
    (_purposes([0, 1, 2]), True),  # positions
    (_purposes(["analytics", "marketing"]), False),
    (_purposes([]), False),
    (_purposes(ALL + ["nope"]), False),  # anything malformed voids the list
    (_purposes([0, 1, True]), False),
    (_purposes("analytics"), False),
])
def test_both_consent_models_count_by_the_contracts_purposes(raw, consented):
    assert _counted(raw) is consented


def _twice(raw: bytes, key: bytes, first: bytes) -> bytes:
    """``raw`` with the consent key ``key`` written twice: ``first``, then the record's own value."""
    i = raw.index(b'"' + key + b'":')
    return raw[:i] + b'"' + key + b'":' + first + b"," + raw[i:]


@pytest.mark.parametrize("raw", [
    _twice(_flag(True), b"data_share_consent", b"false"),
    _twice(_flag(False), b"data_share_consent", b"true"),
    _twice(_flag(True), b"data_share_consent", b"true"),
    _twice(_purposes(ALL), b"purposes", b"[]"),
    _twice(_purposes([]), b"purposes", b'["analytics","marketing","support"]'),
    _twice(_purposes(ALL), b"purposes", b'["analytics","marketing","support"]'),
])
def test_an_ambiguous_consent_is_never_counted_whatever_the_output_shows(raw):
    line = _deliver(raw)
    assert not _counted(raw)
    # what the output shows for the consent value may change (the applied value rather than the
    # last one read): not counted either way
    out = orjson.loads(line)
    for shown in (True, False, {"purposes": ALL}, {"purposes": []}):
        key = "data_share_consent" if "data_share_consent" in out else "consent"
        if (key == "consent") != isinstance(shown, dict):
            continue
        out[key] = shown
        assert count_delivered([orjson.dumps(out)], CS).consented == 0, shown


@pytest.fixture(scope="module")
def cumulative(tmp_path_factory) -> ContractSet:
    """The repository's contracts, with order_placed/2's purposes read as cumulative levels."""
    folder = tmp_path_factory.mktemp("c") / "contracts"
    shutil.copytree(CONFIG.contracts.dir, folder)
    v2 = folder / "order_placed" / "2.yaml"
    v2.write_text(v2.read_text().replace("levels: granular", "levels: cumulative"))
    c = CONFIG.contracts
    return ContractSet(load_contract_dir(folder), type_field=c.type_field, version_field=c.version_field,
                       default_contract=c.default_contract, token=c.redaction_token,
                       keyring=subject_keys())


def test_cumulative_levels_count_when_the_highest_level_is_granted(cumulative):
    assert cumulative.compiled[("order_placed", "2")].contract.consent.levels == "cumulative"
    assert _counted(_purposes(["support"]), cumulative)  # every level up to support
    assert _counted(_purposes([2]), cumulative)
    assert not _counted(_purposes(["analytics", "marketing"]), cumulative)
    assert not _counted(_purposes(["support", "nope"]), cumulative)
    assert not _counted(_purposes(["support"]))  # the same list, granular: one purpose of three


_ITEM = st.sampled_from(ALL + ["nope", "Support"]) | st.integers(-1, 3) | st.booleans() | st.none()


@given(items=st.lists(_ITEM, max_size=5))
def test_purpose_lists_count_exactly_when_every_purpose_is_granted(items, cumulative):
    well_formed = all((type(i) is str and i in ALL) or (type(i) is int and 0 <= i < 3) for i in items)
    named = {ALL[i] if type(i) is int else i for i in items} if well_formed else set()
    assert _counted(_purposes(items)) is (well_formed and named == set(ALL))
    assert _counted(_purposes(items), cumulative) is (well_formed and ("support" in named))


def test_lines_are_counted_from_a_whole_batch():
    raws = [_flag(True), _flag(False), _purposes(ALL), _purposes(["support"])]
    body = b"".join(_deliver(r) for r in raws)
    counts = count_delivered([body, b"not json\n" + b'{"_privacy": {"contract": "nope/1"}}\n[1]\n'], CS)
    assert (counts.delivered, counts.consented, counts.unreadable) == (7, 2, 3)
    redacted = sum(b'"data_redacted":true' in _deliver(r) for r in raws)
    assert counts.redacted == redacted and redacted >= 2  # the non-consenting ones at least
