"""Detectors for personal data that free text should not carry, and their in-place masks.

A few regular expressions find candidates (e-mail addresses around each "@", IBANs, IPv6
addresses, runs of digits and separators); each candidate is then checked (Luhn for payment cards,
ISO 7064 mod-97 for IBANs, octet ranges for IPv4, ``ipaddress`` for IPv6, SSA rules and a label
for SSNs, a phone grammar) so that order numbers, dates and amounts are not masked by mistake.
``numeric.py`` tells the runs of digits apart; its docstring lists the shapes. ``emails.py`` finds
addresses written plainly or obfuscated (``zed(at)example(dot)com``), ``ibans.py`` IBANs in any
case, compact or grouped.

The finders read ASCII; personal data written with look-alikes (a non-breaking space or a Unicode
hyphen between a number's groups, a tab or a newline, full-width or Arabic-Indic digits, a
zero-width space inside) is found in a view of the text that reads them as a person does
(``textview.py``), and masked in the text itself.

The scan is on the Lambda's hot path, so it is gated cheaply (a class string of the text: no digit,
no numeric scan; no rare character, no view, no obfuscated address) and written in straight-line
Python over C-level searches. An ASCII text without control whitespace (the common case) needs no
view, which one find on the class string tells. ``phonenumbers``
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

from . import emails
from .ibans import HINT as IBAN_HINT
from .ibans import at as iban_at
from .ibans import iban_ok  # noqa: F401 (re-exported)
from .numeric import classify, ip_ok, itin_ok, labelled, luhn_ok, run_spans, ssn_ok  # noqa: F401 (luhn_ok, ssn_ok, itin_ok: re-exported)
from .textview import NEEDS_VIEW, view

DETECTORS = ("email", "ssn", "phone", "card", "iban", "ip")

# Candidate finders. Each starts with a character class so the regex engine skips quickly to
# plausible positions; word boundaries are checked in Python, and each candidate is validated.
# A numeric run (no length cap: a long run is cut into numbers by numeric.run_spans), then an
# optional extension ("x123", " ext. 123"), masked with the number it belongs to.
_NUMERIC = re.compile(r"([+(\d][\d().+ -]{5,}\d)(?:[ ]?(?i:x|ext\.?|extn\.?)[ ]?\d{1,6})?", re.ASCII)
# an SSN with slashes, only after a label ("ssn=390/30/2473"): slashes are not in a numeric run
_SLASHED_SSN = re.compile(r"(?<![\d/])\d{3}/\d\d/\d{4}(?![\d/])", re.ASCII)
_EMAIL_DOMAIN_HEAD = emails.DOMAIN_HEAD
_IPV6 = re.compile(r"[0-9A-Fa-f:]*:[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*")

_DIGIT = re.compile(r"\d", re.ASCII)

# The gates below run on a class string of the text: one byte per character, ASCII digits "0",
# letters "A", "@" itself, the rare closing brackets, slashes, control whitespace and "?" (a
# character outside ASCII is encoded as one) "!", so that one find rules them all out; anything
# else ".". Literal searches on it are C loops, where a regular expression pays its per-position
# overhead on every character of the text: finding the first and last digit and the IBAN hint
# costs a fraction of one regex pass. (bytes.find, not ``in``: ``in`` on bytes first tries the
# needle as an integer and raises, ten times the cost on a short text.) A text with a rare
# character gets a second class string, its marks: closing brackets ")", slashes "/", control
# whitespace "\x01", letters, "@" and space "A".
_RARE = b")]}>/?\t\n\v\f\r\x1c\x1d\x1e\x1f"
_CLASSES = bytes(
    48 if 48 <= b <= 57 else 65 if 65 <= b <= 90 or 97 <= b <= 122 else 33 if b in _RARE else 64 if b == 64 else 46
    for b in range(256)
)
_MARKS = bytes(
    41 if b in b")]}>" else 47 if b == 47 else 1 if b in _RARE and b < 32 else 65 if 65 <= b <= 90 or 97 <= b <= 122 or b in b"@ "
    else 46
    for b in range(256)
)
_IBAN_NEXT = b"A0."  # after "AA00" in an IBAN's class string (bytes of ints: a C test)


def _bounded(text: str, start: int, end: int, before: str, after: str) -> bool:
    """True if the characters around [start, end) are not in the given sets (or are word edges)."""
    if start > 0 and (text[start - 1].isalnum() or text[start - 1] in before):
        return False
    if end < len(text) and (text[end].isalnum() or text[end] in after):
        return False
    return True


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
        self._ssn = "ssn" in self.enabled

    def _spans(self, text: str) -> list[tuple[int, int, str, str]]:
        """(start, end, kind, replacement) of every validated finding, in order, not overlapping."""
        index = None  # where the view's characters come from (None: the same places)
        cls = marks = None
        if self._windowed:
            enc = text.encode("ascii", "replace")  # a character outside ASCII: "?"
            cls = enc.translate(_CLASSES)
            first = cls.find(b"0")
            if cls.find(b"!") == -1:  # ASCII, and no closing bracket, slash, control whitespace or "?"
                if first == -1 and "@" not in text:
                    return []  # no digit, no "@", no bracket: nothing to find
            else:
                if not text.isascii() and NEEDS_VIEW.search(text) is not None:  # a character to read otherwise
                    text, index = view(text)
                    enc = text.encode("ascii", "replace")
                    cls = enc.translate(_CLASSES)
                    first = cls.find(b"0")
                marks = enc.translate(_MARKS)
                if marks.find(b"\x01") != -1:  # control whitespace in an ASCII text: read as spaces
                    text, index = view(text)
                    enc = text.encode("ascii", "replace")
                    cls = enc.translate(_CLASSES)
                    first = cls.find(b"0")
                    marks = enc.translate(_MARKS)
        else:
            if NEEDS_VIEW.search(text) is not None:
                text, index = view(text)
            m0 = _DIGIT.search(text)
            first = -1 if m0 is None else m0.start()
        spans: list[tuple[int, int, str, str]] = []
        if self._email:
            if "@" in text:  # addresses written plainly
                rev = text[::-1]
                at = text.find("@")
                while at != -1:
                    s0 = emails.local_start(text, rev, at)
                    dom = _EMAIL_DOMAIN_HEAD.match(text, at + 1)
                    if s0 < at and dom:
                        e0 = dom.end()
                        while e0 < len(text) and (text[e0].isalnum() or text[e0] in "-_"):
                            e0 += 1  # over-mask rather than leave a tail of the address
                        spans.append((s0, e0, "email", "[EMAIL]"))
                    at = text.find("@", at + 1)
            # an obfuscated address has a bracketed "at", "@" or "dot": a letter, "@" or space
            # before a closing bracket
            if cls is None or marks is not None and marks.find(b"A)") != -1:
                spans.extend(emails.obfuscated(text))
        if first != -1:
            start = max(0, first - 4)  # nothing to find before the first digit (an IBAN's letters)
            # every numeric candidate ends with a digit: none reaches past the last one
            stop = len(text) if cls is None else cls.rfind(b"0") + 1
            if self._iban:  # an IBAN starts where the class string reads "AA00"
                if cls is not None:
                    h = cls.find(b"AA00", start)
                    while h != -1:
                        # then a letter, digit or separator: "as66@example.com" is no IBAN
                        sp = iban_at(text, h) if h + 4 < len(cls) and cls[h + 4] in _IBAN_NEXT else None
                        if sp is not None:
                            spans.append(sp)
                        h = cls.find(b"AA00", h + 1 if sp is None else sp[1])
                else:
                    m = IBAN_HINT.search(text, start)
                    while m is not None:
                        sp = iban_at(text, m.start())
                        if sp is not None:
                            spans.append(sp)
                        m = IBAN_HINT.search(text, m.start() + 1 if sp is None else sp[1])
            if self._ip and text.count(":") >= 2:
                for m in _IPV6.finditer(text):
                    cand = m.group().rstrip(".")  # the end of a sentence
                    if not cand.endswith("::"):
                        cand = cand.rstrip(":")
                    if _bounded(text, m.start(), m.start() + len(cand), "", "") and ip_ok(cand):
                        spans.append((m.start(), m.start() + len(cand), "ip", "[IP]"))
            if self._ssn and (marks is not None and marks.find(b"/") != -1 or cls is None and "/" in text):
                for m in _SLASHED_SSN.finditer(text, start):  # no endpos: its lookahead reads the next character
                    c = classify(m.group(), label=labelled(text, m.start()), phone=False)
                    if c is not None:
                        spans.append((m.start(), m.end(), c[0], c[1]))
            if self._numeric:
                search = _NUMERIC.search
                en = self.enabled
                # numbers are looked for between what was found already (an IBAN's digit groups
                # are not a phone number that would reach past the IBAN and swallow what follows)
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
            spans = _merged(spans)
        if index is not None:  # the view's spans, as spans of the text
            spans = [(index[s], index[e - 1] + 1, k, r) for s, e, k, r in spans]
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


def _merged(spans: list[tuple[int, int, str, str]]) -> list[tuple[int, int, str, str]]:
    """The spans in order; overlapping ones (an address found plainly and obfuscated) become one
    span, masked as the first, so that no piece of either is left."""
    spans.sort()
    kept = [spans[0]]
    for sp in spans[1:]:
        last = kept[-1]
        if sp[0] >= last[1]:
            kept.append(sp)
        elif sp[1] > last[1]:
            kept[-1] = (last[0], sp[1], last[2], last[3])
    return kept
