"""Detectors for personal data that free text should not carry, and their in-place masks.

One combined regular expression finds candidates in a single pass; each candidate is then checked
(Luhn for payment cards, ISO 7064 mod-97 for IBANs, octet ranges for IPv4, ``ipaddress`` for IPv6,
SSA rules for SSNs) so that order numbers and dates are not masked by mistake.

A masked finding keeps only a hint of its shape: ``[EMAIL]``, ``[SSN]``, ``[PHONE]``,
``[CARD ****1111]``, ``[IBAN GB**]``, ``[IP]``.
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
_SSN_SHAPE = re.compile(r"\d{3}-\d{2}-\d{4}", re.ASCII)
_IPV4_SHAPE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}", re.ASCII)
_CARD_SHAPE = re.compile(r"\d(?:[ -]?\d){12,18}", re.ASCII)
_PHONE_SEPARATORS = frozenset(" ().-+x")
_DATE_PREFIX = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_DIGIT = re.compile(r"\d", re.ASCII)
_IBAN_HINT = re.compile(r"[A-Z][A-Z]\d\d", re.ASCII)
_LOCAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")
_EMAIL_DOMAIN_HEAD = re.compile(r"(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,24}", re.ASCII)


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


def _classify_numeric(c: str) -> tuple[str, str] | None:
    c = c.rstrip(" .-(")
    if _SSN_SHAPE.fullmatch(c):
        return ("ssn", "[SSN]") if ssn_ok(c) else None
    if _IPV4_SHAPE.fullmatch(c):
        return ("ip", "[IP]") if ip_ok(c) else None
    if _DATE_PREFIX.match(c):
        return None  # a date or timestamp, not a phone number
    digits = sum(ch.isdigit() for ch in c)
    if _CARD_SHAPE.fullmatch(c):
        d = _card_digits(c)
        if luhn_ok(d):
            return "card", f"[CARD ****{d[-4:]}]"
    if 10 <= digits <= 15 and all(ch.isdigit() or ch in _PHONE_SEPARATORS for ch in c.replace("ext", "x")):
        return "phone", "[PHONE]"
    return None


class Scanner:
    """Finds and masks the enabled detectors' findings in a string."""

    def __init__(self, detectors: Iterable[str] = DETECTORS):
        unknown = set(detectors) - set(DETECTORS)
        if unknown:
            raise ValueError(f"unknown detector(s): {', '.join(sorted(unknown))}")
        self.enabled = frozenset(detectors)
        self.detectors = tuple(d for d in DETECTORS if d in self.enabled)
        self._numeric = bool(self.enabled & {"ssn", "card", "phone", "ip"})

    def _spans(self, text: str) -> list[tuple[int, int, str, str]]:
        spans: list[tuple[int, int, str, str]] = []
        en = self.enabled
        if "email" in en and "@" in text:
            at = text.find("@")
            while at != -1:
                s0 = at
                while s0 > 0 and at - s0 < 64 and text[s0 - 1] in _LOCAL_CHARS:
                    s0 -= 1
                dom = _EMAIL_DOMAIN_HEAD.match(text, at + 1)
                if s0 < at and dom:
                    e0 = dom.end()
                    while s0 < at and text[s0] in ".+-%":  # no leading punctuation in a local part
                        s0 += 1
                    if s0 < at and _bounded(text, s0, e0, "", "-_"):
                        spans.append((s0, e0, "email", "[EMAIL]"))
                at = text.find("@", at + 1)
        if not _DIGIT.search(text):
            return spans
        if "iban" in en and _IBAN_HINT.search(text):
            for m in _IBAN.finditer(text):
                if _bounded(text, m.start(), m.end(), "", "") and iban_ok(m.group()):
                    spans.append((m.start(), m.end(), "iban", f"[IBAN {m.group()[:2]}**]"))
        if "ip" in en and text.count(":") >= 2:
            for m in _IPV6.finditer(text):
                cand = m.group().rstrip(".:") if not m.group().endswith("::") else m.group()
                if _bounded(text, m.start(), m.start() + len(cand), "", "") and ip_ok(cand):
                    spans.append((m.start(), m.start() + len(cand), "ip", "[IP]"))
        if self._numeric:
            for m in _NUMERIC.finditer(text):
                raw = m.group()
                cand = raw.rstrip(" .-(")
                s, e = m.start(), m.start() + len(cand)
                if not _bounded(text, s, e, "_", "_"):
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

    def find(self, text: str) -> list[tuple[str, int, int]]:
        """(kind, start, end) of every validated finding."""
        return [(k, s, e) for s, e, k, _ in self._spans(text)]

    def mask(self, text: str) -> tuple[str, tuple[str, ...]]:
        """The text with findings masked, and the kinds found (empty if none)."""
        spans = self._spans(text)
        if not spans:
            return text, ()
        out, pos = [], 0
        for s, e, _k, rep in spans:
            out.append(text[pos:s])
            out.append(rep)
            pos = e
        out.append(text[pos:])
        return "".join(out), tuple(k for _s, _e, k, _r in spans)
