"""Contract patterns, in time linear in the value, whatever the pattern.

A data contract supplies regular expressions: a field's ``pattern`` and a regex mask. With a
backtracking engine such as Python's ``re``, a pattern like ``^([A-Za-z]+[ .']*)+$`` takes time
exponential in the value: one 30-character name took a minute, long enough to time out a whole
Firehose batch. So every contract pattern means what **RE2** makes of it (RE2 syntax, matched by
automata in linear time), and a pattern RE2 refuses (a backreference, a lookaround) is refused
with the contract.

RE2's binding costs about 0.45 us a call where ``re`` costs 0.13, and patterns are checked on
every record. So a pattern runs on ``re`` when backtracking provably stays linear, and on RE2
otherwise. ``re`` gets a pattern only if it is

* anchored at the start (``^``), so only one start position is tried, and
* *deterministic*: wherever the matcher has a choice (a branch of ``|``, one more repetition or
  stop), at most one way forward can take the next character, every repeated body consumes at
  least one character, and at most one branch can match nothing. A wrong choice then fails on
  its first character, so backtracking never revisits more than the path it took.

What ``re`` runs is not the contract's source but one this module writes from the parse tree with
RE2's meaning for each construct (``\\d`` as ``[0-9]``, ``\\s`` without ``\\v``, ``$`` as the end of
the text, not before a final newline), so both engines accept the same values; a construct whose
meaning could differ (case folding, word boundaries, POSIX classes, ``{,n}``) keeps the pattern on
RE2. ``tests/unit/privacy/test_patterns.py`` checks the two against each other.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from re import _constants as C  # noqa: N812 - the sre opcodes
from re import _parser
from typing import Any

import re2

_MAX = 0x10FFFF
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print the pattern to stderr; our error says what failed


class PatternError(ValueError):
    """A contract pattern RE2 cannot compile. The message says why (never a value)."""


# -- character sets, as sorted tuples of inclusive code point ranges ------------------------------

Ranges = tuple[tuple[int, int], ...]
_EMPTY: Ranges = ()
_CATEGORIES: dict[Any, Ranges] = {  # RE2's Perl classes are ASCII
    C.CATEGORY_DIGIT: ((48, 57),),
    C.CATEGORY_SPACE: ((9, 10), (12, 13), (32, 32)),
    C.CATEGORY_WORD: ((48, 57), (65, 90), (95, 95), (97, 122)),
}
_NEGATED = {C.CATEGORY_NOT_DIGIT: C.CATEGORY_DIGIT, C.CATEGORY_NOT_SPACE: C.CATEGORY_SPACE,
            C.CATEGORY_NOT_WORD: C.CATEGORY_WORD}


def _union(*sets: Ranges) -> Ranges:
    out: list[list[int]] = []
    for lo, hi in sorted(r for s in sets for r in s):
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return tuple((lo, hi) for lo, hi in out)


def _complement(s: Ranges) -> Ranges:
    out, nxt = [], 0
    for lo, hi in s:
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= _MAX:
        out.append((nxt, _MAX))
    return tuple(out)


def _overlap(a: Ranges, b: Ranges) -> bool:
    return any(lo1 <= hi2 and lo2 <= hi1 for lo1, hi1 in a for lo2, hi2 in b)


class _Unsupported(Exception):
    """Not provably linear on ``re``, or a meaning that could differ from RE2's: use RE2."""


# -- the parse tree, reduced to what the analysis needs -------------------------------------------
# ("char", Ranges) | ("begin",) | ("end",) | ("seq", [nodes]) | ("alt", [nodes]) |
# ("rep", min, max or None, node)


def _class(items) -> Ranges:
    sets, negate = [], False
    for op, av in items:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            sets.append(((av, av),))
        elif op is C.RANGE:
            sets.append((av,))
        elif op is C.CATEGORY and av in _CATEGORIES:
            sets.append(_CATEGORIES[av])
        elif op is C.CATEGORY and av in _NEGATED:
            sets.append(_complement(_CATEGORIES[_NEGATED[av]]))
        else:
            raise _Unsupported(str(op))
    s = _union(*sets)
    return _complement(s) if negate else s


def _tree(sub) -> tuple:
    items = []
    for op, av in sub:
        if op is C.LITERAL:
            items.append(("char", ((av, av),)))
        elif op is C.NOT_LITERAL:
            items.append(("char", _complement(((av, av),))))
        elif op is C.ANY:
            items.append(("char", _complement(((10, 10),))))
        elif op is C.IN:
            items.append(("char", _class(av)))
        elif op is C.AT and av in (C.AT_BEGINNING, C.AT_BEGINNING_STRING):
            items.append(("begin",))
        elif op is C.AT and av is C.AT_END:  # RE2's $: the end of the text only
            items.append(("end",))
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT):
            lo, hi, body = av
            items.append(("rep", lo, None if hi is C.MAXREPEAT else hi, _tree(body)))
        elif op is C.SUBPATTERN:
            _group, add, remove, body = av
            if add or remove:
                raise _Unsupported("inline flags")
            items.append(_tree(body))
        elif op is C.BRANCH:
            items.append(("alt", [_tree(b) for b in av[1]]))
        else:  # word boundaries, \Z, lookarounds, backreferences, atomic groups, ...
            raise _Unsupported(str(op))
    return ("seq", items)


def _nullable(n) -> bool:
    k = n[0]
    if k == "char":
        return False
    if k in ("begin", "end"):
        return True
    if k == "seq":
        return all(map(_nullable, n[1]))
    if k == "alt":
        return any(map(_nullable, n[1]))
    return n[1] == 0 or _nullable(n[3])


def _first(n) -> Ranges:
    k = n[0]
    if k == "char":
        return n[1]
    if k in ("begin", "end"):
        return _EMPTY
    if k == "alt":
        return _union(*map(_first, n[1]))
    if k == "rep":
        return _first(n[3])
    out: list[Ranges] = []
    for item in n[1]:
        out.append(_first(item))
        if not _nullable(item):
            break
    return _union(*out)


def _deterministic(n, follow: Ranges) -> None:
    """Raise _Unsupported unless every choice within ``n`` (followed by ``follow``) is decided by
    the next character alone."""
    k = n[0]
    if k == "seq":
        items = n[1]
        for i, item in enumerate(items):
            rest = ("seq", items[i + 1:])
            after = _union(_first(rest), follow) if _nullable(rest) else _first(rest)
            _deterministic(item, after)
    elif k == "alt":
        ways = [_union(_first(b), follow) if _nullable(b) else _first(b) for b in n[1]]
        if sum(map(_nullable, n[1])) > 1:
            raise _Unsupported("two branches match nothing")
        for i in range(len(ways)):
            for j in range(i + 1, len(ways)):
                if _overlap(ways[i], ways[j]):
                    raise _Unsupported("branches start alike")
        for b in n[1]:
            _deterministic(b, follow)
    elif k == "rep":
        lo, hi, body = n[1], n[2], n[3]
        if _nullable(body):
            raise _Unsupported("a repeated body that matches nothing")
        if hi != lo and _overlap(_first(body), follow):
            raise _Unsupported("repeat or stop: both take the next character")
        _deterministic(body, _union(_first(body), follow) if hi is None or hi > 1 else follow)


# -- writing the tree back as a source for re, with RE2's meanings --------------------------------


def _char(c: int) -> str:
    return f"\\U{c:08x}" if c > 0xFFFF else f"\\u{c:04x}"


def _emit(n) -> str:
    k = n[0]
    if k == "char":
        return "[" + "".join(_char(lo) if lo == hi else f"{_char(lo)}-{_char(hi)}" for lo, hi in n[1]) + "]" if n[1] else "(?!)"
    if k == "begin":
        return r"\A"
    if k == "end":
        return r"\Z"
    if k == "seq":
        return "(?:" + "".join(map(_emit, n[1])) + ")"
    if k == "alt":
        return "(?:" + "|".join(map(_emit, n[1])) + ")"
    lo, hi = n[1], n[2]
    return f"(?:{_emit(n[3])}){{{lo},{'' if hi is None else hi}}}"


def _python_equivalent(source: str) -> re.Pattern | None:
    """A ``re`` pattern that accepts exactly what RE2 accepts for ``source`` and provably
    backtracks linearly, or None (the pattern then runs on RE2)."""
    # constructs both parse with different meanings
    if "[:" in source or "[=" in source or "[." in source or "{," in source:
        return None
    try:
        parsed = _parser.parse(source, 0)
    except (re.error, RecursionError, OverflowError):
        return None  # RE2-only syntax (\pL, \Q..\E, ...)
    if parsed.state.flags & ~re.UNICODE:
        return None
    try:
        tree = _tree(parsed)
        if not tree[1] or tree[1][0] != ("begin",):
            return None  # unanchored: every start position would be tried
        _deterministic(tree, _EMPTY)
        return re.compile(_emit(tree))
    except (_Unsupported, RecursionError, re.error):
        return None


# -- the public face ----------------------------------------------------------------------------


def _re2(source: str):
    try:
        return re2.compile(source, _OPTIONS)
    except re2.error as exc:
        why = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise PatternError(f"RE2 cannot compile it ({why}); contract patterns run on RE2, in linear time, "
                           "so backreferences and lookarounds are not available") from None


@dataclass(frozen=True)
class Pattern:
    """A compiled contract pattern. ``search(text)`` is None when the text does not match (a str
    only: callers check the type first); ``engine`` says which engine runs it."""

    source: str
    search: Callable[[str], Any]
    engine: str  # "re" (provably linear) or "re2"


def _re2_search(rx) -> Callable[[str], Any]:
    match, unanchored = rx._regexp.Match, re2._Anchor.UNANCHORED

    def search(text: str):
        b = text.encode("utf-8")
        return True if match(unanchored, b, 0, len(b))[0][0] != -1 else None

    return search


_COMPILED: dict[str, Pattern] = {}


def compile_pattern(source: str) -> Pattern:
    """The linear-time matcher of a contract pattern (JSON Schema semantics: a search)."""
    p = _COMPILED.get(source)
    if p is None:
        rx = _re2(source)
        py = _python_equivalent(source)
        p = Pattern(source, py.match, "re") if py is not None else Pattern(source, _re2_search(rx), "re2")
        if len(_COMPILED) < 4096:
            _COMPILED[source] = p
    return p


def _template(fmt: str, rx) -> list:
    """A mask's format as [literal, group, literal, ...]: ``\\1``..``\\99``, ``\\g<n>``, ``\\g<name>``
    and ``\\\\``; any other backslash is an error (formats are for masks, not escapes)."""
    out, lit, i = [], [], 0
    names = rx.groupindex
    while i < len(fmt):
        ch = fmt[i]
        if ch != "\\":
            lit.append(ch)
            i += 1
            continue
        m = re.compile(r"\\(?:(\d{1,2})|g<([^>]*)>|(\\))").match(fmt, i)
        if m is None:
            raise PatternError(f"the format has an unknown escape at character {i + 1} (use \\1, \\g<name> or \\\\)")
        if m.group(3):
            lit.append("\\")
        else:
            ref = m.group(1) or m.group(2)
            group = int(ref) if ref.isdigit() else names.get(ref)
            if group is None or not 0 <= group <= rx.groups:
                raise PatternError(f"the format refers to group {ref!r}, which the regex does not have")
            out += ["".join(lit), group]
            lit = []
        i = m.end()
    return [*out, "".join(lit)]


def compile_mask(regex: str, fmt: str) -> Callable[[str], str | None]:
    """A regex mask: the value's full match rewritten by ``fmt``, or None if it does not match."""
    rx = _re2(regex)
    parts = _template(fmt, rx)
    fullmatch = rx.fullmatch

    def mask(text: str) -> str | None:
        m = fullmatch(text)
        if m is None:
            return None
        return "".join(p if i % 2 == 0 else (m.group(p) or "") for i, p in enumerate(parts))

    return mask
