"""Numbers in free text: which runs of digits are an SSN, a payment card, an IPv4 address or a
phone number, and which are ordinary numbers (order ids, dates, amounts, versions) to leave alone.

The scanner (``detectors.py``) finds runs of the characters numbers are written with (digits,
spaces, ``-``, ``.``, ``(``, ``)``, ``+``; in its view of the text, where look-alike spaces,
dashes and digits read as these) and an optional extension (``x123``, ``ext. 123``);
``run_spans`` decides what each run holds. A run without spaces is one token, classified whole. A
run with spaces may hold several numbers side by side ("123-45-6789 555-123-4567", a card and its
CVV) or one number written in groups ("+33 6 12 34 56 78"): its space-separated tokens are cut
into the segments that cover the most digits with findings, each segment classified on its own.

The shapes are the ones numbers are written in, checked where a check exists:
* SSN: ``123-45-6789`` or ``123 45 6789`` with the SSA's rules (IRS ITINs, same shape: ``[TIN]``),
  or nine digits, or groups with dots or slashes, with a label before them (``SSN 123456789``,
  ``ssn#123456789``, ``SSN#123.45.6789``, ``ssn=123/45/6789``, ``social security number:
  123456789``): without a label nine digits are an order number, ``123.45.6789`` a version as
  often. Glued to a word, only its dashes or a label make it an SSN (``ID123-45-6789``,
  ``SSN123456789``, ``SSN123 45 6789``): ``AB12345678`` is a product code.
* card: 12 to 19 digits (Maestro numbers start at 12), bare or in groups of four (Amex and
  Diners: 4-6-5, 4-6-4) apart by spaces, dashes or dots, Luhn-checked.
* IPv4: four dotted octets.
* phone: an international prefix (``+44``, ``0044``, ``+44 (0)``, ``(+44)``) and digit groups
  separated by one space or dash (or only by dots), 7 to 15 digits; or, without one, 10 to 15
  digits grouped as national numbers are: a trunk "0" or an area code in parentheses first, then
  groups of two digits or more (``0113 496 0123``, ``(0406)-812415``, ``06 12 34 56 78``), or
  North America's 3-3-4 (``555.123.4567``, ``1-800-555-0123``), China's 3-4-4, India's 5-5,
  Mexico's 2-4-4. ISBNs, versions, ids (``ORD-2026-0048213``) and numbers side by side in a
  sentence do not fit; a date is never part of one. The extension, if any, is masked with the
  number and not counted.
A bare run of 10 to 15 digits is a phone number too (``2125550123``, an MSISDN), unless it is a
card: numbers that long are masked, on the side of caution.
"""

from __future__ import annotations

import ipaddress
import re

Span = tuple[int, int, str, str]  # start, end, kind, replacement

MAX_SEGMENT_TOKENS = 8  # "+33 (0) 6 12 34 56 78" has seven tokens


_DOUBLED = bytes.maketrans(b"0123456789", b"0246813579")  # a digit doubled, its digits summed


def luhn_ok(digits: str) -> bool:
    """The Luhn check of a string of ASCII digits (sums of bytes: C loops, no Python one)."""
    b = digits.encode("ascii", "replace")
    return (sum(b[-1::-2]) + sum(b[-2::-2].translate(_DOUBLED)) - 48 * len(b)) % 10 == 0


def itin_ok(candidate: str) -> bool:
    """IRS individual taxpayer numbers share the SSN shape: 9xx-GG-xxxx with these groups."""
    g = int(candidate[4:6])
    return candidate[0] == "9" and (50 <= g <= 65 or 70 <= g <= 88 or 90 <= g <= 92 or 94 <= g <= 99)


def ssn_ok(candidate: str) -> bool:
    """``candidate`` is ``AAA?GG?SSSS`` (any separator)."""
    area, group, serial = candidate[0:3], candidate[4:6], candidate[7:11]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def ip_ok(candidate: str) -> bool:
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        return False
    return True


def _ssn(formatted: str) -> tuple[str, str] | None:
    if ssn_ok(formatted):
        return "ssn", "[SSN]"
    return ("ssn", "[TIN]") if itin_ok(formatted) else None


# The phone grammar (see the module docstring). After an international prefix any digit groups go
# ("+225 21 23 4 56789", "+7 71234 5 67 89"). Without one, a number in groups starts with a trunk
# "0" ("0113 496 0123", "06 12 34 56 78") or an area code in parentheses, and its later groups
# have two digits or more; or it is grouped as national numbers without a trunk prefix are
# (North America 3-3-4 with an optional "1", China 3-4-4, India 5-5, Mexico 2-4-4). Numbers side
# by side in a sentence ("order 4821 7730 1192") rarely fit, nor do ISBNs, versions, ids.
_LATER_GROUPS = r"\d+(?:(?:\.\d{2,})+|(?:[ -]\d{2,})*)"
PHONE = (
    r"(?:(?:\+|00)\d{1,3}|\(\+\d{1,3}\))[ .-]?(?:\(\d{1,5}\)[ .-]?)?\d+(?:(?:\.\d+)+|(?:[ -]\d+)*)"
    r"|\d+"
    r"|(?:\(\d{1,5}\)[ .-]?|0\d*[ .-])" + _LATER_GROUPS +
    r"|(?:1[ .-])?\d{3}[ .-]\d{3}[ .-]\d{4}|1\d\d[ -]\d{4}[ -]\d{4}|[6-9]\d{4}[ -]\d{5}|\d\d[ -]\d{4}[ -]\d{4}"
)

# The shapes a candidate can have, in the order they are told apart: a fullmatch picks the first
# alternative that fits the whole candidate.
_SHAPES = re.compile(
    r"(?P<ssn>\d{3}-\d{2}-\d{4}|\d{3} \d{2} \d{4})"
    r"|(?P<ip>\d{1,3}(?:\.\d{1,3}){3})"
    r"|(?P<date>\d{4}-\d{2}-\d{2}.*)"
    r"|(?P<card>\d{12,19}|\d{4}(?:[ -]\d{4}){2}(?:[ -]\d{1,4}(?:[ -]\d{1,3})?)?|\d{4}[ -]\d{6}[ -]\d{4,5})"
    r"|(?P<nine>\d{9})"
    r"|(?P<phone>" + PHONE + ")",
    re.ASCII | re.DOTALL,
)
_PHONE = re.compile(PHONE, re.ASCII)
# shapes with dots or slashes that no shape above fits, tried only then: a card in dotted groups,
# and an SSN with dots or slashes (only after a label)
_DOTTED = re.compile(
    r"(?P<dotted_ssn>\d{3}([./])\d{2}\2\d{4})"
    r"|(?P<card>\d{4}(?:\.\d{4}){2}(?:\.\d{1,4}(?:\.\d{1,3})?)?|\d{4}\.\d{6}\.\d{4,5})",
    re.ASCII,
)
# a token that is a date (2026-01-15, 15.01.2026, 15.01.26, 15-01-2026): not part of a phone number
# written without an international prefix ("15.01.2026 10.30" is a date and a time)
_DATE_TOKEN = re.compile(
    r"(?:19|20)\d\d([-.])(?:0?[1-9]|1[0-2])\1(?:0?[1-9]|[12]\d|3[01])"
    r"|(?:0?[1-9]|[12]\d|3[01])\.(?:0?[1-9]|1[0-2])\.(?:\d\d)?\d\d"
    r"|(?:0?[1-9]|[12]\d|3[01])-(?:0?[1-9]|1[0-2])-(?:19|20)\d\d",
    re.ASCII,
)
# an SSN label up to four words before nine digits ("SSN 123456789", "ssn#123456789", "social
# security number is 123456789", "SSN on file as 123456789"), with no digit in between: as
# Presidio does, the context tells an SSN from an order number
_SSN_LABEL = re.compile(
    r"(?<![A-Za-z])(?:ssns?|social[ -]?security(?:[ -]?(?:number|num|no|nr|#))?)(?![A-Za-z])"
    r"[^A-Za-z0-9]*(?:[A-Za-z]+[^A-Za-z0-9]+){0,4}\Z",
    re.ASCII | re.IGNORECASE,
)
_LABEL_WINDOW = 64
_TOKEN = re.compile(r"\S+")
_ASCII_DIGITS = b"0123456789"


def digit_count(s: str) -> int:
    """ASCII digits in ``s`` (candidates are ASCII: the finders use re.ASCII)."""
    return len(s) - len(s.encode("ascii", "replace").translate(None, _ASCII_DIGITS))


def labelled(text: str, start: int) -> bool:
    """Is there an SSN label shortly before ``start``?"""
    w0 = max(0, start - _LABEL_WINDOW)
    window = text[w0:start].lower()
    i = window.find("ssn")
    j = window.find("social")
    if i == -1 and j == -1:  # the common case, found with two C searches
        return False
    return _SSN_LABEL.search(text, w0 + min(k for k in (i, j) if k != -1), start) is not None


def may_be_labelled(c: str) -> bool:
    """Is ``c`` a shape that is an SSN only after a label (nine digits, ``390.30.2473``,
    ``390/30/2473``)? (Inlined in ``run_spans``.)"""
    return len(c) == 9 or (len(c) == 11 and c[3] in "./" and c[6] == c[3])


def _glued(text: str, a: int, b: int) -> tuple[str, str] | None:
    """The token ``text[a:b]`` glued to a word: an SSN if its shape says so (``ID390-30-2473``) or
    a label stands before it (``SSN123456789``, ``SSN390.30.2473``); nothing else (``AB12345678``
    is a product code)."""
    c = text[a:b]
    if len(c) == 11 and c[3] == "-" == c[6]:
        return classify(c, phone=False)
    return classify(c, label=True, phone=False) if may_be_labelled(c) and labelled(text, a) else None


def phone_digits_ok(c: str) -> bool:
    """``c`` fits the phone grammar: is its digit count that of a phone number? 10 to 15 digits, or
    7 to 15 after an international prefix (``+290 8999``), 8 to 15 after a bare "00" (``000123456``
    is a zero-padded number)."""
    n = digit_count(c)
    if c[0] == "+" or c[:2] == "(+":
        return 7 <= n <= 15
    if c[:2] == "00" and c[2:3].isdigit():
        return (8 if c.isdigit() else 7) <= n - 2 <= 15
    return 10 <= n <= 15


def classify(c: str, label: bool = False, phone: bool = True) -> tuple[str, str] | None:
    """(kind, replacement) for the candidate ``c`` (a token or a run of tokens), or None.

    ``label``: an SSN label stands before it; ``phone``: it may be a phone number (not when it is
    the tail of an identifier such as ``ORD-2026-0048213``)."""
    if label and len(c) == 11 and c[3] in "./":  # "SSN#031.09.9708": not a number with a trunk "0"
        m = _DOTTED.fullmatch(c)
        if m is not None and m.lastgroup == "dotted_ssn":
            return _ssn(c)
    m = _SHAPES.fullmatch(c)
    if m is None:
        if len(c) < 11 or (c[3] not in "./" and c[4] != "."):
            return None
        m = _DOTTED.fullmatch(c)
        if m is None:
            return None
    shape = m.lastgroup
    if shape == "phone":
        return ("phone", "[PHONE]") if phone and phone_digits_ok(c) else None
    if shape == "ssn":
        return _ssn(c)
    if shape == "card":
        d = c.replace(".", "") if c[4] == "." else c.replace(" ", "").replace("-", "")  # dotted: _DOTTED
        if luhn_ok(d):
            return "card", f"[CARD ****{d[-4:]}]"
        # not a card: digits in groups may still be a phone number
        return ("phone", "[PHONE]") if phone and _PHONE.fullmatch(c) and phone_digits_ok(c) else None
    if shape == "nine":
        return _ssn(f"{c[:3]}-{c[3:5]}-{c[5:]}") if label else None
    if shape == "dotted_ssn":  # 390.30.2473, 390/30/2473: only after a label
        return _ssn(c) if label else None
    if shape == "ip":
        return ("ip", "[IP]") if ip_ok(c) else None
    return None  # a date or a timestamp


def run_spans(text: str, s: int, e: int, x: int, enabled: frozenset) -> list[Span]:
    """Findings in the run ``text[s:e]`` followed by its extension ``text[e:x]`` (``x == e``: none).

    The run starts with a digit, "+" or "(" and ends with a digit."""
    n = len(text)
    if x > e and x < n and (text[x].isalnum() or text[x] == "_"):
        x = e  # the "extension" runs into a word: not one
    if x == e and e < n and (text[e].isalnum() or text[e] == "_"):
        glued_after = True  # the last token is part of a longer word
    else:
        glued_after = False
    while text[s] == "(" and text.count("(", s, e) > text.count(")", s, e):
        s += 1  # "(555-123-4567)": the parenthesis is the text's, not the number's
    # how the run is attached to what precedes it: 0 free, 1 the tail of an identifier ("SKU-",
    # "ORD-2026-": not a phone number), 2 inside a word (only a labelled SSN, "SSN123456789")
    glue = 0
    if s:
        p = text[s - 1]
        if p.isalnum() or p == "_":
            glue = 2
        elif p == "-" and s > 1 and (text[s - 2].isalnum() or text[s - 2] == "_"):
            glue = 1
    cand = text[s:e]
    if " " not in cand:
        if glue == 2 or glued_after:  # only "SSN123456789", "ID390-30-2473"
            c = _glued(text, s, e)
        else:
            n = len(cand)
            c = classify(cand, label=(n == 9 or n == 11 and cand[3] in "./" and cand[6] == cand[3]) and labelled(text, s), phone=glue == 0)
        if c is None or c[0] not in enabled:
            return []
        return [(s, x if c[0] == "phone" else e, c[0], c[1])]
    return _segments(text, s, cand, x, enabled, glue, glued_after)


def _segments(text: str, base: int, cand: str, x: int, enabled: frozenset, glue: int, glued_after: bool) -> list[Span]:
    """The run's tokens cut into the segments that cover the most digits with findings; of two
    cuts that cover as many, the one with the longer first segment (one number in groups rather
    than several numbers)."""
    toks = [(base + t.start(), base + t.end()) for t in _TOKEN.finditer(cand)]
    intl = cand[0] == "+" or cand.startswith(("00", "(+"))
    if not glue and not glued_after and len(toks) <= MAX_SEGMENT_TOKENS and digit_count(cand) <= 19:
        # the common case, a number written in groups: the whole run is one finding, and nothing
        # covers more digits than all of them
        c = classify(cand)
        if c is not None and c[0] in enabled and (
            intl or c[0] != "phone" or ("." not in cand and "-" not in cand)  # a date has them
            or not any(_DATE_TOKEN.fullmatch(text, a, b) for a, b in toks)
        ):
            return [(base, x if c[0] == "phone" else base + len(cand), c[0], c[1])]
    lo, hi = 0, len(toks)
    if glue == 2:
        lo = 1  # the first token belongs to the word before it
    if glued_after:
        hi -= 1
    out: list[Span] = []
    if glue == 2 and "ssn" in enabled:
        c = _glued(text, base, toks[0][1])  # "SSN123456789 ...", "ID390-30-2473 ..."
        if c is not None:
            out.append((base, toks[0][1], c[0], c[1]))
        elif hi >= 3 and toks[2][1] - base == 11 and labelled(text, base):
            c = classify(text[base:toks[2][1]], phone=False)  # "SSN390 30 2473"
            if c is not None and c[0] == "ssn":
                out.append((base, toks[2][1], c[0], c[1]))
                lo = 3
    upto = [0]  # digits in toks[:i]
    for a, b in toks:
        upto.append(upto[-1] + digit_count(text[a:b]))
    dates = [_DATE_TOKEN.fullmatch(text, a, b) is not None for a, b in toks]
    # covered[i]: the most digits findings can cover in toks[i:hi]; step[i]: the finding that
    # starts there and the token after it, or None (toks[i] is left as it is)
    covered = [0] * (hi + 1)
    step: list[tuple[Span, int] | None] = [None] * (hi + 1)
    for i in range(hi - 1, lo - 1, -1):
        covered[i] = covered[i + 1]
        a = toks[i][0]
        intl = text[a] == "+" or text.startswith(("00", "(+"), a)
        for k in range(min(hi, i + MAX_SEGMENT_TOKENS) - 1, i - 1, -1):  # the longest first
            total = upto[k + 1] - upto[i]
            if total > 19 or total + covered[k + 1] <= covered[i] or upto[k + 1] == upto[k]:
                continue  # longer than a 19-digit card; cannot cover more; ends with no digit
            b = toks[k][1]
            if k == i and b - a < 7:
                continue  # the shortest finding is seven characters long (an IPv4 address)
            if k > i and (total < (7 if intl else 9) or (not intl and True in dates[i:k + 1])):
                continue  # too few digits for a phone number or a spaced SSN; a date is in no number
            n = b - a  # nine digits, or an SSN with dots or slashes, after a label (may_be_labelled)
            label = k == i and (n == 9 or n == 11 and text[a + 3] in "./" and text[a + 6] == text[a + 3]) and labelled(text, a)
            c = classify(text[a:b], label=label, phone=not (i == 0 and glue))
            if c is None or c[0] not in enabled:
                continue
            covered[i] = total + covered[k + 1]
            end = x if (k == len(toks) - 1 and c[0] == "phone") else b
            step[i] = ((a, end, c[0], c[1]), k + 1)
    i = lo
    while i < hi:
        st = step[i]
        if st is None:
            i += 1
        else:
            out.append(st[0])
            i = st[1]
    if glued_after and "ssn" in enabled:
        c = _glued(text, *toks[-1])  # "... 390-30-2473ID"
        if c is not None:
            out.append((toks[-1][0], toks[-1][1], c[0], c[1]))
    return out
