"""The two engines against each other on generated contracts and records: for every record the
fast path (privacy.fast) takes, its output and redaction flag are the reference engine's
(privacy.engine); any other record it declines, and the reference engine decides.

The contracts (``contract_cases``) draw their actions and parameters from the actions registry.
Every registered action and every parameter it declares has a strategy
(``test_every_registered_action_and_parameter_has_a_strategy``), and, action by action, the
coverage test counts what the engines were compared on: each action applied for lack of consent
and with it, on every field type and place, and each parameter's values shaping outputs and
giving the token.
"""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from privacy.actions import REGISTRY
from privacy.common import _segments, _slots
from privacy.contract import parse_contract
from privacy.engine import CompiledContract
from privacy.fast import FastPlan
from privacy.fast_types import Unsupported
from privacy.patterns import compile_mask
from tests.unit.privacy.contract_cases import (
    ALWAYS,
    FIELD_TYPES,
    PARAMS,
    PLACES,
    PURPOSES,
    REGEX_MASKS,
    Case,
    applicable,
    contract_and_records,
    pii_of,
)
from tests.unit.privacy.test_fast import KEYS, TOKEN, assert_same, fast, reference

pytestmark = pytest.mark.usefixtures("zero_nonce")  # the two engines' tokens compared byte for byte


def _compiled(case: Case):
    """(compiled contract, its fast plan or None); the parser made of each pii what was meant."""
    contract = parse_contract(case.doc, "t.yaml")
    assert {f.path: f.pii for f in contract.fields if f.pii is not None} == case.piis
    cc = CompiledContract(contract, TOKEN, KEYS)
    try:
        return cc, FastPlan(cc)
    except Unsupported:
        return cc, None


def _agree(case: Case, cover: Counter | None = None) -> None:
    """Record for record, the fast path's output is the reference engine's, or it declines."""
    cc, plan = _compiled(case)
    if plan is None:
        if cover is not None:
            cover["no plan"] += 1
        return
    for raw in case.raws:
        got = fast(plan, raw)
        assert_same(got, reference(cc, raw))
        if cover is not None:
            cover["declined" if got is None else "taken"] += 1
            if got is not None:
                _count(cc, got[0], cover)


def _count(cc: CompiledContract, out: dict, cover: Counter) -> None:
    """What a record the engines agreed on exercised: each action applied (for lack of consent
    or with it, by field type and place), and each parameter's value, by whether it shaped the
    output or gave the token."""
    applied = out["_privacy"]["applied"]
    for f in cc.contract.fields:
        p, name = f.pii, applied.get(f.path, "")
        if p is None or name not in REGISTRY or f.path == cc.contract.subject:  # (the subject's pii is always the same)
            continue  # not there, or scanned too (the scan's output then)
        if p.action != p.always:
            cover[("action", name, "lack" if name == p.action else "always")] += 1
        place = "deep" if ".o." in f.path else "arr" if "[*]" in f.path else "obj" if "." in f.path else "top"
        cover[("type", name, f.type)] += 1
        cover[("place", name, place)] += 1
        for c, k in _slots(out, _segments(f.path)):
            if k not in c:
                continue
            outcome = "token" if c[k] == TOKEN else "shaped"
            for attr in REGISTRY[name].params:
                if PARAMS[attr].in_effect(p):
                    cover[("param", name, attr, getattr(p, attr), outcome)] += 1


def test_every_registered_action_and_parameter_has_a_strategy():
    """A new action is generated as soon as it is registered; a new parameter must say how."""
    missing = sorted({(a.name, p) for a in REGISTRY.values() for p in a.params if p not in PARAMS})
    assert missing == [], f"no strategy in PARAMS for these actions' parameters: {missing}"
    stale = set(PARAMS) - {p for a in REGISTRY.values() for p in a.params}
    assert stale == set(), f"strategies for parameters no action has: {stale}"
    for ftype in (*FIELD_TYPES, "object", "array"):
        assert {a.name for a in applicable(ftype)} >= {"redact", "drop", "pseudonymise", "mask"}
    assert ALWAYS == tuple(a for a in REGISTRY if a != "drop")  # drop with consent: never kept; refused


def test_the_regex_masks_match_the_values_said_to_match_them():
    """The regex masks' samples are what the coverage counts rely on: anchored and unanchored
    regexes, each rewriting its matching values (numbers as their text) and none of the others."""
    assert {r.regex.startswith("^") for r in REGEX_MASKS} == {True, False}
    for r in REGEX_MASKS:
        for fmt in r.formats:
            rewrite = compile_mask(r.regex, fmt)
            assert all(type(v) is not bool and rewrite(str(v)) is not None for v in r.matching), (r.regex, fmt)
            assert not any(type(v) is not bool and rewrite(str(v)) is not None for v in r.other), (r.regex, fmt)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([None, *REGISTRY]), st.data())
def test_the_generated_pii_is_what_the_parser_makes_of_it(focus, data):
    """Every pii the generator writes is accepted, and means what it was drawn to mean (each
    parameter under the contract key its ``Param`` names)."""
    ftype = data.draw(st.sampled_from([t for t in (*FIELD_TYPES, "object", "array") if focus is None or REGISTRY[focus] in applicable(t)]))
    doc, pii = pii_of(data.draw, ftype, focus)
    contract = parse_contract({"contract": "t", "version": "1", "subject": "uid", "purposes": list(PURPOSES),
                               "consent": {"model": "flag", "field": "consent"},
                               "fields": {"uid": {"type": "string", "required": True, "pii": {"purposes": ["p1"], "action": "pseudonymise",
                                                                          "always": "pseudonymise"}},
                      "consent": {"type": "any"},
                                          "f": {"type": ftype, "pii": doc}}}, "t.yaml")
    assert contract.fields[-1].pii == pii


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(contract_and_records())
def test_fast_path_agrees_with_the_reference_engine(case):
    _agree(case)


@pytest.mark.parametrize("name", [None, *REGISTRY])
def test_the_generated_cases_exercise_every_action_and_parameter(name):
    """The cases as the property above draws them (None), then action by action, cases where the
    action applies to a field of each type it can: the engines agree on them, and they exercised
    what they should. A property that only ever saw declined records, or never a regex mask or an
    age band, would prove nothing about them."""
    cover: Counter = Counter()
    n = 150 + 60 * len(REGISTRY[name].params) if name else 150

    @settings(max_examples=n, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(contract_and_records(name))
    def count(case):
        _agree(case, cover)

    count()
    assert cover["taken"] >= 30 and cover["declined"] >= 30, cover
    if name is None:  # contracts without a fast plan too
        assert cover["no plan"] >= 5, cover
    else:
        assert _gaps(name, cover) == []


def _gaps(name: str, cover: Counter) -> list:
    """What the examples did not exercise enough: the action for lack of consent or with it, on a
    field type it applies to, in a place, or a parameter's values."""
    action = REGISTRY[name]
    gaps = [(role, n) for role in ("lack", "always") if role == "lack" or name in ALWAYS
            if (n := cover[("action", name, role)]) < 10]
    gaps += [("type", t) for t in FIELD_TYPES if action in applicable(t) and not cover[("type", name, t)]]
    gaps += [("place", p) for p in PLACES if not cover[("place", name, p)]]
    for attr in action.params:
        param = PARAMS[attr]
        seen = {o: {k[3] for k in cover if k[:3] == ("param", name, attr) and k[4] == o} for o in ("shaped", "token")}
        if len(seen["shaped"]) < param.shaped or len(seen["token"]) < param.token or not param.also(seen["shaped"]):
            gaps.append((attr, sorted(map(str, seen["shaped"])), sorted(map(str, seen["token"]))))
    return gaps
