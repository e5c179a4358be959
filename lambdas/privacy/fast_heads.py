"""The heads of the fast path's generated code: what it reads before any action. The consent
value; and the subject: its id, for the batch's bulk key lookup (phase 1), and its key (phase 2)."""

from __future__ import annotations

from msgspec import UNSET

from .actions import SUBJECT
from .common import _segments
from .consent import key_literals, unambiguous
from .fast_types import MAX_DEPTH, _attr, _level, _needs_reference
from .tokens import Site


def _no_subject(_obj) -> None:
    return None


def subject_getter(cc):
    """decoded record -> the subject id the batch resolves (None when the plan reads none)."""
    if not cc.reads_subject:
        return _no_subject
    attrs = [_attr(s) for s, _ in _segments(cc.contract.subject)]

    def subject(obj):
        for a in attrs:
            if obj is UNSET or obj is None:
                return None
            obj = getattr(obj, a)
        return obj

    return subject


def subject_head(cc, code) -> list[str]:
    """Generated lines: read the subject's id and find its key (SK) before any action (every op
    that ``reads`` the ``SUBJECT`` sees it as it came). A forgotten subject's record is the
    reference engine's, and so is one whose values would be sealed when the key port has no key
    for it (the reference engine redacts them)."""
    assert any(SUBJECT in op.reads for op in cc.pii_ops)
    segs = _segments(cc.contract.subject)
    parents = [("obj." + ".".join(_attr(s) for s, _ in segs[:i + 1])) for i in range(len(segs) - 1)]
    guard = " and ".join(f"{p} is not UNSET and {p} is not None" for p in parents)
    leaf = "obj." + ".".join(_attr(s) for s, _ in segs)
    # a subject key (or a parent of it) spelt twice: the reference engine's to refuse
    names, literals = key_literals(cc.contract.subject)
    check = f"{code.const(unambiguous)}(raw, {code.const(names)}, {code.const(literals)})"
    out = [f"    if not {check}:", "        raise FB()",
           f"    sv = {leaf} if {guard} else None" if guard else f"    sv = {leaf}",
           "    if type(sv) is str:",
           "        if not sv or sv[0].isspace() or sv[-1].isspace():",
           "            raise FB()",  # an empty or space-edged id: the reference engine refuses it
           "        SK = S.get(sv)",
           "    else:",
           "        SK = S.of(sv)",
           "    if SK is not None and SK.link is None:",
           "        raise FB()"]
    if any(isinstance(op.fn, Site) or isinstance(op.always_fn, Site) for op in cc.pii_ops):
        out += ["    if SK is None:", "        raise FB()"]
    return out


def consent_head(cc, code, cbit: int) -> list[str]:
    """Generated lines: the consent value read before the actions (``consented``), and ``m``
    starting with the bit ``cbit`` when a malformed value is to be redacted after them."""
    const, consts = code.const, code.consts
    consent_path = cc.contract.consent.path
    segs = _segments(consent_path)
    parents = [("obj." + ".".join(_attr(s) for s, _ in segs[:i + 1])) for i in range(len(segs) - 1)]
    guard = " and ".join(f"{p} is not UNSET and {p} is not None" for p in parents)
    leaf_attr = "obj." + ".".join(_attr(s) for s, _ in segs)
    head = [f"    cv = {leaf_attr} if {guard} else UNSET" if guard else f"    cv = {leaf_attr}"]
    # A consent that would grant something must be unambiguous: here only the common case of
    # _ConsentReader.unambiguous (no escapes, the key spelt once in the record); anything
    # else needs its exact check, which is the reference engine's.
    ambiguous = "(BS in raw and NOESC in raw) or " + " or ".join(
        f"raw.count({const(lit)}) != 1" for lit in cc.consent.literals)
    # A malformed consent (not a boolean, or not a list of purposes) is redacted; m starts
    # with that bit or none. (The checks after this may still hand the record back: then
    # nothing of this object is used.)
    # (a value nested too deep is the reference engine's to refuse: checked here, as the
    # checks below see the token; an integer beyond 64 bits in it is no concern, the value
    # is redacted on both paths)
    redact = [f"        if (type(cv) is list or type(cv) is dict) and {const(_needs_reference)}(cv, "
              f"{MAX_DEPTH + 1 - _level(consent_path)}, False):",
              "            raise FB()",
              f"        {leaf_attr} = TOKEN", f"        m = {cbit}"]
    if cc.consent.model == "flag":
        head += ["    if cv is True:",
                 f"        if {ambiguous}:",
                 "            raise FB()",
                 "        consented = ALL",
                 "        m = 0",
                 "    else:",
                 "        consented = NONE",
                 "        if cv is False or cv is None or cv is UNSET:",
                 "            m = 0",
                 "        else:",
                 *("    " + r for r in redact)]
    else:
        head += ["    if type(cv) is list and cv:",
                 f"        if {ambiguous}:",
                 "            raise FB()",
                 "        try:",
                 "            consented = GRANTED[tuple(cv)]",
                 "        except (KeyError, TypeError):",
                 "            consented = CONSENTED(cv, None)",
                 "            REMEMBER(cv, consented)",
                 "        if consented or not MALFORMED(cv):",
                 "            m = 0",
                 "        else:",
                 *("    " + r for r in redact),
                 # an empty list is well formed, and so is a null (absent) consent
                 "    elif cv is UNSET or cv is None or type(cv) is list:",
                 "        consented = NONE",
                 "        m = 0",
                 "    else:",
                 "        consented = NONE",
                 *redact]
    consts.update(GRANTED=cc.consent.granted, REMEMBER=cc.consent.remember, CONSENTED=cc.consent.consented_value,
                  MALFORMED=cc.consent.malformed_value, ALL=cc.consent.all, NONE=frozenset(), BS=b"\\",
                  NOESC=b"\\u")
    return head
