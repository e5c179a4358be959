"""The text as the detectors read it: personal data written with look-alike characters, read as
what a person sees.

A hostile or merely international writer puts a number's groups apart with a non-breaking space
(``914\\u00a0256\\u00a07627``), a Unicode hyphen (``+1\\u2011914``) or a tab, hides a zero-width
space inside it, or writes it in full-width (``\\uff13\\uff19\\uff10``) or Arabic-Indic digits.
The scanner's finders speak ASCII, so it scans a *view* of the text instead: Unicode and control
whitespace read as a space, dashes and minus signs as ``-``, full-width ASCII as ASCII, every
decimal digit as its ASCII digit (``unicodedata.decimal``), a few look-alikes of ``@``, ``.`` and
``/`` as those; invisible format characters (zero-width spaces and joiners, the soft hyphen, bidi
controls, the byte-order mark: Unicode category Cf) and a carriage return before a line feed are
left out, as a reader does not see them.

Each character of the view comes from one character of the text, so a finding in the view is a
span of the text: the same span when nothing was left out (``index`` is None), else
``index[i]`` is where the view's character ``i`` came from. The tables are spelled out (Unicode
15.1, Python 3.13); ``tests/unit/privacy/test_detectors.py`` checks them against ``unicodedata``
so that a newer Unicode with a new script's digits fails a test rather than passing them by.

Building a view costs a C-level search for a character that needs it and a ``str.translate``; an
ASCII text without control whitespace (the common case) needs none, and the scanner tells that from
the class string it computes anyway.
"""

from __future__ import annotations

import re

# the first code point of each block of ten decimal digits (Unicode category Nd) outside ASCII
_DIGIT_ZEROS = (
    0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66, 0xCE6, 0xD66, 0xDE6, 0xE50,
    0xED0, 0xF20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50, 0x1BB0,
    0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10, 0x104A0, 0x10D30,
    0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650, 0x116C0, 0x11730, 0x118E0,
    0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x11F50, 0x16A60, 0x16AC0, 0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2,
    0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E4F0, 0x1E950, 0x1FBF0,
)
# whitespace: ASCII control whitespace, NEL, and Unicode categories Zs, Zl, Zp
_SPACES = "\t\n\v\f\r\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# dashes (category Pd) and minus signs
_DASHES = ("\u058a\u05be\u1400\u1806\u2010-\u2015\u2e17\u2e1a\u2e3a\u2e3b\u2e40\u2e5d\u301c\u3030\u30a0"
           "\ufe31\ufe32\ufe58\ufe63\U00010ead\u2212\u2043\u2796\u02d7")
# invisible format characters (category Cf), left out of the view
_FORMAT = ("\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
           "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
           "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f")
_OTHERS = {"\ufe6b": "@", "\u3002": ".", "\uff61": ".", "\ufe52": ".", "\u2024": ".", "\u2044": "/", "\u2215": "/"}


def _expand(spec: str) -> list[int]:
    """The code points of a character-class body written as characters and ``a-b`` ranges."""
    out, i = [], 0
    while i < len(spec):
        if i + 2 < len(spec) and spec[i + 1] == "-":
            out.extend(range(ord(spec[i]), ord(spec[i + 2]) + 1))
            i += 3
        else:
            out.append(ord(spec[i]))
            i += 1
    return out


TABLE: dict[int, int] = {c: 0x20 for c in _expand(_SPACES)}
TABLE.update({c: 0x2D for c in _expand(_DASHES)})
TABLE.update({c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)})  # full-width ASCII
TABLE.update({ord(k): ord(v) for k, v in _OTHERS.items()})
TABLE.update({z + d: 0x30 + d for z in _DIGIT_ZEROS for d in range(10)})
FORMAT = frozenset(_expand(_FORMAT))


def _class(codes) -> str:
    """A regular-expression character class of the code points, as ranges."""
    parts, codes = [], sorted(codes)
    i = 0
    while i < len(codes):
        j = i
        while j + 1 < len(codes) and codes[j + 1] == codes[j] + 1:
            j += 1
        parts.append(re.escape(chr(codes[i])) + ("-" + re.escape(chr(codes[j])) if j > i else ""))
        i = j + 1
    return "[" + "".join(parts) + "]"


# a character the view changes or leaves out: one C-level search tells whether a view is needed
NEEDS_VIEW = re.compile(_class(set(TABLE) | FORMAT))
# what the view leaves out: format characters, and a carriage return before a line feed
_LEFT_OUT = re.compile(_class(FORMAT) + r"+|\r(?=\n)")


def view(text: str) -> tuple[str, list[int] | None]:
    """The text as the detectors read it, and where each of its characters came from (None: the
    same position; else a list one longer than the view, its last entry ``len(text)``)."""
    if _LEFT_OUT.search(text) is None:
        return text.translate(TABLE), None
    kept: list[str] = []
    index: list[int] = []
    pos = 0
    for m in _LEFT_OUT.finditer(text):
        kept.append(text[pos:m.start()])
        index.extend(range(pos, m.start()))
        pos = m.end()
    kept.append(text[pos:])
    index.extend(range(pos, len(text) + 1))
    return "".join(kept).translate(TABLE), index
