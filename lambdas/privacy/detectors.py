"""Detectors for personal data that free text should not carry, and their in-place masks.

A few regular expressions find candidates (e-mail addresses around each "@", IBANs, IPv6
addresses, runs of digits and separators); each candidate is then checked (Luhn for payment cards,
ISO 7064 mod-97 for IBANs, octet ranges for IPv4, ``ipaddress`` for IPv6, SSA rules and a label
for SSNs, a phone grammar) so that order numbers, dates and amounts are not masked by mistake.
``numeric.py`` tells the runs of digits apart; its docstring lists the shapes.

The scan is on the Lambda's hot path, so it is gated cheaply (a class string of the text: no digit,
no numeric scan) and written in straight-line Python over C-level searches. ``phonenumbers``
(libphonenumber) was measured for it and left out: 8 to 20 times slower per text, and on Faker's
numbers (random digits, valid-looking or not) it finds fewer (its matcher wants possible or valid
numbers); the corpus command (``python -m tools.detector_corpus``) uses it to write numbers of
every region.

A masked finding keeps only a hint of its shape: ``[EMAIL]``, ``[SSN]``, ``[PHONE]``,
``[CARD ****1111]``, ``[IBAN GB**]``, ``[IP]``; the SSN detector also masks IRS taxpayer numbers
(ITINs, same shape) as ``[TIN]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .numeric import ip_ok, itin_ok, luhn_ok, run_spans, ssn_ok  # noqa: F401 (luhn_ok, ssn_ok, itin_ok: re-exported)

DETECTORS = ("email", "ssn", "phone", "card", "iban", "ip")

# Candidate finders. Each starts with a character class so the regex engine skips quickly to
# plausible positions; word boundaries are checked in Python, and each candidate is validated.
# A numeric run (no length cap: a long run is cut into numbers by numeric.run_spans), then an
# optional extension ("x123", " ext. 123"), masked with the number it belongs to.
_NUMERIC = re.compile(r"([+(\d][\d().+ -]{5,}\d)(?:[ ]?(?i:x|ext\.?|extn\.?)[ ]?\d{1,6})?", re.ASCII)
_IBAN = re.compile(r"[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?", re.ASCII)
_IPV6 = re.compile(r"[0-9A-Fa-f:]*:[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*")
# the local part of an address, matched backwards from the "@" on the reversed text
_LOCAL_REVERSED = re.compile(r"[\w.%+'-]{1,256}")
_EMAIL_DOMAIN_HEAD = re.compile(r"(?:[\w-]{1,63}\.)+[^\W\d_]{2,24}")

_DIGIT = re.compile(r"\d", re.ASCII)
_IBAN_HINT = re.compile(r"[A-Z][A-Z]\d\d", re.ASCII)

# The gates below run on a class string of the text: one byte per character (a character outside
# ASCII becomes "?"), ASCII digits "0", A-Z "A", anything else ".". Literal searches on it are C
# loops, where a regular expression pays its per-position overhead on every character of the
# text: finding the first and last digit and the IBAN hint costs a fraction of one regex pass.
_CLASSES = bytes(48 if 48 <= b <= 57 else 65 if 65 <= b <= 90 else 46 for b in range(256))


# a letter of an IBAN as its number (A = 10 ... Z = 35), for ISO 7064 mod-97
_IBAN_NUMBERS = {c: str(c - 55) for c in range(65, 91)}


def iban_ok(candidate: str) -> bool:
    s = candidate.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    moved = (s[4:] + s[:4]).translate(_IBAN_NUMBERS)
    # anything but ASCII digits and capitals left over (a lower-case letter, "$"): not an IBAN
    return moved.isascii() and moved.isdigit() and int(moved) % 97 == 1


def _bounded(text: str, start: int, end: int, before: str, after: str) -> bool:
    """True if the characters around [start, end) are not in the given sets (or are word edges)."""
    if start > 0 and (text[start - 1].isalnum() or text[start - 1] in before):
        return False
    if end < len(text) and (text[end].isalnum() or text[end] in after):
        return False
    return True


def _local_start(text: str, rev: str, at: int) -> int:
    """Where the local part of the address whose "@" is at ``at`` starts (``at``: none)."""
    if at and text[at - 1] == '"':  # a quoted local part: "john doe"@example.com
        q = text.rfind('"', max(0, at - 66), at - 1)
        if q != -1 and "\n" not in text[q:at]:
            return q
    m = _LOCAL_REVERSED.match(rev, len(text) - at)
    s0 = at - (m.end() - m.start()) if m else at
    while s0 < at and text[s0] in ".+-%'":  # no leading punctuation in a local part
        s0 += 1
    return s0


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
        if self._email and "@" in text:
            rev = text[::-1]
            at = text.find("@")
            while at != -1:
                s0 = _local_start(text, rev, at)
                dom = _EMAIL_DOMAIN_HEAD.match(text, at + 1)
                if s0 < at and dom:
                    e0 = dom.end()
                    while e0 < len(text) and (text[e0].isalnum() or text[e0] in "-_"):
                        e0 += 1  # over-mask rather than leave a tail of the address
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
                ok = iban_ok(cand)
                while not ok and len(cand) > 15:
                    cand = cand[:-1].rstrip(" ")
                    ok = iban_ok(cand)
                end = m.start() + len(cand)
                if ok and _bounded(text, m.start(), end, "", ""):
                    spans.append((m.start(), end, "iban", f"[IBAN {cand[:2]}**]"))
        if self._ip and text.count(":") >= 2:
            for m in _IPV6.finditer(text):
                cand = m.group().rstrip(".")  # the end of a sentence
                if not cand.endswith("::"):
                    cand = cand.rstrip(":")
                if _bounded(text, m.start(), m.start() + len(cand), "", "") and ip_ok(cand):
                    spans.append((m.start(), m.start() + len(cand), "ip", "[IP]"))
        if self._numeric:
            search = _NUMERIC.search
            en = self.enabled
            # numbers are looked for between what was found already (an IBAN's digit groups are
            # not a phone number that would reach past the IBAN and swallow what follows it)
            gaps = [(start, stop)]
            if spans:
                spans.sort()
                gaps, g0 = [], start
                for s0, e0, _k, _r in spans:
                    gaps.append((g0, min(s0, stop)))
                    g0 = max(g0, e0)
                gaps.append((g0, stop))
            for pos, end in gaps:
                while end - pos >= 7:  # the shortest candidate is seven characters long
                    m = search(text, pos, end)
                    if m is None:
                        break
                    s, e = m.span(1)  # the number; up to x, its extension (x == e: none)
                    pos = x = m.end()
                    spans.extend(run_spans(text, s, e, x, en))
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
