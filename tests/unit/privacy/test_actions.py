"""The actions registry: one entry per action, and a memo rule derived from its parameters, so two
fields share remembered outputs only if their actions cannot differ."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from privacy.actions import KEYED, REGISTRY
from privacy.contract import ACTIONS, Pii

TOKEN = "REDACTED_CONTENT"
PIIS = st.builds(
    Pii,
    purposes=st.just(("p",)),
    action=st.sampled_from(ACTIONS),
    mask=st.sampled_from([None, "ssn", "email", "phone", "card", "last4"]),
    mask_regex=st.sampled_from([None, r"^(\d{3})-?(\d{2})-?(\d{4})$", r"^(.)(.*)$"]),
    mask_format=st.sampled_from([r"\1", r"***-**-\3", r"\2"]),
    generalise=st.sampled_from([None, "year", "day", "age_band", "prefix"]),
    band=st.integers(1, 100),
    prefix=st.integers(1, 100),
)
VALUES = ["123-45-6789", "jane.doe@example.com", "+1-914-256-7627x43", "4111 1111 1111 1111", "1980-02-29",
          "1980-02-29T10:00:00Z", "SW1A 1AA", 42, 17.5, None, "", "x"]


def test_every_contract_action_is_registered_once():
    assert tuple(REGISTRY) == ACTIONS


@settings(max_examples=500, deadline=None)
@given(PIIS, PIIS, st.sampled_from(["mask", "generalise", "redact"]),
       st.sampled_from(["mask", "mask_regex", "mask_format", "generalise", "band", "prefix"]))
def test_equal_rules_mean_equal_outputs(a, other, name, attribute):
    """The memo of a pure action is keyed by its rule. Two configurations that differ in one
    attribute and have the same rule must give the same outputs: a parameter missing from the
    action's ``params`` would let two different rules share outputs, and this fails."""
    action = REGISTRY[name]
    a = Pii(**{**a.__dict__, "action": name})
    b = Pii(**{**a.__dict__, attribute: getattr(other, attribute)})
    if action.rule(a, TOKEN) != action.rule(b, TOKEN):
        return
    fa, fb = _build(action, a), _build(action, b)
    if fa is None or fb is None:
        return
    for v in VALUES:
        assert _call(fa, v) == _call(fb, v), (name, attribute, v)


def _build(action, pii):
    try:
        return action.build(pii, TOKEN)
    except Exception:  # noqa: BLE001 - a parameter set the contract parser would refuse
        return None


def _call(fn, v):
    try:
        return fn(v)
    except Exception as exc:  # noqa: BLE001 - both must fail alike
        return type(exc)


def test_keyed_actions_read_the_port_and_are_never_built_with_a_key():
    assert REGISTRY["pseudonymise"].keyed and not REGISTRY["pseudonymise"].pure
    assert REGISTRY["pseudonymise"].build(Pii(purposes=("p",), action="pseudonymise"), TOKEN) is KEYED
    assert REGISTRY["drop"].build(Pii(purposes=("p",), action="drop"), TOKEN) is None
