"""Generated contracts and records for the differential tests of the two engines
(``test_differential.py``), with their actions and parameters drawn from the actions registry.

Each parameter an action declares (``Action.params``) has a ``Param`` here: a strategy for its
value in a contract and for field values that exercise it (ages for an age band, strings around a
prefix's length, values a regex mask matches and does not). A registered action is generated as
soon as it is registered; a parameter without a ``Param`` fails the differential tests.

Strategies are made once per set of arguments (``functools.cache``): making one costs far more
than drawing from it. Weights are given by repetition in ``sampled_from``, never by ``one_of``
(which gives each distinct strategy an equal share) nor by ``integers(0, n) == 0`` (hypothesis
draws small integers far more often than large ones).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from hypothesis import strategies as st

from privacy.actions import REGISTRY
from privacy.contract import GENERALISATIONS, MASKS, TYPES, ContractError, Pii, parse_contract
from privacy.validation import _is_date, _is_datetime

PURPOSES = ("p1", "p2", "p3")
PATTERNS = ("^[a-z]+$", r"\d", "^A", "x$")
FIELD_TYPES = ("string", "integer", "number", "boolean", "date", "datetime", "any")
PLACES = ("top", "top", "obj", "arr", "deep")  # f, obj.f, arr[*].f, arr[*].o.f


def _parses(pii: dict, ftype: str) -> bool:
    doc = {"contract": "t", "version": "1", "subject": "uid", "purposes": list(PURPOSES),
           "consent": {"model": "flag", "field": "consent"},
           "fields": {"uid": {"type": "string", "required": True, "pii": {"purposes": ["p1"], "action": "pseudonymise",
                                                                          "always": "pseudonymise"}},
                      "consent": {"type": "any"},
                      "f": {"type": ftype, "pii": {"purposes": ["p1"], **pii}}}}
    try:
        parse_contract(doc, "probe.yaml")
    except ContractError:
        return False
    return True


# what the parser accepts, asked of the parser: generalisations by field type, actions with consent
GENERALISE_FOR = {t: tuple(g for g in GENERALISATIONS if _parses({"action": "generalise", "generalise": g}, t)) for t in TYPES}
ALWAYS = tuple(a for a in REGISTRY if any(_parses({"action": "redact", "always": a, **least}, "string")
                                          for least in ({}, {"mask": "last4"}, {"generalise": "prefix"})))


@dataclass(frozen=True)
class RegexMask:
    regex: str  # RE2 syntax, with groups
    formats: tuple[str, ...]
    matching: tuple  # values it rewrites (the whole value must match)
    other: tuple  # values it does not match: the token


REGEX_MASKS = (
    RegexMask(r"^(\d{3})-?(\d{2})-?(\d{4})$", (r"***-**-\3",), ("123-45-6789", "123456789", 987654321),
              ("12-345-6789", "123-45-678", "", 12345)),
    RegexMask(r"([^@\s])[^@\s]*@([^@\s]+\.[^@\s]+)", (r"\1***@\2",), ("jane.doe@example.com", "a@b.co"),
              ("jane", "a@b", "x jane@example.com")),
    RegexMask(r"(?P<area>[A-Z]{1,2}[0-9][A-Z0-9]?) ?(?P<unit>[0-9][A-Z]{2})", (r"\g<area> ***", r"\g<unit>\\\g<area>"),
              ("SW1A 1AA", "EC1A1BB", "M1 1AE"), ("sw1a 1aa", "SW1A  1AA", "12345")),
    RegexMask(r"^(-?)([0-9]+)(?:\.([0-9]+))?$", (r"\1\2.\3",), (42, -7, 17.5, "3.14", 0), (1e20, "4.", "", True)),
    RegexMask(r"(a)?(b+)", (r"[\1|\2]", r"<\0>"), ("bb", "abbb", "b"), ("a", "abc", "ba", "")),  # a group that takes no part
    RegexMask(r"^(.)(.*)$", ("\\1\u2026",), ("\u00e9", "\u65e5\u672c\u8a9e", "x", "Jane Doe"), ("", "a\nb")),
    RegexMask(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[T ](.+))?", (r"\3/\2/\1 \4",),
              ("1990-04-01", "2020-02-29", "2026-01-01T10:00:00Z", "2026-01-01 10:00"), ("1990-4-1", "19900401", "2026-01-01X10")),
)
_BY_REGEX = {r.regex: r for r in REGEX_MASKS}
NAMED_MASK_VALUES = {
    "ssn": ("123-45-6789", "123 45 6789", 123456789, "12345", "1234567890", "\u0661\u0662\u0663-45-6789"),
    "email": ("jane.doe@example.com", "a@b.co", "jane", "a@b", "a b@c.d", 5),
    "phone": ("+1-914-256-7627x43847", "(555) 123-4567", "555 123 4567 ext. 12", 5551234567, "555-12", "call me"),
    "card": ("4111 1111 1111 1111", "4111111111111111", 4111111111111111, "4111111111111112", "1234"),
    "last4": ("ab", "abcdefgh", 123456, "", "\u65e5\u672c\u8a9e\u3067\u3059", 1.5, True),
}
DATES = ("1990-04-01", "2020-02-29", "2021-02-29", "1990-4-1", "2026-01-01T10:00:00Z", "2026-01-01 10:00",
         "2026-13-01T10:00:00Z", "nope", 1990)


@cache
def _chance(k: int, n: int) -> st.SearchStrategy[bool]:
    """True k times in n. (Not ``integers(0, n - 1) < k``: hypothesis draws small integers far
    more often than large ones.)"""
    return st.sampled_from([True] * k + [False] * (n - k))


@cache
def _mix(*weighted: tuple[int, st.SearchStrategy]) -> st.SearchStrategy:
    """One of the strategies, each as often as its weight says. (``one_of`` gives each distinct
    strategy an equal share, however often it is repeated.)"""
    return st.sampled_from([s for n, s in weighted for _ in range(n)]).flatmap(lambda s: s)


def _fits(ftype: str, v) -> bool:
    """Does the value pass the field type's check (so that the record is not simply rejected)?"""
    return {"string": type(v) is str, "date": _is_date(v), "datetime": _is_datetime(v), "integer": type(v) is int,
            "number": type(v) in (int, float), "boolean": type(v) is bool, "any": True}.get(ftype, False)


@cache
def _pool(values: tuple, ftype: str):
    fit = [v for v in values if _fits(ftype, v)]
    return st.sampled_from(fit) if fit else None


# (strategies are made once for each set of arguments: making them is what costs, not drawing)
@cache
def _ages(band: int, ftype: str):
    ints = _mix((3, st.integers(0, 130)), (3, st.integers(0, 12).map(lambda k: k * band + (band - 1) * (k % 2))),
                (1, st.integers(-3, -1)))
    if ftype == "integer":
        return ints
    if ftype in ("number", "any"):
        return _mix((3, ints), (2, st.floats(-1, 130, allow_nan=False)), (ftype == "any", st.sampled_from(["42", True])))
    return None


@cache
def _around(n: int, ftype: str):
    """Strings a little shorter and a little longer than the prefix (spaces around count for nothing)."""
    if ftype not in ("string", "any"):
        return None
    # a short text repeated to a length from n - 1 to n + 5 (cheaper to draw than a text that long)
    text = st.tuples(st.text(alphabet="AB1\u00e9 ", min_size=1, max_size=4), st.sampled_from(range(max(0, n - 1), n + 6))).map(
        lambda tk: (tk[0] * (tk[1] // len(tk[0]) + 1))[:tk[1]])
    return _mix((3, text), (1, text.map(lambda s: f" {s} ")), (1, st.sampled_from(["SW1A 1AA", " EC1A 1BB ", "M1", ""])))


@cache
def _regexes(ftype: str):
    """The regex masks some of whose matching values a field of the type can hold (all if none)."""
    fit = [r.regex for r in REGEX_MASKS if any(_fits(ftype, v) for v in r.matching)]
    return st.sampled_from(fit or [r.regex for r in REGEX_MASKS])


@cache
def _formats(regex: str):
    return st.sampled_from(_BY_REGEX[regex].formats)


_OPTIONAL = {n: _mix((1, st.none()), (2, st.integers(lo, 100)), (1, st.sampled_from([lo, lo + 1, 5, 100])))
             for n, lo in (("band", 2), ("prefix", 1))}
# a band or prefix with another generalisation is refused (it would not do what it says)
_UNUSED = {n: st.none() for n in ("band", "prefix")}


@dataclass(frozen=True)
class Param:
    """How generated contracts set one ``Pii`` attribute an action declares in its ``params``,
    and how much of it the coverage test requires the engines to have been compared on."""

    key: str  # its key under a field's pii in a contract
    value: Callable[[str, dict], st.SearchStrategy]  # (field type, the attributes drawn so far) -> value; None: left out
    in_effect: Callable[[Pii], bool]  # does it shape the action's output?
    exercise: Callable[[Pii, str], st.SearchStrategy | None]  # (pii, field type) -> field values that exercise it
    shaped: int  # coverage: distinct values of it that shaped an output (other than the token) ...
    token: int  # ... and that gave the token
    also: Callable[[set], bool] = lambda _shaped: True  # coverage: of the values that shaped an output
    applies: Callable[[str], bool] = lambda _t: True  # to a field of this type


def _regex_values(p: Pii, ftype: str):
    r = _BY_REGEX[p.mask_regex]
    return _pool(r.matching + r.other, ftype)


PARAMS: dict[str, Param] = {
    "mask": Param("mask", lambda _t, _a: _mix((5, st.sampled_from(MASKS)), (4, st.none())),  # None: a regex mask
                  lambda p: p.mask is not None, lambda p, t: _pool(NAMED_MASK_VALUES[p.mask], t) if p.mask else None,
                  shaped=len(MASKS) - 1, token=4),
    "mask_regex": Param("regex", lambda t, a: _regexes(t) if a["mask"] is None else st.none(),
                        lambda p: p.mask_regex is not None, lambda p, t: _regex_values(p, t) if p.mask_regex else None,
                        shaped=4, token=5, also=lambda rs: {r.startswith("^") for r in rs} == {True, False}),  # anchored or not
    "mask_format": Param("format", lambda _t, a: _formats(a["mask_regex"]) if a["mask_regex"] else st.none(),
                         lambda p: p.mask_regex is not None, lambda _p, _t: None, shaped=4, token=0),
    "generalise": Param("generalise", lambda t, _a: _generalisations(t), lambda _p: True,
                        lambda p, t: _pool(DATES, t) if p.generalise in ("year", "day") else None,
                        shaped=len(GENERALISATIONS), token=3, applies=lambda t: bool(GENERALISE_FOR.get(t))),
    "band": Param("band", lambda _t, a: (_OPTIONAL if a["generalise"] == "age_band" else _UNUSED)["band"],
                  lambda p: p.generalise == "age_band", lambda p, t: _ages(p.band, t) if p.generalise == "age_band" else None,
                  shaped=10, token=6),
    # the token is a function of the value (compared byte for byte: the tests fix the nonce)
    "encrypt": Param("encrypt", lambda _t, _a: st.sampled_from([None, "random", "deterministic"]), lambda _p: True,
                     lambda _p, _t: None, shaped=2, token=0),
    "prefix": Param("prefix", lambda _t, a: (_OPTIONAL if a["generalise"] == "prefix" else _UNUSED)["prefix"],
                    lambda p: p.generalise == "prefix", lambda p, t: _around(p.prefix, t) if p.generalise == "prefix" else None,
                    shaped=3, token=5),
}


@cache
def _generalisations(ftype: str):
    """The generalisations the parser accepts on the type: one that another parameter shapes (a
    band, a prefix) the more often, as it has more to exercise."""
    def weight(g):
        pii = Pii(purposes=("p1",), action="generalise", generalise=g)
        return 1 + 2 * sum(PARAMS[n].in_effect(pii) for n in REGISTRY["generalise"].params if n != "generalise")
    return st.sampled_from([g for g in GENERALISE_FOR[ftype] for _ in range(weight(g))])


@cache
def applicable(ftype: str) -> tuple:
    """The registered actions whose parameters all apply to a field of the type."""
    return tuple(a for a in REGISTRY.values() if all(PARAMS[p].applies(ftype) for p in a.params))


@cache
def _actions(ftype: str, always: bool) -> st.SearchStrategy:
    """The action without consent: the more parameters (things to exercise) it has, the more
    often; with consent (``always``), each as often."""
    if always:
        return st.sampled_from([a.name for a in applicable(ftype) if a.name in ALWAYS])
    return st.sampled_from([a.name for a in applicable(ftype) for _ in range(1 + 2 * len(a.params))])


_PURPOSE_SETS = st.lists(st.sampled_from(PURPOSES), min_size=1, max_size=2, unique=True)


def pii_of(draw, ftype: str, focus: str | None = None) -> tuple[dict, Pii]:
    """A field's pii as a contract writes it, and the ``Pii`` the parser must make of it: the
    parameters of its action and of its ``always`` action, drawn from their strategies.
    ``focus``: an action it applies for lack of consent or (half the time, if it can) with it."""
    action = draw(_actions(ftype, False))
    always = draw(_actions(ftype, True)) if draw(_chance(1, 3)) else None
    if focus is not None:
        if focus in ALWAYS and draw(st.booleans()):
            always = focus
        else:
            action = focus
    attrs: dict = {}
    for name in dict.fromkeys(p for a in (action, always) if a for p in REGISTRY[a].params):
        attrs[name] = draw(PARAMS[name].value(ftype, attrs))
    attrs = {n: v for n, v in attrs.items() if v is not None}
    purposes = draw(_PURPOSE_SETS)
    doc = {"purposes": purposes, "action": action, **({"always": always} if always else {}),
           **{PARAMS[n].key: v for n, v in attrs.items()}}
    return doc, Pii(purposes=tuple(purposes), action=action, always=always, **attrs)


# integers beyond 64 bits (which the reference engine's parser reads as floats, then re-reads
# exactly) and floats beyond 2**53
_BIG = st.one_of(st.integers(2**63, 2**70), st.integers(-(2**70), -(2**63)), st.floats(allow_nan=False, allow_infinity=False))
_COMMON = _mix((5, st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(-5, 5, allow_nan=False), st.text(max_size=6))),
               (1, st.one_of(_BIG, st.lists(st.one_of(st.integers(-5, 5), _BIG, st.text(max_size=2)), max_size=2),
                             st.dictionaries(st.text(max_size=2), st.one_of(st.integers(), st.text(max_size=2)), max_size=2))))
_TYPED = {
    "string": st.one_of(st.text(max_size=8), st.sampled_from(["abc", "A1", "x", "ABCx", "123-45-6789", "a@b.co"])),
    "integer": _mix((9, st.integers(-20, 20)), (1, st.integers(2**63, 2**70))),
    "number": _mix((9, st.one_of(st.integers(-20, 20), st.floats(-20, 20, allow_nan=False))), (1, _BIG)),
    "boolean": st.booleans(),
    "date": _mix((10, st.sampled_from(["2020-02-29", "1990-04-01"])),
                 (1, st.sampled_from(["2021-02-29", "1990-4-1", "0000-01-01", "2020-01-01T00:00:00Z"]))),
    "datetime": _mix((10, st.sampled_from(["2026-01-01T10:00:00Z", "2026-01-01 10:00", "2026-01-01T10:00:00.123+02:00"])),
                     (1, st.just("2026-13-01T10:00:00Z"))),
    "any": _COMMON,
}


@cache
def _values(ftype: str, pii: Pii | None):
    """Values of the field's type (now and then of another), and mostly, when it is personal data,
    values that exercise its parameters."""
    exercise = [] if pii is None else [s for a in (pii.action, pii.always) if a for n in REGISTRY[a].params
                                       if (s := PARAMS[n].exercise(pii, ftype)) is not None]
    return _mix((10, _TYPED[ftype]), (1, _COMMON), *[(40 // len(exercise), s) for s in exercise])


def _rarely(draw, ftype, usual=5, for_any=20, scale=1):
    """A constraint now and then; on fields of type any (which the fast path declines to
    constrain) seldom, so that most generated contracts get a fast plan."""
    return draw(_chance(1, 1 + scale * (for_any if ftype == "any" else usual)))


_ENUM_POOLS = {"string": st.text(max_size=3), "integer": st.integers(-3, 3), "number": st.integers(-3, 3),
               "boolean": st.booleans(), "any": st.one_of(st.text(max_size=2), st.integers(-2, 2), st.booleans())}
_ENUMS = {t: st.lists(pool, min_size=1, max_size=4, unique_by=lambda v: (type(v), v)) for t, pool in _ENUM_POOLS.items()}


def field_spec(draw, ftype, focus: str | None = None) -> tuple[dict, Pii | None]:
    """A field's declaration, and the Pii meant by it if it is personal data. Constraints (which
    most values of a parameter's pool would fail) are rarer on personal data, and left out on a
    field with the ``focus`` action."""
    spec: dict = {"type": ftype}
    pii = None
    if focus is not None or draw(_chance(3, 5)):
        spec["pii"], pii = pii_of(draw, ftype, focus)
    if draw(_chance(1, 4)):
        spec["required"] = True
    if draw(_chance(1, 4)):
        spec["nullable"] = True
    if focus is not None:
        return spec, pii
    scale = 1 if pii is None else 4
    if ftype in ("string", "any", "date", "datetime") and _rarely(draw, ftype, 7 if ftype == "string" else 20, scale=scale):
        spec["pattern"] = draw(st.sampled_from(PATTERNS))
    if ftype in _ENUMS and _rarely(draw, ftype, 8 if ftype in ("string", "integer") else 20, scale=scale):
        spec["enum"] = draw(_ENUMS[ftype])
    if ftype in ("integer", "number", "any") and _rarely(draw, ftype, 5, scale=scale):
        spec["minimum"] = draw(st.sampled_from([0, -1.5, 2]))
    if ftype in ("integer", "number", "any") and _rarely(draw, ftype, 5, scale=scale):
        spec["maximum"] = draw(st.sampled_from([10, 3.5, 120]))
    if _rarely(draw, ftype, 6, scale=scale):
        spec["max_length"] = draw(st.sampled_from([1, 3, 12, 40]))
    if ftype == "string" and draw(_chance(1, 6)):
        spec["scan"] = True
    return spec, pii


@dataclass
class Case:
    doc: dict
    raws: list[bytes]
    piis: dict  # path -> the Pii the parser must make of the field's pii


def _types_for(action: str) -> list[str]:
    return [t for t in FIELD_TYPES if REGISTRY[action] in applicable(t)]


@st.composite
def contract_and_records(draw, focus: str | None = None) -> Case:
    """A contract and records for it. ``focus`` (for the coverage test, which needs every action
    and parameter often enough): a field of each type the action applies to is personal data to
    which it applies, and up to two other fields are drawn as usual."""
    fields: dict = {"uid": {"type": "string", "required": True, "pii": {"purposes": ["p1"], "action": "redact", "always": "pseudonymise"}}}
    piis = {"uid": Pii(purposes=("p1",), action="redact", always="pseudonymise")}
    flag = draw(st.booleans())
    consent_path = "consent" if flag or draw(st.booleans()) else "meta.consent"
    if consent_path == "meta.consent":
        fields["meta"] = {"type": "object", "required": draw(st.booleans())}
    fields[consent_path] = {"type": "any"}
    layout = []  # (name, place, required, values)
    focused = draw(st.permutations(_types_for(focus))) if focus else []
    places = draw(st.permutations(sorted(set(PLACES))))
    for i in range(len(focused) + draw(st.sampled_from([0, 1, 2] if focus else [1, 2, 3, 4, 5, 6]))):
        first = focus if i < len(focused) else None
        ftype = focused[i] if first else draw(st.sampled_from(FIELD_TYPES))
        place = places[i % len(places)] if first else draw(st.sampled_from(PLACES))
        if place == "obj":
            fields.setdefault("obj", {"type": "object", "nullable": draw(st.booleans())})
        if place in ("arr", "deep"):
            fields.setdefault("arr", {"type": "array", **({"max_length": 3} if draw(st.booleans()) else {})})
        if place == "deep":
            fields.setdefault("arr[*].o", {"type": "object"})
        path = {"top": f"f{i}", "obj": f"obj.f{i}", "arr": f"arr[*].f{i}", "deep": f"arr[*].o.f{i}"}[place]
        fields[path], pii = field_spec(draw, ftype, first)
        if pii is not None:
            piis[path] = pii
        layout.append((f"f{i}", place, fields[path].get("required", False), _values(ftype, pii)))
    for parent in ("obj", "arr"):  # now and then a parent is personal data too (applied in contract order)
        if parent in fields and draw(_chance(1, 8)):
            fields[parent]["pii"], piis[parent] = pii_of(draw, fields[parent]["type"])
            if draw(st.booleans()):  # declared after its fields (the parser takes any order)
                fields[parent] = fields.pop(parent)
    doc = {
        "contract": "t", "version": "1", "subject": "uid", "purposes": list(PURPOSES), "fields": fields,
        "consent": {"model": "flag", "field": consent_path} if flag else {
            "model": "purposes", "field": consent_path, "levels": draw(st.sampled_from(["granular", "cumulative"]))},
        "scan": {"mode": draw(st.sampled_from(["mask", "quarantine"])) if any(f.get("scan") for f in fields.values()) else "off"},
        "undeclared_fields": draw(st.sampled_from(["drop"] * 6 + ["reject"] * 5 + ["keep"])),
    }
    raws = [_record(draw, layout, consent_path, "flag" if flag else "purposes") for _ in range(draw(st.sampled_from([1, 2, 3, 4, 5, 6])))]
    return Case(doc, raws, piis)


_PURPOSE_LISTS = st.lists(st.sampled_from(PURPOSES), unique=True)
_ODD = st.one_of(st.none(), st.just("yes"), st.lists(st.integers(-1, 4), max_size=3))
# mostly the model's own shape, granting something often enough that ``always`` actions apply
_CONSENTS = {"flag": _mix((3, st.just(True)), (2, st.just(False)), (1, _PURPOSE_LISTS), (1, _ODD)),
             "purposes": _mix((5, _PURPOSE_LISTS), (1, st.booleans()), (1, _ODD))}


def _record(draw, layout, consent_path: str, model: str) -> bytes:
    event: dict = {"uid": draw(st.sampled_from(["u1", "u2", "u3"]))}
    for name, place, required, values in layout:
        if place == "top":
            targets = [event]
        elif place == "obj":
            targets = [event.setdefault("obj", {})]
        else:
            if "arr" not in event:
                event["arr"] = [{} for _ in range(draw(st.sampled_from([0, 1, 1, 2, 3])))]
            targets = event["arr"]
            if place == "deep":
                targets = [t.setdefault("o", {}) for t in targets]
        for t in targets:
            if draw(_chance(19, 20) if required else _chance(4, 5)):
                t[name] = draw(values)
    consent_value = draw(_CONSENTS[model])
    if consent_path == "consent":
        event["consent"] = consent_value
    elif draw(_chance(5, 6)):
        event["meta"] = {"consent": consent_value}
    if draw(_chance(1, 16)):
        event[draw(st.sampled_from(["extra", "UID", "_privacy", "data_redacted"]))] = 1
    if draw(_chance(1, 16)) and event.get("obj") is not None:
        event["obj"] = draw(st.sampled_from([None, [], "x"]))
    raw = json.dumps(event, ensure_ascii=draw(st.booleans())).encode()  # text as \u escapes, or as UTF-8
    if draw(_chance(1, 12)):  # an escaped key, or a key twice (the last one counts)
        key = draw(st.sampled_from(sorted(event)))
        raw = draw(st.sampled_from([raw.replace(b'"', b"\\u0022", 1), raw[:-1] + b',"consent": true}',
                                    raw[:-1] + b"," + json.dumps({key: draw(_COMMON)}).encode()[1:]]))
    return raw


