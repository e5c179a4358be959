"""The policy engine: actions, consent models, validation, selection, provenance, properties."""

import base64
import hashlib
import hmac
import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy.common import (
    INVALID_EVENT_TYPE,
    INVALID_SCHEMA_VERSION,
    MISSING_EVENT_TYPE,
    MISSING_SCHEMA_VERSION,
    TYPE_MISMATCH,
    UNDECLARED_FIELD,
    UNDECLARED_PII,
    UNKNOWN_CONTRACT,
    VALIDATION_FAILED,
    Rejection,
)
from privacy.contract import parse_contract
from privacy.engine import CompiledContract, ContractSet
from privacy.keys import HMAC_CONSTRUCTIONS, Keyring
from tests.conftest import string_values

NOW = "2026-01-15T09:30:00.000Z"
KEYS = Keyring({"v1": b"a" * 32, "v2": b"b" * 32}, "v2")
T = "REDACTED_CONTENT"


def contract(fields, consent=None, purposes=("p1", "p2", "p3"), **extra):
    doc = {
        "contract": "t", "version": "1", "subject": "uid",
        "consent": consent or {"model": "purposes", "field": "consent", "levels": "granular"},
        "purposes": list(purposes),
        "fields": {"uid": {"type": "string", "required": True}, "consent": {"type": "any"}, **fields},
        **extra,
    }
    return CompiledContract(parse_contract(doc, "t.yaml"), T, KEYS)


def run(c, event, raw=None):
    ev = json.loads(json.dumps(event))
    out = c.apply(ev, raw if raw is not None else orjson.dumps(event), NOW)
    return ev, out


def pii(action, **kw):
    return {"purposes": ["p1"], "action": action, **kw}


# ---- actions --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "spec, value, expected",
    [
        ({"mask": "ssn"}, "123-45-6789", "***-**-6789"),
        ({"mask": "ssn"}, "123456789", "***-**-6789"),
        ({"mask": "ssn"}, 123456789, "***-**-6789"),
        ({"mask": "ssn"}, "12-345", T),  # short or malformed: redacted, never half-masked
        ({"mask": "ssn"}, "１２３-45-6789", T),  # unicode digits are not ASCII digits
        ({"mask": "ssn"}, None, T),
        ({"mask": "email"}, "jane.doe@example.com", "j***@example.com"),
        ({"mask": "email"}, "not-an-email", T),
        ({"mask": "email"}, "zoë@exämple.de", "z***@exämple.de"),
        ({"mask": "phone"}, "+1-332-340-4826", "+*-***-***-4826"),
        ({"mask": "phone"}, "12345", T),
        ({"mask": "card"}, "4111 1111 1111 1111", "************1111"),
        ({"mask": "card"}, "4111 1111 1111 1112", T),
        ({"mask": "last4"}, "ABCDEFGH", "****EFGH"),
        ({"mask": "last4"}, "ABC", "***"),
        ({"regex": r"(\d{3})-(\d{2})-(\d{4})", "format": r"***-**-\3"}, "807-83-1104", "***-**-1104"),
        ({"regex": r"(\d{3})-(\d{2})-(\d{4})", "format": r"***-**-\3"}, "8078-3-1104", T),
    ],
)
def test_mask(spec, value, expected):
    c = contract({"f": {"type": "any", "pii": pii("mask", **spec)}})
    ev, _ = run(c, {"uid": "u", "consent": [], "f": value})
    assert ev["f"] == expected


@pytest.mark.parametrize(
    "ftype, spec, value, expected",
    [
        ("date", {"generalise": "year"}, "1990-05-12", "1990"),
        ("datetime", {"generalise": "year"}, "1990-05-12T10:00:00Z", "1990"),
        ("datetime", {"generalise": "day"}, "2026-01-15T09:30:00.123Z", "2026-01-15"),
        ("integer", {"generalise": "age_band"}, 37, "30-39"),
        ("integer", {"generalise": "age_band", "band": 5}, 37, "35-39"),
        ("integer", {"generalise": "age_band"}, -1, T),
        ("string", {"generalise": "prefix", "prefix": 3}, "45255", "452"),
        ("string", {"generalise": "prefix", "prefix": 3}, "SW1A 1AA", "SW1"),
        ("string", {"generalise": "prefix", "prefix": 3}, "452", T),
        ("any", {"generalise": "year"}, "yesterday", T),
    ],
)
def test_generalise(ftype, spec, value, expected):
    c = contract({"f": {"type": ftype, "pii": pii("generalise", **spec)}})
    ev, _ = run(c, {"uid": "u", "consent": [], "f": value})
    assert ev["f"] == expected


def test_redact_whatever_the_type_and_drop():
    c = contract({"a": {"type": "any", "nullable": True, "pii": pii("redact")}, "b": {"type": "any", "pii": pii("drop")}})
    for v in ("x", 1, 2.5, None, [1], {"k": "v"}, True):
        ev, out = run(c, {"uid": "u", "consent": [], "a": v, "b": v} if v is not None else {"uid": "u", "consent": [], "a": v})
        assert ev["a"] == T and "b" not in ev
        assert out.applied["a"] == "redact"


def test_pseudonyms_are_stable_keyed_and_versioned():
    c = contract({"email": {"type": "string", "pii": pii("pseudonymise")}})
    a, _ = run(c, {"uid": "u", "consent": [], "email": "x@y.z"})
    b, _ = run(c, {"uid": "v", "consent": [], "email": "x@y.z"})
    other, _ = run(c, {"uid": "v", "consent": [], "email": "x@y.za"})
    assert a["email"] == b["email"] != other["email"]
    assert a["email"].startswith("v2:") and "x@y.z" not in a["email"] and len(a["email"]) == 3 + 43
    old = CompiledContract(c.contract, T, Keyring({"v1": b"a" * 32}, "v1"))
    ev, _ = run(old, {"uid": "u", "consent": [], "email": "x@y.z"})
    assert ev["email"].startswith("v1:") and ev["email"][3:] != a["email"][3:]
    # HMAC-SHA256 under the current key, URL-safe base64 without padding: joins across systems
    # can recompute it with any HMAC library
    digest = hmac.new(b"b" * 32, b"x@y.z", hashlib.sha256).digest()
    assert a["email"] == "v2:" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@settings(max_examples=200, deadline=None)
@given(key=st.binary(min_size=32, max_size=200), value=st.one_of(st.text(max_size=300), st.integers(), st.none()),
       construction=st.sampled_from(HMAC_CONSTRUCTIONS))
def test_pseudonyms_are_hmac_sha256_for_any_key_and_value(key, value, construction):
    """Either HMAC construction the keyring may choose is HMAC-SHA256 exactly, for keys shorter
    and longer than the hash's 64-byte block."""
    out = Keyring({"k1": key}, "k1", mac=construction).pseudonym(value)
    if value is None:
        assert out is None
        return
    data = value.encode("utf-8") if isinstance(value, str) else json.dumps(value).encode()
    digest = hmac.new(key, data, hashlib.sha256).digest()
    assert out == "k1:" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_always_applies_with_consent_and_action_without():
    c = contract({"uid": {"type": "string", "required": True, "pii": {"purposes": ["p1"], "action": "redact", "always": "pseudonymise"}}})
    with_c, out1 = run(c, {"uid": "user-1", "consent": ["p1"]})
    without, out2 = run(c, {"uid": "user-1", "consent": []})
    assert with_c["uid"].startswith("v2:") and out1.applied == {"uid": "pseudonymise"} and not out1.redacted
    assert without["uid"] == T and out2.redacted and without["data_redacted"] is True
    assert "data_redacted" not in with_c


# ---- consent models ------------------------------------------------------------------------

FIELDS = {"a": {"type": "string", "pii": {"purposes": ["p1"], "action": "redact"}},
          "b": {"type": "string", "pii": {"purposes": ["p2"], "action": "redact"}},
          "c": {"type": "string", "pii": {"purposes": ["p3"], "action": "redact"}},
          "ab": {"type": "string", "pii": {"purposes": ["p1", "p2"], "action": "redact"}}}
EV = {"uid": "u", "a": "A", "b": "B", "c": "C", "ab": "AB"}


@pytest.mark.parametrize(
    "consent, kept",
    [
        (["p1"], {"a"}),
        (["p2", "p1"], {"a", "b", "ab"}),
        ([1], {"b"}),  # purposes may be given by their position
        (["p1", "p2", "p3"], {"a", "b", "c", "ab"}),
        ([], set()),
        (["p1", "nope"], set()),  # an unknown purpose makes the whole consent malformed
        (["p1", 7], set()),
        (["p1", True], set()),
        ("p1", set()),
        (None, set()),
        ({"p1": True}, set()),
    ],
)
def test_granular_purposes(consent, kept):
    c = contract(FIELDS)
    ev, _ = run(c, {**EV, "consent": consent})
    assert {k for k in "a b c ab".split() if ev[k] != T} == kept


@pytest.mark.parametrize("consent, kept", [(["p2"], {"a", "b", "ab"}), ([0], {"a"}), (["p3"], {"a", "b", "c", "ab"}),
                                           (["p1", "p3"], {"a", "b", "c", "ab"})])
def test_cumulative_purposes(consent, kept):
    c = contract(FIELDS, consent={"model": "purposes", "field": "consent", "levels": "cumulative"})
    ev, _ = run(c, {**EV, "consent": consent})
    assert {k for k in "a b c ab".split() if ev[k] != T} == kept


@pytest.mark.parametrize("flag, kept", [(True, True), (False, False), ("true", False), (1, False), (None, False), ([True], False)])
def test_flag_consent(flag, kept):
    c = contract(FIELDS, consent={"model": "flag", "field": "consent"})
    ev, _ = run(c, {**EV, "consent": flag})
    assert (ev["a"] == "A") is kept and (ev["ab"] == "AB") is kept


def test_duplicate_consent_keys_are_no_consent():
    c = contract(FIELDS, consent={"model": "flag", "field": "consent"})
    raw = b'{"uid": "u", "a": "A", "consent": false, "consent": true}'
    ev = orjson.loads(raw)
    c.apply(ev, raw, NOW)
    assert ev["a"] == T


def test_nested_consent_path():
    c = contract({"meta": {"type": "object"}, "meta.purposes": {"type": "array"}, **FIELDS},
                 consent={"model": "purposes", "field": "meta.purposes", "levels": "granular"})
    ev, _ = run(c, {**EV, "meta": {"purposes": ["p1"]}})
    assert ev["a"] == "A" and ev["b"] == T


# ---- nested paths and arrays ---------------------------------------------------------------

NESTED = {
    "order": {"type": "object", "required": True},
    "order.items": {"type": "array", "required": True},
    "order.items[*].sku": {"type": "string", "required": True},
    "order.items[*].note": {"type": "string", "scan": True, "pii": {"purposes": ["p2"], "action": "redact"}},
    "order.items[*].tags": {"type": "array"},
}


def test_arrays_of_objects_are_transformed_item_by_item():
    c = contract(NESTED, scan={"mode": "mask"})
    ev, out = run(c, {"uid": "u", "consent": ["p2"], "order": {"items": [
        {"sku": "a", "note": "gift for jane@x.io"}, {"sku": "b"}, {"sku": "c", "note": "hi", "tags": []}]}})
    items = ev["order"]["items"]
    assert items[0]["note"] == "gift for [EMAIL]" and "note" not in items[1] and items[2]["note"] == "hi"
    assert out.applied == {"order.items[*].note": "scan"} and out.redacted
    ev, out = run(c, {"uid": "u", "consent": [], "order": {"items": [{"sku": "a", "note": "x"}, {"sku": "b", "note": "y"}]}})
    assert [i["note"] for i in ev["order"]["items"]] == [T, T] and out.applied == {"order.items[*].note": "redact"}


@pytest.mark.parametrize(
    "order, reason",
    [
        ({"items": [{"note": "no sku"}]}, VALIDATION_FAILED),
        ({"items": [{"sku": 5}]}, TYPE_MISMATCH),
        ({"items": ["not an object"]}, TYPE_MISMATCH),
        ({"items": {"sku": "a"}}, TYPE_MISMATCH),
        ("order", TYPE_MISMATCH),
        (None, TYPE_MISMATCH),
    ],
)
def test_nested_validation(order, reason):
    c = contract(NESTED)
    with pytest.raises(Rejection) as exc:
        run(c, {"uid": "u", "consent": [], "order": order})
    assert exc.value.reason == reason


@pytest.mark.parametrize(
    "spec, value, reason",
    [
        ({"type": "string", "pattern": "^[A-Z]{2}$"}, "usa", VALIDATION_FAILED),
        ({"type": "string", "enum": ["a", "b"]}, "c", VALIDATION_FAILED),
        ({"type": "integer", "enum": [1, 2]}, True, TYPE_MISMATCH),
        ({"type": "integer", "minimum": 1, "maximum": 3}, 4, VALIDATION_FAILED),
        ({"type": "number", "minimum": 0}, -0.5, VALIDATION_FAILED),
        ({"type": "string", "max_length": 3}, "abcd", VALIDATION_FAILED),
        ({"type": "integer"}, 1.0, TYPE_MISMATCH),
        ({"type": "integer"}, True, TYPE_MISMATCH),
        ({"type": "string"}, 5, TYPE_MISMATCH),
        ({"type": "string"}, None, TYPE_MISMATCH),
        ({"type": "date"}, "2026-02-30", VALIDATION_FAILED),
        ({"type": "datetime"}, "2026-01-15 25:00", VALIDATION_FAILED),
        ({"type": "string", "required": True}, KeyError, VALIDATION_FAILED),
    ],
)
def test_validation(spec, value, reason):
    c = contract({"f": spec})
    ev = {"uid": "u", "consent": []}
    if value is not KeyError:
        ev["f"] = value
    with pytest.raises(Rejection) as exc:
        run(c, ev)
    assert exc.value.reason == reason


def test_nullable_and_optional_fields_pass():
    c = contract({"f": {"type": "string", "nullable": True}, "g": {"type": "integer"}})
    ev, _ = run(c, {"uid": "u", "consent": [], "f": None})
    assert ev["f"] is None


def test_undeclared_fields_drop_keep_reject():
    base = {"uid": "u", "consent": [], "secret_email": "x@y.z"}
    ev, out = run(contract({}), base)
    assert "secret_email" not in ev and out.applied == {"*": "drop_undeclared"}
    ev, _ = run(contract({}, undeclared_fields="keep"), base)
    assert ev["secret_email"] == "x@y.z"
    with pytest.raises(Rejection) as exc:
        run(contract({}, undeclared_fields="reject"), base)
    assert exc.value.reason == UNDECLARED_FIELD


def test_scan_quarantine_mode():
    c = contract({"note": {"type": "string", "scan": True}}, scan={"mode": "quarantine"})
    with pytest.raises(Rejection) as exc:
        run(c, {"uid": "u", "consent": ["p1"], "note": "call 555-867-5309 please"})
    assert exc.value.reason == UNDECLARED_PII
    ev, _ = run(c, {"uid": "u", "consent": ["p1"], "note": "all good"})
    assert ev["note"] == "all good"


def test_scan_off_leaves_text_alone():
    c = contract({"note": {"type": "string", "scan": True}}, scan={"mode": "off"})
    ev, _ = run(c, {"uid": "u", "consent": [], "note": "x@y.io"})
    assert ev["note"] == "x@y.io"


def test_provenance_names_fields_and_actions_only():
    c = contract(FIELDS)
    ev, _ = run(c, {**EV, "consent": ["p1"]})
    assert ev["_privacy"] == {"contract": "t/1", "applied": {"b": "redact", "c": "redact", "ab": "redact"}}
    assert ev["data_redacted"] is True and ev["redacted_at"] == NOW


# ---- selection -----------------------------------------------------------------------------


def _set(**kw):
    a = parse_contract({"contract": "a", "version": "1", "subject": "uid", "consent": {"model": "flag", "field": "ok"},
                        "purposes": ["p"], "fields": {"uid": {"type": "string", "required": True}, "ok": {"type": "any"},
                                                      "event_type": {"type": "any"}, "schema_version": {"type": "any"}}}, "a")
    b = parse_contract({**{"contract": "a", "version": "2", "subject": "uid", "consent": {"model": "flag", "field": "ok"},
                           "purposes": ["p"], "fields": {"uid": {"type": "string", "required": True}, "ok": {"type": "any"},
                                                         "event_type": {"type": "any"}, "schema_version": {"type": "any"}}}}, "b")
    return ContractSet([a, b], keyring=KEYS, **kw)


@pytest.mark.parametrize(
    "event, reason",
    [
        ({"uid": "u"}, MISSING_EVENT_TYPE),
        ({"uid": "u", "event_type": 1}, INVALID_EVENT_TYPE),
        ({"uid": "u", "event_type": "a"}, MISSING_SCHEMA_VERSION),
        ({"uid": "u", "event_type": "a", "schema_version": 1.5}, INVALID_SCHEMA_VERSION),
        ({"uid": "u", "event_type": "a", "schema_version": "3"}, UNKNOWN_CONTRACT),
        ({"uid": "u", "event_type": "b", "schema_version": "1"}, UNKNOWN_CONTRACT),
    ],
)
def test_selection_rejections(event, reason):
    with pytest.raises(Rejection) as exc:
        _set().apply(dict(event), None, NOW)
    assert exc.value.reason == reason


def test_selection_by_type_version_and_defaults():
    s = _set(default_contract="a/1", default_versions={"a": "2"})
    assert s.resolve({"uid": "u"}).ref == "a/1"
    assert s.resolve({"event_type": "a"}).ref == "a/2"
    assert s.resolve({"event_type": "a", "schema_version": 1}).ref == "a/1"
    with pytest.raises(ValueError, match="default contract a/9 is not loaded"):
        _set(default_contract="a/9")


# ---- properties ------------------------------------------------------------------------------

PURPOSES = ("p1", "p2", "p3")
text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=5, max_size=20).map(lambda s: "PII-" + s)


@st.composite
def contract_and_event(draw):
    actions = ["redact", "drop", "pseudonymise", "mask", "generalise"]
    fields, event = {}, {"uid": "subject-" + draw(st.text(min_size=1, max_size=8))}
    n = draw(st.integers(1, 6))
    for i in range(n):
        act = draw(st.sampled_from(actions))
        purposes = draw(st.lists(st.sampled_from(PURPOSES), min_size=1, max_size=3, unique=True))
        spec = {"purposes": purposes, "action": act}
        if act == "mask":
            spec["mask"] = draw(st.sampled_from(["ssn", "email", "phone", "card", "last4"]))
        if act == "generalise":
            spec["generalise"] = "prefix"
            spec["prefix"] = 3
        nested = draw(st.booleans())
        name = f"f{i}"
        if nested:
            fields.setdefault("obj", {"type": "object"})
            fields["obj.items"] = {"type": "array"}
            fields[f"obj.items[*].{name}"] = {"type": "string", "pii": spec}
            event.setdefault("obj", {"items": [{} for _ in range(2)]})
            for item in event["obj"]["items"]:
                item[name] = draw(text)
        else:
            fields[name] = {"type": "string", "pii": spec}
            event[name] = draw(text)
    consent = draw(st.one_of(st.lists(st.sampled_from(PURPOSES), unique=True), st.none(), st.just("p1"), st.lists(st.integers(0, 5))))
    event["consent"] = consent
    return fields, event


def _leaves(fields, event):
    for path, spec in fields.items():
        if "pii" not in spec:
            continue
        parts = path.split(".")
        if len(parts) == 1:
            yield path, spec["pii"], event.get(path)
        else:
            for item in event.get("obj", {}).get("items", []):
                yield path, spec["pii"], item.get(parts[-1])


@settings(max_examples=300, deadline=None)
@given(contract_and_event())
def test_unconsented_values_never_appear_and_consented_ones_stay_intact(ce):
    fields, event = ce
    c = contract(fields)
    ev, out = run(c, event)
    out_text = json.dumps(ev, ensure_ascii=False)
    consent = event["consent"]
    valid = isinstance(consent, list) and all((type(p) is str and p in PURPOSES) or (type(p) is int and 0 <= p < 3) for p in consent)
    consented = {p if type(p) is str else PURPOSES[p] for p in consent} if valid and consent else set()
    ev_leaves = list(_leaves(fields, ev))
    allowed = {v for _p, spec, v in _leaves(fields, event) if set(spec["purposes"]) <= consented}
    for (_path, spec, original), (_, _, now) in zip(_leaves(fields, event), ev_leaves, strict=False):
        if set(spec["purposes"]) <= consented:
            assert now == original  # consented fields come through intact
        else:
            assert now != original
            for s in string_values(original):
                if s not in allowed:  # unless a consented field carries the same value
                    assert s not in out_text  # the value appears nowhere in the output


@pytest.mark.parametrize(
    "ftype, literal, expected",
    [
        ("integer", b"123456789012345678901234567890", 123456789012345678901234567890),
        ("number", b"123456789012345678901234567890", 123456789012345678901234567890),
        ("any", b"-123456789012345678901234567890", -123456789012345678901234567890),
        ("number", b"1e300", 1e300),  # a genuinely large float stays a float, and does not loop
        ("integer", b"42", 42),
    ],
)
def test_big_numbers_are_kept_exact(ftype, literal, expected):
    doc = {"contract": "n", "version": "1", "subject": "uid", "consent": {"model": "flag", "field": "ok"},
           "purposes": ["p"], "fields": {"uid": {"type": "string", "required": True}, "ok": {"type": "any"},
                                          "n": {"type": ftype}}}
    cs = ContractSet([parse_contract(doc, "n")], default_contract="n/1", keyring=KEYS)
    raw = b'{"uid": "u", "ok": true, "n": ' + literal + b"}"
    ev = orjson.loads(raw)
    cs.apply(ev, raw, NOW)
    assert ev["n"] == expected and type(ev["n"]) is type(expected)


# ---- review findings, pinned ----------------------------------------------------------------


def test_phone_mask_redacts_values_that_are_not_just_a_phone_number():
    c = contract({"f": {"type": "string", "pii": pii("mask", mask="phone")}})
    ev, _ = run(c, {"uid": "u", "consent": [], "f": "Jane Roe <jane@example.com> 555-123-4567"})
    assert ev["f"] == T


def test_forgetting_the_memo_changes_no_pseudonym():
    c = contract({"email": {"type": "string", "pii": pii("pseudonymise")}})
    before, _ = run(c, {"uid": "u", "consent": [], "email": "x@y.z"})
    assert KEYS.pseudonyms
    KEYS.forget()
    assert not KEYS.pseudonyms
    after, _ = run(c, {"uid": "u", "consent": [], "email": "x@y.z"})
    assert after["email"] == before["email"]


def _phone_mask_spec(s):
    """The phone mask's rule, written plainly: only digits and separators, then perhaps an
    extension ("x", "ext" or "ext." in any case, 1 to 6 digits, spaces around); at least 7 digits
    before the extension; every digit but the number's last four starred, the extension's too."""
    i = next((k for k, ch in enumerate(s) if ch in "xXeE"), len(s))
    number, ext = s[:i], s[i:]
    if not set(number) <= set("0123456789 ().-+/"):
        return T
    if ext:
        low = ext.lower()
        marker = "ext." if low.startswith("ext.") else "ext" if low.startswith("ext") else "x" if low.startswith("x") else None
        digits = ext[len(marker):].strip(" ") if marker else ""
        if not (1 <= len(digits) <= 6 and set(digits) <= set("0123456789")):
            return T
    positions = [i for i, ch in enumerate(number) if "0" <= ch <= "9"]
    if len(positions) < 7:
        return T
    keep_from = positions[-4]
    star = "".maketrans("0123456789", "*" * 10)
    return number[:keep_from].translate(star) + number[keep_from:] + ext.translate(star)


_PHONE_TEXT = st.text(alphabet=st.sampled_from("0123456789 ().-+x/etE*٣aX"), max_size=24)
_PHONE_WITH_EXTENSION = st.builds(
    lambda number, sp1, marker, sp2, ext, sp3: number + sp1 + marker + sp2 + ext + sp3,
    st.text(alphabet=st.sampled_from("0123456789 ().-+"), max_size=18), st.sampled_from(["", " "]),
    st.sampled_from(["x", "X", "ext", "ext.", "Ext.", "EXT", "e", "xt"]), st.sampled_from(["", " ", "  "]),
    st.text(alphabet=st.sampled_from("0123456789"), max_size=8), st.sampled_from(["", " ", "a"]),
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(_PHONE_TEXT, _PHONE_WITH_EXTENSION))
def test_phone_mask_matches_its_rule(value):
    c = contract({"f": {"type": "string", "pii": pii("mask", mask="phone")}})
    ev, _ = run(c, {"uid": "u", "consent": [], "f": value})
    assert ev["f"] == _phone_mask_spec(value)


@pytest.mark.parametrize(
    "value, masked",
    [
        ("+1-914-256-7627x43847", "+*-***-***-7627x*****"),  # the last four are the number's, not the extension's
        ("001-725-746-7810x329", "***-***-***-7810x***"),
        ("(555)123-4567 ext. 12", "(***)***-4567 ext. **"),
        ("+44(0)113 496 0123", "+**(*)*** *** 0123"),
        ("555-123-4567 x", T),  # an extension without digits: not a phone number
        ("555-123-4567x1234567", T),  # seven digits: not an extension
    ],
)
def test_phone_mask_keeps_the_last_four_digits_of_the_number_not_of_the_extension(value, masked):
    c = contract({"f": {"type": "string", "pii": pii("mask", mask="phone")}})
    ev, _ = run(c, {"uid": "u", "consent": [], "f": value})
    assert ev["f"] == masked


def test_undeclared_case_variants_of_declared_fields_are_refused_under_keep():
    c = contract({"email": {"type": "string", "pii": pii("redact")}}, undeclared_fields="keep")
    with pytest.raises(Rejection) as exc:
        run(c, {"uid": "u", "consent": [], "email": "a@b.c", "Email": "a@b.com"})
    assert exc.value.reason == UNDECLARED_FIELD
    ev, _ = run(c, {"uid": "u", "consent": [], "email": "a@b.c", "other": 1})
    assert ev["other"] == 1 and ev["email"] == T


@pytest.mark.parametrize("model, value", [("flag", {"email": "z@b.com"}), ("flag", "yes z@b.com"),
                                          ("purposes", ["p1", {"email": "z@b.com"}])])
def test_a_malformed_consent_value_is_itself_redacted(model, value):
    consent = {"model": "flag", "field": "consent"} if model == "flag" else None
    c = contract(FIELDS, consent=consent)
    ev, out = run(c, {**EV, "consent": value})
    assert ev["consent"] == T and out.applied["consent"] == "redact" and "z@b.com" not in json.dumps(ev)


def test_fields_may_be_listed_children_first():
    c = contract({"addr.street": {"type": "string", "pii": pii("redact")}, "addr": {"type": "object"}})
    ev, _ = run(c, {"uid": "u", "consent": [], "addr": {"street": "1 Main St"}})
    assert ev["addr"]["street"] == T


def test_enum_on_an_any_field_given_a_list_is_a_validation_failure():
    c = contract({"f": {"type": "any", "enum": ["a", 1]}})
    with pytest.raises(Rejection) as exc:
        run(c, {"uid": "u", "consent": [], "f": ["a"]})
    assert exc.value.reason == VALIDATION_FAILED


def test_pseudonymising_a_big_integer():
    c = contract({"n": {"type": "integer", "pii": pii("pseudonymise")}})
    raw = b'{"uid": "u", "consent": [], "n": 123456789012345678901234567890}'
    s = ContractSet([c.contract], default_contract="t/1", keyring=KEYS)
    ev = orjson.loads(raw)
    s.apply(ev, raw, NOW)
    assert ev["n"].startswith("v2:")


def test_unknown_type_is_an_unknown_contract_even_without_a_version():
    with pytest.raises(Rejection) as exc:
        _set().apply({"uid": "u", "event_type": "nope"}, None, NOW)
    assert exc.value.reason == UNKNOWN_CONTRACT
