"""E-mail addresses in free text: written plainly, and obfuscated the ways people write them to
keep them from scrapers (``zed(at)example(dot)com``, ``zed [at] example [dot] com``, ``zed at
example (dot) com``, ``zed@example(dot)com``, ``john(dot)smith [at] example.com``).

An address is found from its "@" or "at" mark: its local part is matched backwards from the mark
(on the reversed text: a forward search would retry the local part at every position), its domain
forwards, both with bounded repetitions, so the scan is linear in the text.

An obfuscated address has at least one bracketed mark (``(at)``, ``[at]``, ``{at}``, ``<at>``,
``(@)``, or the same with ``dot``; any case, a space inside the brackets or not), which is also
how the scanner gates the search: no closing bracket in the text, no obfuscated address. Plain
English "at" is the mark only when the domain is written with a bracketed "dot" and ends with a
known top-level domain (``com``, ``org``... or two letters): "meet at example.com" and "look at
polka dot dresses" are prose. A plain "dot" word without brackets (``zed at example dot com``) is
not read as one.
"""

from __future__ import annotations

import re

Span = tuple[int, int, str, str]

# the local part of an address, matched backwards from the "@" on the reversed text
_LOCAL_REVERSED = re.compile(r"[\w.%+'-]{1,256}")
DOMAIN_HEAD = re.compile(r"(?:[\w-]{1,63}\.)+[^\W\d_]{2,24}")

_OPEN, _CLOSE = r"[(\[{<]", r"[)\]}>]"
_BDOT = rf"[ ]{{0,3}}{_OPEN}[ ]?dot[ ]?{_CLOSE}[ ]{{0,3}}"  # a bracketed "dot"
# a bracketed mark: no obfuscated address without one (a fast search: it starts with a class)
_BRACKETED = re.compile(rf"{_OPEN}[ ]?(?:at|@|dot)[ ]?{_CLOSE}", re.ASCII | re.IGNORECASE)
_BRACKETED_DOT = re.compile(rf"{_OPEN}[ ]?dot[ ]?{_CLOSE}", re.ASCII | re.IGNORECASE)
# the "at" marks: "@", a bracketed "at" or "@", or the word "at" between spaces
_AT = re.compile(rf"[ ]{{0,3}}(?:{_OPEN}[ ]?(?:at|@)[ ]?{_CLOSE}|@)[ ]{{0,3}}|[ ]{{1,3}}at[ ]{{1,3}}", re.ASCII | re.IGNORECASE)
# the domain after a mark: labels, each followed by "." or a bracketed "dot", then the top-level domain
_DOMAIN = re.compile(rf"(?:[\w-]{{1,63}}(?:\.|{_BDOT})){{1,8}}([^\W\d_]{{2,24}})", re.IGNORECASE)
# the local part before a mark, reversed: words joined by "." or a bracketed "dot" (reversed)
_RDOT = rf"[ ]{{0,3}}{_CLOSE}[ ]?tod[ ]?{_OPEN}[ ]{{0,3}}"
_LOCAL_OBF_REVERSED = re.compile(rf"[\w%+'-]{{1,64}}(?:(?:\.|{_RDOT})[\w%+'-]{{1,64}}){{0,8}}", re.IGNORECASE)
# top-level domains that may end an address introduced by the plain word "at"
_WORD_TLDS = frozenset({"com", "org", "net", "edu", "gov", "mil", "int", "info", "biz", "io", "co", "me", "app", "dev",
                        "name", "mail", "email", "online", "site", "xyz", "eu", "asia", "tech", "cloud"})


def local_start(text: str, rev: str, at: int) -> int:
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


def _tail(text: str, e0: int) -> int:
    """Over the rest of a word after a domain: over-mask rather than leave a tail of the address."""
    while e0 < len(text) and (text[e0].isalnum() or text[e0] in "-_"):
        e0 += 1
    return e0


def obfuscated(text: str) -> list[Span]:
    """Addresses with a bracketed mark (the caller has seen a closing bracket in the text)."""
    if _BRACKETED.search(text) is None:
        return []
    spans: list[Span] = []
    rev = None
    for m in _AT.finditer(text):
        mark = m.group().strip(" ").lower()
        dom = _DOMAIN.match(text, m.end())
        if dom is None:
            continue
        bracketed_dot = _BRACKETED_DOT.search(dom.group()) is not None
        if mark == "at" and not (bracketed_dot and (len(dom.group(1)) == 2 or dom.group(1).lower() in _WORD_TLDS)):
            continue  # plain English "at": only with a bracketed "dot" and a known top-level domain
        if rev is None:
            rev = text[::-1]
        if mark == "@" and m.start() and text[m.start() - 1] == '"':
            s0 = local_start(text, rev, m.start())
        else:
            loc = _LOCAL_OBF_REVERSED.match(rev, len(text) - m.start())
            if loc is None:
                continue
            s0 = m.start() - (loc.end() - loc.start())
            while s0 < m.start() and text[s0] in ".+-%'":
                s0 += 1
        if s0 >= m.start():
            continue
        if mark == "@" and not bracketed_dot and _BRACKETED_DOT.search(text, s0, m.start()) is None:
            continue  # a plain address: the scanner finds it
        spans.append((s0, _tail(text, dom.end()), "email", "[EMAIL]"))
    return spans
