"""The detectors against values written to slip past them: look-alike separators (non-breaking and
other Unicode spaces, tabs, newlines, Unicode hyphens and dashes, dots), digits of other scripts
(full-width, Arabic-Indic, Devanagari...), zero-width characters inside, labels glued on, lower and
mixed case, obfuscated and full-width e-mail addresses. Each is drawn with hypothesis from Faker's
values (the strategies of ``test_detectors.py``), embedded in prose, and must be masked whole."""

import re
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from privacy.detectors import Scanner
from privacy.textview import FORMAT, TABLE, view
from tests.unit.privacy.test_detectors import (
    _MASKS,
    _WORDS,
    VALUES,
    cards,
    emails,
    ibans,
    phones,
    ssns,
)

S = Scanner()

SPACES = ["\u00a0", "\u202f", "\u2009", "\u2007", "\u3000", "\u205f", "\t", "\n", "\r\n", "\v", "\f"]
DASHES = ["\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2015", "\u2212", "\ufe63", "\uff0d", "\u2043"]
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\xad", "\u200e", "\u202c"]
# the zero of a few scripts' digits: full-width, Arabic-Indic, extended Arabic-Indic, Devanagari,
# Bengali, Thai, Myanmar, mathematical bold
DIGIT_ZEROS = [0xFF10, 0x660, 0x6F0, 0x966, 0x9E6, 0xE50, 0x1040, 0x1D7CE]


def _fullwidth(v: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else "\u3000" if c == " " else c for c in v)


@st.composite
def disguised(draw, value: str, separators: str = " -") -> tuple[str, str]:
    """``value`` in disguise, and the disguise's name: its spaces or dashes read otherwise, its digits
    in another script, written full-width, or zero-width characters put inside it."""
    how = draw(st.sampled_from(["spaces", "dashes", "digits", "full-width", "zero-width"]))
    if how == "spaces" and " " in separators:
        return how, "".join(draw(st.sampled_from(SPACES)) if c == " " else c for c in value)
    if how == "dashes" and "-" in separators:
        return how, "".join(draw(st.sampled_from(DASHES)) if c == "-" else c for c in value)
    if how == "digits":
        zero = draw(st.sampled_from(DIGIT_ZEROS))
        return how, "".join(chr(zero + int(c)) if "0" <= c <= "9" else c for c in value)
    if how == "full-width":
        return how, _fullwidth(value)
    out = list(value)
    for _ in range(draw(st.integers(1, 3))):  # inside the value, not at its edges
        out.insert(draw(st.integers(1, len(out) - 1)), draw(st.sampled_from(ZERO_WIDTH)))
    return "zero-width", "".join(out)


@st.composite
def phone_variants(draw):
    return "", draw(disguised(draw(phones())))[1]


@st.composite
def ssn_variants(draw):
    """Labelled SSNs with dots or slashes and "#" or "=" after the label; dashed SSNs glued to a
    word (or a label); and SSNs in disguise."""
    label, v = draw(ssns())
    form = draw(st.sampled_from(["labelled dots or slashes", "glued", "disguised", "disguised"]))
    if form == "glued" and v.count("-") == 2:
        return draw(st.sampled_from(["ID", "No", "nr", "SSN", "ssn:", "SSN#"])), v
    digits = v.replace("-", "").replace(" ", "")
    if form == "labelled dots or slashes" and len(digits) == 9 and not label:
        sep = draw(st.sampled_from("./"))
        return draw(st.sampled_from(["SSN#", "ssn=", "SSN: ", "ssn ", "social security number "])), sep.join(
            (digits[:3], digits[3:5], digits[5:])
        )
    return label, draw(disguised(v))[1]


@st.composite
def card_variants(draw):
    """Cards in groups separated by dots, Unicode spaces, tabs or newlines; or in disguise."""
    v = draw(cards())
    if draw(st.booleans()):
        d = v.replace(" ", "").replace("-", "")
        groups = [d[:4], d[4:10], d[10:]] if len(d) in (14, 15) and d[0] == "3" else [d[i : i + 4] for i in range(0, len(d), 4)]
        sep = draw(st.sampled_from([".", "\u00a0", "\t", "\n", "\r\n", "\u2009", "\u202f"]))
        return "", sep.join(groups)
    return "", draw(disguised(v))[1]


@st.composite
def iban_variants(draw):
    """IBANs in lower or mixed case, compact, spaced or dashed; or in disguise."""
    v = draw(ibans()).replace(" ", "")
    case = draw(st.sampled_from(["lower", "mixed", "upper"]))
    if case == "lower":
        v = v.lower()
    elif case == "mixed":
        v = "".join(c.lower() if draw(st.booleans()) else c for c in v)
    sep = draw(st.sampled_from(["", " ", "-"]))
    v = sep.join(v[i : i + 4] for i in range(0, len(v), 4)) if sep else v
    return "", draw(disguised(v))[1] if draw(st.booleans()) else v


_AT_MARKS = ["(at)", "[at]", " (at) ", " [at] ", "{at}", "<at>", "(AT)", " [ at ] ", "(@)", "@", " at "]
_DOT_MARKS = ["(dot)", "[dot]", " (dot) ", " [dot] ", "(DOT)", " [ dot ] ", "{dot}"]


@st.composite
def email_variants(draw):
    """Addresses obfuscated: "at" in brackets (or the word "at", then "dot" in brackets), each dot of
    the domain (and perhaps of the local part) as "(dot)" and the like; full-width; upper case."""
    v = draw(emails())
    if v.startswith('"') or draw(st.integers(0, 3)) == 0:
        return "", _fullwidth(v) if draw(st.booleans()) else v.upper()
    local, _, domain = v.partition("@")
    at = draw(st.sampled_from(_AT_MARKS))
    dot = draw(st.sampled_from(_DOT_MARKS))
    if at.strip() == "@" or at == " at " or draw(st.booleans()):
        domain = domain.replace(".", dot)  # "@" or the word "at": the dots must be obfuscated
    if draw(st.booleans()):
        local = local.replace(".", dot)
    return "", f"{local}{at}{domain}"


VARIANTS = {"phone": phone_variants(), "ssn": ssn_variants(), "card": card_variants(), "iban": iban_variants(), "email": email_variants()}


def _left_over(masked: str) -> tuple[list[str], bool]:
    """Digits of any script, and "@" (plain or full-width), outside the masks."""
    rest = _MASKS.sub(" ", masked)
    return re.findall(r"\d+", rest), "@" in rest or "\uff20" in rest


@pytest.mark.parametrize("detector", list(VARIANTS))
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_no_value_in_disguise_survives_in_prose(detector, data):
    before, (label, value), after = data.draw(_WORDS), data.draw(VARIANTS[detector]), data.draw(_WORDS)
    head = f"{before} {label}" if before else label
    text = f"{head}{value} {after}"
    masked, kinds = S.mask(text)
    assert _left_over(masked) == ([], False)
    # masked whole, and nothing else touched: the prose, one mask where the value was
    assert masked.startswith(head) and masked.endswith(f" {after}") and _MASKS.fullmatch(masked[len(head) : len(masked) - len(after) - 1])
    assert len(kinds) == 1


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(list(VALUES)), min_size=2, max_size=4),
    st.sampled_from([" ", ", ", " or ", "; call ", "\n", "\u00a0"]),
    st.data(),
)
def test_values_in_disguise_side_by_side_are_all_masked(detectors, joint, data):
    """Several values, most in disguise, in one text: every one is masked."""
    parts = [data.draw(st.one_of(VARIANTS[d], VARIANTS[d], VALUES[d]) if d in VARIANTS else VALUES[d]) for d in detectors]
    text = "note: " + joint.join(label + value for label, value in parts) + "."
    masked, kinds = S.mask(text)
    assert _left_over(masked) == ([], False)
    # no word of an address either (numbers side by side may be masked as fewer findings:
    # "068-47-0606 068 47 0606" reads as phone numbers with a trunk "0", masked all the same)
    words = {w for d, (_label, v) in zip(detectors, parts, strict=True) if d == "email" for w in re.findall(r"[^\W\d_]+", v)}
    rest = set(re.findall(r"[^\W\d_]+", _MASKS.sub(" ", masked)))
    assert not {w for w in words if w.lower() not in ("note", "dot", "at")} & rest
    assert 1 <= len(kinds) <= len(parts)


@pytest.mark.parametrize(
    "text, masked, kinds",
    [
        # the hostile tester's examples: look-alike separators and digits, labels, case, obfuscation
        ("call 914\u00a0256\u00a07627 now", "call [PHONE] now", ("phone",)),
        (
            "call +1\u2011914\u2011256\u20117627, +1\u2010914\u2012256\u20137627, +1\u2014914\u2015256\u22127627",
            "call [PHONE], [PHONE], [PHONE]",
            ("phone",) * 3,
        ),
        ("SSN#390.30.2473, ssn=390/30/2473 and ID390-30-2473", "SSN#[SSN], ssn=[SSN] and ID[SSN]", ("ssn",) * 3),
        ("ssn 390-30\u200b-2473 or 3\u200b90-30-2473", "ssn [SSN] or [SSN]", ("ssn", "ssn")),
        (
            (
                "ssn \uff13\uff19\uff10-\uff13\uff10-\uff12\uff14\uff17\uff13 and \u0663\u0669\u0660-\u0663\u0660-\u0662\u0664\u0667\u0663"
                " and \u06f3\u06f9\u06f0 \u06f3\u06f0 \u06f2\u06f4\u06f7\u06f3"
            ),
            "ssn [SSN] and [SSN] and [SSN]",
            ("ssn",) * 3,
        ),
        (
            "card 4111.1111.1111.1111; 4111\u00a01111\u00a01111\u00a01111; 4111\t1111\t1111\t1111; 4111\n1111\r\n1111\n1111",
            "card [CARD ****1111]; [CARD ****1111]; [CARD ****1111]; [CARD ****1111]",
            ("card",) * 4,
        ),
        (
            "iban gb82west12345698765432, GB82-WEST-1234-5698-7654-32 and nl91 abna 0417 1643 00.",
            "iban [IBAN GB**], [IBAN GB**] and [IBAN NL**].",
            ("iban",) * 3,
        ),
        (
            "mail zed(at)example(dot)com, zed [at] example [dot] com or "
            "\uff5a\uff45\uff44\uff20\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45\uff0e\uff43\uff4f\uff4d",
            "mail [EMAIL], [EMAIL] or [EMAIL]",
            ("email",) * 3,
        ),
        (
            "write zed at example (dot) com, ZED(AT)MAIL(DOT)CO(DOT)UK, zed@example[dot]org, john(dot)smith [at] example.com",
            "write [EMAIL], [EMAIL], [EMAIL], [EMAIL]",
            ("email",) * 4,
        ),
        # ... and what they must not turn into
        (
            "look at polka dot dresses, meet at example.com, sold at Amazon.com (see note)",
            "look at polka dot dresses, meet at example.com, sold at Amazon.com (see note)",
            (),
        ),
        (
            "v390.30.2473, order 390.30.2473, 123/45/6789, AB390 30 2473, ID123456789",
            "v390.30.2473, order 390.30.2473, 123/45/6789, AB390 30 2473, ID123456789",
            (),
        ),
        (
            "card 4111.1111.1111.1112 fails luhn, iban gb82west12345698765433 fails mod-97",
            "card 4111.1111.1111.1112 fails luhn, iban gb82west12345698765433 fails mod-97",
            (),
        ),
        (
            "1\u00a0234\u00a0567,89 \u20ac at 10:00\u201312:00 on 2026\u201301\u201315\nQty\t3\tTotal\t45.00",
            "1\u00a0234\u00a0567,89 \u20ac at 10:00\u201312:00 on 2026\u201301\u201315\nQty\t3\tTotal\t45.00",
            (),
        ),
    ],
)
def test_the_hostile_testers_examples_are_masked_whole(text, masked, kinds):
    assert S.mask(text) == (masked, kinds)


# ---- the view's tables against the running Python's Unicode database ----


def test_the_view_reads_every_digit_space_dash_and_invisible_character():
    """Every decimal digit reads as its ASCII digit, every Unicode space as a space, every dash
    as "-", full-width ASCII as ASCII, and every format character is left out. A newer Unicode with
    a new script's digits fails here rather than letting them through."""
    for cp in range(0x80, 0x110000):
        c = chr(cp)
        cat = unicodedata.category(c)
        if cat == "Nd":
            assert TABLE.get(cp) == 0x30 + unicodedata.decimal(c), hex(cp)
        elif cat in ("Zs", "Zl", "Zp"):
            assert TABLE.get(cp) == 0x20, hex(cp)
        elif cat == "Pd":
            assert TABLE.get(cp) == 0x2D, hex(cp)
        elif cat == "Cf":
            assert cp in FORMAT and cp not in TABLE, hex(cp)
        if 0xFF01 <= cp <= 0xFF5E:
            assert TABLE[cp] == cp - 0xFEE0
    assert all(TABLE[ord(c)] == 0x20 for c in "\t\n\v\f\r\x1c\x1d\x1e\x1f")


@given(st.text(alphabet=st.sampled_from(["a", "1", " ", "\r", "\n", "\u200b", "\xad", "\uff11", "\u00a0", "\u2011", "é"]), max_size=40))
def test_the_view_maps_back_to_the_text(text):
    """Each character of the view comes from one character of the text, in order."""
    v, index = view(text)
    if index is None:
        assert len(v) == len(text)
        index = list(range(len(text) + 1))
    assert len(index) == len(v) + 1 and index[-1] == len(text) and index == sorted(set(index))
    assert all(text[index[i]].translate(TABLE) == v[i] for i in range(len(v)))
    left_out = set(range(len(text))) - set(index)
    assert all(ord(text[i]) in FORMAT or (text[i] == "\r" and text[i + 1 : i + 2] == "\n") for i in left_out)
