"""Synth compiles both engines: a contract the fast path cannot run fails synth naming it, unless
it is declared reference-only on purpose."""

from __future__ import annotations

import copy

import pytest

from privacy.contract import parse_contract
from stacks.config import ConfigError, check_contracts

DOC = {"contract": "t", "version": "1", "subject": "uid", "consent": {"model": "flag", "field": "ok"},
       "undeclared_fields": "keep",  # the fast path's Structs cannot keep undeclared fields
       "fields": {"uid": {"type": "string", "required": True}, "ok": {"type": "boolean"}}}


def test_a_contract_the_fast_path_cannot_run_fails_synth_naming_it():
    with pytest.raises(ConfigError, match=r"contracts/t/1.yaml: the fast path cannot run it \(undeclared_fields: keep\); "
                                          r"fix it, or declare it reference-only with 'engine: reference'"):
        check_contracts([parse_contract(DOC, "contracts/t/1.yaml")])


def test_declared_reference_only_it_passes_and_runs_on_the_reference_engine():
    from privacy.engine import ContractSet
    from privacy.scrub import Scrubber

    doc = copy.deepcopy(DOC) | {"engine": "reference"}
    c = parse_contract(doc, "contracts/t/1.yaml")
    check_contracts([c])
    s = Scrubber(ContractSet([c], default_contract="t/1"))
    assert s.fast.plans == {} and "reference-only" in s.fast.unsupported["t/1"]
    scrub = s.batch("now")
    line, _ = scrub(b'{"uid": "u", "ok": true, "extra": 1}')
    assert b'"extra":1' in line and scrub.handed == 1


def test_rotating_the_key_port_recompiles_nothing():
    from privacy.engine import ContractSet
    from privacy.keys import Keyring
    from privacy.scrub import Scrubber

    doc = copy.deepcopy(DOC)
    del doc["undeclared_fields"]
    doc["fields"]["uid"]["pii"] = {"purposes": ["p"], "action": "pseudonymise", "always": "pseudonymise"}
    doc["purposes"] = ["p"]
    s = Scrubber(ContractSet([parse_contract(doc, "t.yaml")], default_contract="t/1",
                             keyring=Keyring({"v1": b"a" * 32}, "v1")))
    plans = dict(s.fast.plans)
    compiled = dict(s.contracts.compiled)
    before, _ = s.batch("now")(b'{"uid": "u", "ok": true}')
    s.rotate(Keyring({"v1": b"a" * 32, "v2": b"b" * 32}, "v2"))
    after, _ = s.batch("now")(b'{"uid": "u", "ok": true}')
    assert b'"uid":"v1:' in before and b'"uid":"v2:' in after
    assert s.fast.plans == plans and s.contracts.compiled == compiled  # the same objects: nothing recompiled
