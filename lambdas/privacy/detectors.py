"""Detectors for personal data that free text should not carry, and their in-place masks.

One combined regular expression finds candidates in a single pass; each candidate is then checked
(Luhn for payment cards, ISO 7064 mod-97 for IBANs, octet ranges for IPv4, ``ipaddress`` for IPv6,
SSA rules for SSNs) so that order numbers and dates are not masked by mistake.

A masked finding keeps only a hint of its shape: ``[EMAIL]``, ``[SSN]``, ``[PHONE]``,
``[CARD ****1111]``, ``[IBAN GB**]``, ``[IP]``; the SSN detector also masks IRS taxpayer numbers
(ITINs, same shape) as ``[TIN]``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Iterable

DETECTORS = ("email", "ssn", "phone", "card", "iban", "ip")

# Candidate finders. Each starts with a character class so the regex engine skips quickly to
# plausible positions; word boundaries are checked in Python, and each candidate is validated.
_NUMERIC = re.compile(r"[+(\d][\d().+ -]{5,30}\d(?:[ ]?(?:x|ext\.?)[ ]?\d{1,6})?", re.ASCII)
_IBAN = re.compile(r"[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?", re.ASCII)
_IPV6 = re.compile(r"[0-9A-Fa-f:]*:[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*")
# the local part of an address, matched backwards from the "@" on the reversed text
_LOCAL_REVERSED = re.compile(r"[\w.%+-]{1,256}")


_DIGIT = re.compile(r"\d", re.ASCII)
_IBAN_HINT = re.compile(r"[A-Z][A-Z]\d\d", re.ASCII)
_ASCII_DIGITS = b"0123456789"

# The gates below run on a class string of the text: one byte per character (a character outside
# ASCII becomes "?"), ASCII digits "0", A-Z "A", anything else ".". Literal searches on it are C
# loops, where a regular expression pays its per-position overhead on every character of the
# text: finding the first and last digit and the IBAN hint costs a fraction of one regex pass.
_CLASSES = bytes(48 if 48 <= b <= 57 else 65 if 65 <= b <= 90 else 46 for b in range(256))


def _digits(s: str) -> int:
    """ASCII digits in ``s`` (candidates are ASCII: the finders use re.ASCII)."""
    return len(s) - len(s.encode("ascii", "replace").translate(None, _ASCII_DIGITS))
_EMAIL_DOMAIN_HEAD = re.compile(r"(?:[\w-]{1,63}\.)+[^\W\d_]{2,24}")


def luhn_ok(digits: str) -> bool:
    total, alt = 0, False
    for ch in reversed(digits):
        d = ord(ch) - 48
        if alt:
            d *= 2
            if d > 9:
                d -= 9
        total += d
        alt = not alt
    return total % 10 == 0


def iban_ok(candidate: str) -> bool:
    s = candidate.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    n = 0
    for ch in moved:
        if ch.isdigit():
            n = (n * 10 + ord(ch) - 48) % 97
        elif "A" <= ch <= "Z":
            n = (n * 100 + ord(ch) - 55) % 97
        else:
            return False
    return n == 1


def itin_ok(candidate: str) -> bool:
    """IRS individual taxpayer numbers share the SSN shape: 9xx-GG-xxxx with these groups."""
    g = int(candidate[4:6])
    return candidate[0] == "9" and (50 <= g <= 65 or 70 <= g <= 88 or 90 <= g <= 92 or 94 <= g <= 99)


def ssn_ok(candidate: str) -> bool:
    area, group, serial = candidate[0:3], candidate[4:6], candidate[7:11]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def ip_ok(candidate: str) -> bool:
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        return False
    return True


def _card_digits(candidate: str) -> str:
    return candidate.replace(" ", "").replace("-", "")


def _bounded(text: str, start: int, end: int, before: str, after: str) -> bool:
    """True if the characters around [start, end) are not in the given sets (or are word edges)."""
    if start > 0 and (text[start - 1].isalnum() or text[start - 1] in before):
        return False
    if end < len(text) and (text[end].isalnum() or text[end] in after):
        return False
    return True


# The shapes a numeric candidate can have, in the order they are told apart: a fullmatch picks the
# first that fits the whole candidate (an SSN before an IPv4 address before a date, then a card,
# then a phone number; a card shape also fits the phone shape).
_SHAPES = re.compile(
    r"(?P<ssn>\d{3}-\d{2}-\d{4})"
    r"|(?P<ip>\d{1,3}(?:\.\d{1,3}){3})"
    r"|(?P<date>\d{4}-\d{2}-\d{2}.*)"
    r"|(?P<card>\d(?:[ -]?\d){12,18})"
    r"|(?P<phone>(?:[\d ().+/-]|x|ext\.?)+)",
    re.ASCII | re.DOTALL,
)


def _classify_numeric(c: str) -> tuple[str, str] | None:
    c = c.rstrip(" .-(")
    m = _SHAPES.fullmatch(c)
    if m is None:
        return None
    shape = m.lastgroup
    if shape == "ssn":
        if ssn_ok(c):
            return "ssn", "[SSN]"
        return ("ssn", "[TIN]") if itin_ok(c) else None
    if shape == "ip":
        return ("ip", "[IP]") if ip_ok(c) else None
    if shape == "date":
        return None  # a date or timestamp, not a phone number
    if shape == "card":
        d = _card_digits(c)
        if luhn_ok(d):
            return "card", f"[CARD ****{d[-4:]}]"
        digits = len(d)
    else:
        digits = _digits(c)
    return ("phone", "[PHONE]") if 10 <= digits <= 15 else None


class Scanner:
    """Finds and masks the enabled detectors' findings in a string."""

    def __init__(self, detectors: Iterable[str] = DETECTORS, windowed: bool = True):
        """``windowed=False`` runs the plain regular expressions over the whole text: the same
        findings, slower; the tests compare the two."""
        unknown = set(detectors) - set(DETECTORS)
        if unknown:
            raise ValueError(f"unknown detector(s): {', '.join(sorted(unknown))}")
        self.enabled = frozenset(detectors)
        self.detectors = tuple(d for d in DETECTORS if d in self.enabled)
        self._numeric = bool(self.enabled & {"ssn", "card", "phone", "ip"})
        self._windowed = windowed
        self._email = "email" in self.enabled
        self._iban = "iban" in self.enabled
        self._ip = "ip" in self.enabled

    def _spans(self, text: str) -> list[tuple[int, int, str, str]]:
        """(start, end, kind, replacement) of every validated finding, in order, not overlapping."""
        spans: list[tuple[int, int, str, str]] = []
        en = self.enabled
        if self._email and "@" in text:
            rev = text[::-1]
            n = len(text)
            at = text.find("@")
            while at != -1:
                m = _LOCAL_REVERSED.match(rev, n - at)
                s0 = at - (m.end() - m.start()) if m else at
                dom = _EMAIL_DOMAIN_HEAD.match(text, at + 1)
                if s0 < at and dom:
                    e0 = dom.end()
                    while e0 < len(text) and (text[e0].isalnum() or text[e0] in "-_"):
                        e0 += 1  # over-mask rather than leave a tail of the address
                    while s0 < at and text[s0] in ".+-%":  # no leading punctuation in a local part
                        s0 += 1
                    if s0 < at:
                        spans.append((s0, e0, "email", "[EMAIL]"))
                at = text.find("@", at + 1)
        if self._windowed:
            cls = text.encode("ascii", "replace").translate(_CLASSES)
            first = cls.find(b"0")
            if first == -1:  # every other detector needs digits
                return spans
            # every numeric candidate ends with a digit: none reaches past the last one
            stop = cls.rfind(b"0") + 1
            start = max(0, first - 4)  # nothing to find before the first digit (an IBAN's letters)
            iban_hint = cls.find(b"AA00", start) != -1
        else:
            m0 = _DIGIT.search(text)
            if m0 is None:
                return spans
            stop = len(text)
            start = max(0, m0.start() - 4)
            iban_hint = _IBAN_HINT.search(text, start) is not None
        if self._iban and iban_hint:
            for m in _IBAN.finditer(text, start):
                cand = m.group()
                # the pattern is greedy and may swallow a following word: shorten until it checks
                while len(cand.replace(" ", "")) >= 15 and not iban_ok(cand):
                    cand = cand[:-1].rstrip(" ")
                end = m.start() + len(cand)
                if iban_ok(cand) and _bounded(text, m.start(), end, "", ""):
                    spans.append((m.start(), end, "iban", f"[IBAN {cand[:2]}**]"))
        if self._ip and text.count(":") >= 2:
            for m in _IPV6.finditer(text):
                cand = m.group().rstrip(".:") if not m.group().endswith("::") else m.group()
                if _bounded(text, m.start(), m.start() + len(cand), "", "") and ip_ok(cand):
                    spans.append((m.start(), m.start() + len(cand), "ip", "[IP]"))
        if self._numeric:
            search = _NUMERIC.search
            n = len(text)
            pos = start
            while stop - pos >= 7:  # the shortest candidate is seven characters long
                m = search(text, pos, stop)
                if m is None:
                    break
                s, e = m.span()  # a candidate ends with a digit: nothing to strip
                pos = e
                # a word character next to it: part of a longer token, not a number of its own
                if (s and (text[s - 1].isalnum() or text[s - 1] == "_")) or (
                    e < n and (text[e].isalnum() or text[e] == "_")
                ):
                    continue
                cand = m.group()
                if " " in cand:  # several numbers may sit side by side: go token by token
                    spans.extend(self._classify_tokens(text, s, cand))
                    continue
                c = _classify_numeric(cand)
                if c is not None and c[0] in en:
                    spans.append((s, e, c[0], c[1]))
        if len(spans) > 1:
            spans.sort()
            kept = [spans[0]]
            for sp in spans[1:]:
                if sp[0] >= kept[-1][1]:
                    kept.append(sp)
            spans = kept
        return spans

    def _classify_tokens(self, text: str, base: int, cand: str) -> list[tuple[int, int, str, str]]:
        """Numbers next to each other ("123-45-6789 555-123-4567", a card and its CVV): classify
        the space-separated tokens one by one, an SSN or an IP on its own first, then the longest
        run of tokens that is a card or a phone number."""
        toks = [(base + t.start(), base + t.end()) for t in re.finditer(r"\S+", cand)]
        out, i = [], 0
        while i < len(toks):
            single = text[toks[i][0]:toks[i][1]].rstrip(" .-(")
            c = _classify_numeric(single)
            if c is not None and c[0] in ("ssn", "ip") and c[0] in self.enabled:
                out.append((toks[i][0], toks[i][0] + len(single), c[0], c[1]))
                i += 1
                continue
            for k in range(min(len(toks), i + 6), i, -1):
                span = text[toks[i][0]:toks[k - 1][1]].rstrip(" .-(")
                c = _classify_numeric(span)
                if c is not None and c[0] in self.enabled:
                    out.append((toks[i][0], toks[i][0] + len(span), c[0], c[1]))
                    i = k
                    break
            else:
                i += 1
        return out

    def find(self, text: str) -> list[tuple[str, int, int]]:
        """(kind, start, end) of every validated finding."""
        return [(k, s, e) for s, e, k, _ in self._spans(text)]

    def mask(self, text: str) -> tuple[str, tuple[str, ...]]:
        """The text with findings masked, and the kinds found (empty if none)."""
        spans = self._spans(text)
        if not spans:
            return text, ()
        if len(spans) == 1:
            s, e, k, rep = spans[0]
            return text[:s] + rep + text[e:], (k,)
        out, pos = [], 0
        for s, e, _k, rep in spans:
            out.append(text[pos:s])
            out.append(rep)
            pos = e
        out.append(text[pos:])
        return "".join(out), tuple([k for _s, _e, k, _r in spans])
