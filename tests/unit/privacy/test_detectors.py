import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy.detectors import Scanner, iban_ok, luhn_ok

S = Scanner()


@pytest.mark.parametrize(
    "text, masked, kinds",
    [
        ("mail me at jane.doe+x@mail.example.co.uk today", "mail me at [EMAIL] today", ("email",)),
        ("Zoë <zoë@example.com>", "Zoë <[EMAIL]>", ("email",)),  # internationalised addresses too
        ("renée@example.com and john@example.com_", "[EMAIL] and [EMAIL]", ("email", "email")),
        ("ssn 123-45-6789 555-123-4567", "ssn [SSN] [PHONE]", ("ssn", "phone")),
        ("call 555-123-4567 555-987-6543", "call [PHONE] [PHONE]", ("phone", "phone")),
        ("card 4111 1111 1111 1111 123", "card [CARD ****1111] 123", ("card",)),
        ("SSNs: 123-45-6789 987-65-4321", "SSNs: [SSN] [TIN]", ("ssn", "ssn")),  # 9xx-65: an ITIN
        ("ES91 2100 0418 4502 0005 1332 EUR and BE68 5390 0754 7034 PAID", "[IBAN ES**] EUR and [IBAN BE**] PAID", ("iban", "iban")),
        ("ssn 123-45-6789.", "ssn [SSN].", ("ssn",)),
        ("ssn 000-45-6789 666-45-6789 900-45-6789 123-00-6789 123-45-0000", "ssn 000-45-6789 666-45-6789 900-45-6789 123-00-6789 123-45-0000", ()),
        ("call (311)182-4594 or +1-332-340-4826 or 842.935.4769x98608", "call [PHONE] or [PHONE] or [PHONE]", ("phone", "phone", "phone")),
        ("+44 20 7946 0958", "[PHONE]", ("phone",)),
        ("card 4111 1111 1111 1111 ok", "card [CARD ****1111] ok", ("card",)),
        ("card 4111-1111-1111-1111", "card [CARD ****1111]", ("card",)),
        ("card 4111111111111112 fails luhn", "card 4111111111111112 fails luhn", ()),
        ("iban GB82 WEST 1234 5698 7654 32 and DE89370400440532013000", "iban [IBAN GB**] and [IBAN DE**]", ("iban", "iban")),
        # an IBAN failing mod-97 is not an IBAN, but its digit groups still look like a phone
        # number and are masked as one: over-masking is the safe direction
        ("iban GB82 WEST 1234 5698 7654 33 is wrong", "iban GB82 WEST [PHONE] is wrong", ("phone",)),
        ("from 10.0.0.1, 2001:db8::1 and fe80::1", "from [IP], [IP] and [IP]", ("ip", "ip", "ip")),
        ("not ips: 999.1.1.1 and 09:30:00", "not ips: 999.1.1.1 and 09:30:00", ()),
        ("dates 2026-01-15 09:30:00 and 2026-01-15T09:30:00Z stay", "dates 2026-01-15 09:30:00 and 2026-01-15T09:30:00Z stay", ()),
        ("order 123456 and SKU-12345 stay", "order 123456 and SKU-12345 stay", ()),
        ("", "", ()),
        ("no digits, no at-signs here", "no digits, no at-signs here", ()),
    ],
)
def test_mask(text, masked, kinds):
    assert S.mask(text) == (masked, kinds)


def test_only_enabled_detectors_run():
    s = Scanner(["email"])
    assert s.mask("a@b.co and 123-45-6789") == ("[EMAIL] and 123-45-6789", ("email",))
    with pytest.raises(ValueError):
        Scanner(["dna"])


@pytest.mark.parametrize("digits, ok", [("4111111111111111", True), ("4111111111111112", False), ("79927398713", True), ("0", True)])
def test_luhn(digits, ok):
    assert luhn_ok(digits) is ok


@pytest.mark.parametrize("iban, ok", [("GB82WEST12345698765432", True), ("GB82 WEST 1234 5698 7654 32", True), ("GB83WEST12345698765432", False), ("GB82", False), ("GB82WEST1234569876543$", False)])
def test_iban(iban, ok):
    assert iban_ok(iban) is ok


# Text built from the pieces detectors care about, so that near-misses are common.
_PIECES = st.sampled_from([
    " ", "  ", "-", ".", "(", ")", "+", ":", "::", "@", "x", "ext. ", "_", "a", "Zoë", "٣", "１",
    "123-45-6789", "987-65-4321", "555-123-4567", "(555) 987 6543", "+44 20 7946 0958", "4111 1111 1111 1111",
    "4111-1111-1111-1112", "GB82 WEST 1234 5698 7654 32", "DE89370400440532013000", "10.0.0.1", "256.1.1.1",
    "2001:db8::1", "fe80::", "jane.doe@example.com", "x@y", "2026-01-15", "SKU-12345", "Order 42",
])
_TEXT = st.one_of(
    st.lists(_PIECES, max_size=12).map("".join),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80),
)


@settings(max_examples=400, deadline=None)
@given(_TEXT, st.lists(st.sampled_from(["email", "ssn", "phone", "card", "iban", "ip"]), unique=True))
def test_windowed_gates_find_what_the_plain_regular_expressions_find(text, detectors):
    """The scanner's byte-class gates and digit window are an optimisation: same findings."""
    detectors = detectors or ["email", "ssn", "phone", "card", "iban", "ip"]
    fast, plain = Scanner(detectors), Scanner(detectors, windowed=False)
    assert fast.mask(text) == plain.mask(text)
    assert fast.find(text) == plain.find(text)


def _classify_stepwise(c):
    """The numeric candidate's rule, one shape at a time (the scanner tells them apart with one
    regular expression)."""
    import re

    from privacy.detectors import _digits, ip_ok, itin_ok, ssn_ok

    c = c.rstrip(" .-(")
    if re.fullmatch(r"\d{3}-\d{2}-\d{4}", c, re.ASCII):
        return ("ssn", "[SSN]") if ssn_ok(c) else ("ssn", "[TIN]") if itin_ok(c) else None
    if re.fullmatch(r"\d{1,3}(?:\.\d{1,3}){3}", c, re.ASCII):
        return ("ip", "[IP]") if ip_ok(c) else None
    if re.match(r"\d{4}-\d{2}-\d{2}", c, re.ASCII):
        return None
    if re.fullmatch(r"\d(?:[ -]?\d){12,18}", c, re.ASCII):
        d = c.replace(" ", "").replace("-", "")
        if luhn_ok(d):
            return "card", f"[CARD ****{d[-4:]}]"
    if 10 <= _digits(c) <= 15 and re.fullmatch(r"(?:[\d ().+/-]|x|ext\.?)+", c, re.ASCII):
        return "phone", "[PHONE]"
    return None


_NUMERIC_PIECES = st.sampled_from(["1", "4", "9", "0", "123", "4111", " ", "-", ".", "(", ")", "+", "/", "x", "ext.", "ext", "e", "2026-01-15", "١"])


@settings(max_examples=2000, deadline=None)
@given(st.lists(_NUMERIC_PIECES, max_size=14).map("".join))
def test_numeric_candidates_are_classified_by_their_rule(candidate):
    from privacy.detectors import _classify_numeric

    assert _classify_numeric(candidate) == _classify_stepwise(candidate)
