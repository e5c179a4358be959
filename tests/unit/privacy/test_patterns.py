"""Contract patterns run in linear time, and mean what RE2 makes of them on either engine."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import re2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from privacy.contract import ContractError, parse_contract
from privacy.files import load_contract_dir
from privacy.patterns import PatternError, compile_mask, compile_pattern

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = sorted({f.pattern for c in load_contract_dir(ROOT / "contracts") for f in c.fields if f.pattern})
HOSTILE_PATTERN = r"^([A-Za-z]+[ .']*)+$"  # backtracks exponentially on Python's re
RE2_OPTIONS = re2.Options()
RE2_OPTIONS.log_errors = False


def best_time(fn, arg, runs: int = 5) -> float:
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        fn(arg)
        best = min(best, time.perf_counter() - t)
    return best


def hostile_values(n: int = 10_000) -> list[str]:
    return ["a" * n + "!", "0" * n + "!", "A" * n, "-" * n, "a " * (n // 2) + "1", "é" * n, "0" * (n - 1) + "\n"]


def test_the_shipped_patterns_run_on_re_and_a_10kb_hostile_value_takes_under_a_millisecond():
    assert SHIPPED, "the shipped contracts declare patterns"
    for source in SHIPPED:
        p = compile_pattern(source)
        assert p.engine == "re", source  # provably linear: the cheap engine
        for value in hostile_values():
            assert best_time(p.search, value) < 0.001, (source, value[:8])


def test_the_pattern_that_backtracks_exponentially_runs_in_linear_time():
    p = compile_pattern(HOSTILE_PATTERN)
    assert p.engine == "re2"
    # Python's re took 60 s on 30 characters, doubling with each one
    short, long = "a" * 29 + "!", "a " * 10_000 + "!"
    assert best_time(p.search, short) < 0.001
    assert best_time(p.search, long) < 0.02
    assert p.search("Ann O'Neil") is not None and p.search("Ann 0") is None


def test_a_contract_with_that_pattern_scrubs_a_hostile_record_at_once(contracts):
    doc = {"contract": "person", "version": "1", "subject": "name", "purposes": ["p"],
           "consent": {"model": "flag", "field": "ok"},
           "fields": {"name": {"type": "string", "required": True, "pattern": HOSTILE_PATTERN},
                      "ok": {"type": "boolean"}}}
    from privacy.common import Rejection
    from privacy.engine import ContractSet

    cs = ContractSet([parse_contract(doc, "person.yaml")], default_contract="person/1")
    event = {"name": "a" * 40 + "!", "ok": True}
    t = time.perf_counter()
    with pytest.raises(Rejection, match="validation_failed"):
        cs.apply(event, None, "now")
    assert time.perf_counter() - t < 0.5


@pytest.mark.parametrize("source, engine", [
    (r"^[0-9a-f-]{36}$", "re"), (r"^SKU-\d{5}$", "re"), (r"^[a-z]+(-[a-z]+)*$", "re"), (r"^(a|ab)*c", "re"),
    (r"^\w+@\w+\.com$", "re"), (r"^(?:x|y)?z$", "re"),
    (HOSTILE_PATTERN, "re2"), (r"(a*)*b", "re2"), (r"^(a|a)*$", "re2"), (r"^\d+\d+$", "re2"), (r"^a?a$", "re2"),
    (r"^(a?|b?)c$", "re2"), (r"[a-z]+$", "re2"),  # unanchored: every start position would be tried
    (r"^a{,3}$", "re2"), (r"^[[:alpha:]]+$", "re2"), (r"(?i)^ab$", "re2"), (r"^\bab$", "re2"), (r"^\pL+$", "re2"),
])
def test_which_engine_runs_a_pattern(source, engine):
    assert compile_pattern(source).engine == engine


@pytest.mark.parametrize("source, why", [
    (r"^(a)\1$", "invalid escape sequence"), (r"^a(?=b)", "invalid perl operator"), (r"^a{1001}$", "repetition size"),
    ("(", "missing )"), (r"^a\Z", "invalid escape"),
])
def test_a_pattern_re2_refuses_fails_the_contract_naming_the_field(source, why):
    doc = {"contract": "t", "version": "1", "subject": "id", "consent": {"model": "flag", "field": "c"},
           "fields": {"id": {"type": "string", "required": True, "pattern": source}, "c": {"type": "boolean"}}}
    with pytest.raises(ContractError, match=r"t.yaml: fields\.id\.pattern: RE2 cannot compile it \(.*" + re.escape(why)):
        parse_contract(doc, "t.yaml")


def test_max_length_is_checked_before_the_pattern(monkeypatch):
    from privacy import engine, validation
    from privacy.common import Rejection

    calls = []
    real = validation.compile_pattern

    def spy(source):
        p = real(source)
        return type(p)(p.source, lambda v: calls.append(len(v)) or p.search(v), p.engine)

    monkeypatch.setattr(validation, "compile_pattern", spy)
    doc = {"contract": "t", "version": "1", "subject": "id", "consent": {"model": "flag", "field": "c"},
           "fields": {"id": {"type": "string", "required": True, "max_length": 64, "pattern": HOSTILE_PATTERN},
                      "c": {"type": "boolean"}}}
    cs = engine.ContractSet([parse_contract(doc, "t.yaml")], default_contract="t/1")
    with pytest.raises(Rejection, match="validation_failed"):
        cs.apply({"id": "a" * 10_000, "c": True}, None, "now")
    assert calls == []
    cs.apply({"id": "Ann", "c": True}, None, "now")
    assert calls == [3]


def test_regex_masks_rewrite_with_groups_on_re2():
    mask = compile_mask(r"^(\d{3})-?(\d{2})-?(?P<last>\d{4})$", r"***-**-\g<last> (\1)\\")
    assert mask("123-45-6789") == "***-**-6789 (123)\\"
    assert mask("123-45-678") is None
    with pytest.raises(PatternError, match="group '4'"):
        compile_mask(r"^(\d)$", r"\4")
    with pytest.raises(PatternError, match="unknown escape"):
        compile_mask(r"^(\d)$", r"\n\1")
    assert compile_mask(HOSTILE_PATTERN, "x")("a " * 20_000 + "!") is None  # linear, like the checks


# -- the two engines agree -----------------------------------------------------------------------

ATOMS = st.sampled_from(["a", "b", "-", r"\.", "x", r"\d", r"\s", r"\w", "[a-c]", "[^a]", ".", r"[\d-]", "é", r"\n", "[^\\d]"])


def _regex(depth: int = 3):
    if depth == 0:
        return ATOMS
    sub = _regex(depth - 1)
    return st.one_of(
        ATOMS,
        st.tuples(sub, sub).map("".join),
        st.tuples(sub, sub).map(lambda t: f"(?:{t[0]}|{t[1]})"),
        st.tuples(sub, sub).map(lambda t: f"({t[0]}|{t[1]})"),
        st.tuples(sub, st.sampled_from(["*", "+", "?", "{2}", "{1,3}", "{0,2}", "*?", "{2,}"])).map(
            lambda t: f"(?:{t[0]}){t[1]}"),
    )


PATTERNS = st.tuples(st.sampled_from(["^", "", "^"]), _regex(), st.sampled_from(["$", "", "$"])).map("".join)
TEXT = st.text(alphabet="ab-.xc019 \né\tZ_", max_size=12)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PATTERNS, st.lists(TEXT, min_size=1, max_size=8))
def test_re_and_re2_accept_the_same_values(source, texts):
    p = compile_pattern(source)
    rx = re2.compile(source, RE2_OPTIONS)
    for t in texts + [t + "\n" for t in texts]:
        assert (p.search(t) is not None) == (rx.search(t) is not None), (source, t, p.engine)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PATTERNS)
def test_patterns_on_re_stay_linear_on_long_hostile_values(source):
    p = compile_pattern(source)
    for unit in ("a", "ab", "a-", "0", "a ", "x.", "é"):
        value = unit * (20_000 // len(unit)) + "!"
        assert best_time(p.search, value, runs=1) < 0.05, (source, unit, p.engine)
