"""IBANs in free text: in any case, compact or in groups of four with spaces or dashes
(``GB82 WEST 1234 5698 7654 32``, ``gb82west12345698765432``, ``GB82-WEST-1234-5698-7654-32``;
one separator throughout).

A candidate starts with a country that issues IBANs (the SWIFT registry's, and the countries that
use IBANs nationally) and its check digits, and is checked with ISO 7064 mod-97. Its BBAN must
hold ten digits or more (Norway's, the shortest, has eleven), so that words after a country code
("as66 this will make") are not an account that passed mod-97 by chance. A candidate the regular
expression over-reads (a word after the IBAN) is cut to its longest prefix that checks: one pass
computes mod-97 for every prefix, so a text full of IBAN heads is scanned in linear time. A
candidate that does not check is not skipped over: the next one may start inside it (``fa23 GB82
WEST...``: hex digits before an IBAN).
"""

from __future__ import annotations

import re

Span = tuple[int, int, str, str]

# compact, or in groups of four with one separator throughout (a UUID's 8-4-4-4-12 is no IBAN)
IBAN = re.compile(
    r"[A-Za-z]{2}\d{2}(?:[A-Za-z0-9]{4}){2,7}[A-Za-z0-9]{0,4}"
    r"|[A-Za-z]{2}\d{2}([ -])[A-Za-z0-9]{4}(?:\1[A-Za-z0-9]{4}){1,6}(?:\1[A-Za-z0-9]{1,4})?",
    re.ASCII,
)
HINT = re.compile(r"[A-Za-z]{2}\d\d", re.ASCII)
# the countries of the SWIFT IBAN registry, then those that use IBANs nationally
_COUNTRY_CODES = (
    "AD AE AL AT AZ BA BE BG BH BI BR BY CH CR CY CZ DE DJ DK DO EE EG ES FI FK FO FR GB GE GI GL GR GT HN HR HU"
    " IE IL IQ IS IT JO KW KZ LB LC LI LT LU LV LY MC MD ME MK MN MR MT MU NI NL NO OM PK PL PS PT QA RO RS RU SA"
    " SC SD SE SI SK SM SO ST SV TL TN TR UA VA VG XK YE"
    " AO BF BJ CF CG CI CM CV DZ GA GQ GW IR KM MA MG ML MZ NE SN TD TG"
)
COUNTRIES = frozenset(_COUNTRY_CODES.split())
MIN_DIGITS = 10
_NOT_DIGITS = bytes(range(48)) + bytes(range(58, 256))

# a letter of an IBAN as its number (A = 10 ... Z = 35), for ISO 7064 mod-97
_NUMBERS = {c: str(c - 55) for c in range(65, 91)}


def iban_ok(candidate: str) -> bool:
    """ISO 7064 mod-97 of an IBAN written in any case, compact or grouped with spaces or dashes."""
    s = candidate.replace(" ", "").replace("-", "").upper()
    if not 15 <= len(s) <= 34:
        return False
    moved = (s[4:] + s[:4]).translate(_NUMBERS)
    # anything but ASCII digits and letters left over ("$"): not an IBAN
    return moved.isascii() and moved.isdigit() and int(moved) % 97 == 1


def _longest(cand: str) -> int:
    """The length of the longest prefix of ``cand`` (a match of IBAN) that is an IBAN with ten
    digits or more in its BBAN, or 0. The country and check digits go after the BBAN for mod-97:
    with ``r`` the BBAN prefix's remainder, the whole is ``r * 10**6 + tail``."""
    tail = int(_NUMBERS[ord(cand[0].upper())] + _NUMBERS[ord(cand[1].upper())] + cand[2:4])
    r = n = digits = best = 0
    for i in range(4, len(cand)):
        c = cand[i]
        if c == " " or c == "-":
            continue
        if c <= "9":
            r = (r * 10 + ord(c) - 48) % 97
            digits += 1
        else:
            r = (r * 100 + ord(c.upper()) - 55) % 97
        n += 1
        if 11 <= n <= 30 and digits >= MIN_DIGITS and (r * 1_000_000 + tail) % 97 == 1:
            best = i + 1
    return best


def at(text: str, h: int) -> Span | None:
    """The IBAN that starts at ``h`` (where HINT matches), or None."""
    if text[h:h + 2].upper() not in COUNTRIES or (h and text[h - 1].isalnum()):
        return None
    m = IBAN.match(text, h)
    if m is None:
        return None
    cand = m.group()
    if iban_ok(cand) and len(cand.encode("ascii").translate(None, _NOT_DIGITS)) - 2 >= MIN_DIGITS:
        end = m.end()  # the common case: the match is the IBAN
    else:
        longest = _longest(cand)
        if not longest:
            return None
        end = h + longest
    if end < len(text) and text[end].isalnum():
        return None
    return h, end, "iban", f"[IBAN {cand[:2].upper()}**]"
