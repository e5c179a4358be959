"""The actions a contract applies to a personal-data field, as value -> value functions."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from .detectors import luhn_ok
from .patterns import PatternError, compile_mask, compile_pattern
from .pii import ENCRYPTIONS, GENERALISATIONS, MASKS, Pii
from .tokens import Site, site
from .validation import _is_date

# bytes.translate is a C table loop; str.translate with a mapping and re.sub are several times slower
_ASCII_DIGITS = b"0123456789"
_NON_ASCII_DIGITS = bytes(b for b in range(256) if not 48 <= b <= 57)
_STAR_DIGITS = bytes.maketrans(_ASCII_DIGITS, b"**********")
_EMAIL_RE = re.compile(r"^([^@\s])[^@\s]*@([^@\s]+\.[^@\s]+)$")


def _mask_fn(p: Pii, token: str) -> Callable[[Any], Any]:
    """value -> masked value; anything the mask cannot make sense of is redacted (fail closed)."""
    if p.mask_regex is not None:
        rewrite = compile_mask(p.mask_regex, p.mask_format)  # RE2: linear in the value

        def regex_mask(v):
            if type(v) in (int, float) and type(v) is not bool:
                v = str(v)
            out = rewrite(v) if type(v) is str else None
            return token if out is None else out

        return regex_mask

    kind = p.mask

    def as_text(v):
        if type(v) is str:
            return v
        if type(v) is int:
            return str(v)
        return None

    if kind == "ssn":
        def ssn(v):
            s = as_text(v)
            # ASCII digits only (a character outside ASCII becomes "?" and goes too)
            d = s.encode("ascii", "replace").translate(None, _NON_ASCII_DIGITS) if s is not None else b""
            return "***-**-" + d[-4:].decode("ascii") if len(d) == 9 else token
        return ssn
    if kind == "email":
        def email(v):
            m = _EMAIL_RE.match(v) if type(v) is str else None
            return f"{m.group(1)}***@{m.group(2)}" if m else token
        return email
    if kind == "phone":
        # the number, then an optional extension ("x43847", " ext. 12"): the last four digits kept
        # are the number's, and the extension's digits are starred like the rest
        # (+1-914-256-7627x43847 -> +*-***-***-7627x*****)
        shape = re.compile(r"([\d ().+/-]+?)([ ]*(?:x|ext\.?)[ ]*\d{1,6}[ ]*)?", re.ASCII | re.IGNORECASE)

        def phone(v):
            if type(v) is not str:
                if type(v) is not int:
                    return token
                v = str(v)
            m = shape.fullmatch(v)  # anything but digits, separators and an extension: redact it all
            if m is None:
                return token
            number, ext = m.groups()
            # the digits starred, cut before the fourth digit from the end: it and what follows stay
            parts = number.encode("ascii").translate(_STAR_DIGITS).rsplit(b"*", 4)
            # fewer than 7 digits (fewer than 3 before the last four): not a phone number
            if len(parts) < 5 or parts[0].count(b"*") < 3:
                return token
            out = parts[0].decode("ascii") + number[len(parts[0]):]
            return out + ext.encode("ascii").translate(_STAR_DIGITS).decode("ascii") if ext else out
        return phone
    if kind == "card":
        def card(v):
            s = as_text(v)
            d = s.encode("ascii", "replace").translate(None, _NON_ASCII_DIGITS).decode("ascii") if s is not None else ""
            return "*" * (len(d) - 4) + d[-4:] if 13 <= len(d) <= 19 and luhn_ok(d) else token
        return card
    # last4
    def last4(v):
        s = as_text(v)
        if s is None:
            return token
        return "*" * len(s) if len(s) <= 4 else "*" * (len(s) - 4) + s[-4:]
    return last4


def _generalise_fn(p: Pii, token: str) -> Callable[[Any], Any]:
    g = p.generalise
    if g == "year":
        return lambda v: v[:4] if (type(v) is str and (_is_date(v[:10]))) else token
    if g == "day":
        return lambda v: v[:10] if (type(v) is str and _is_date(v[:10])) else token
    if g == "age_band":
        band = p.band

        def age(v):
            if type(v) not in (int, float) or v < 0 or v != v:
                return token
            lo = int(v) // band * band
            return f"{lo}-{lo + band - 1}"
        return age
    n = p.prefix
    return lambda v: v.strip()[:n] if type(v) is str and len(v.strip()) > n else token


# ---------------------------------------------------------------------------------------------
# The registry: every action a contract can name, in one place
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# Parameters: each action checks its own, in a contract's ``pii`` block (``doc`` reports errors
# with the contract file and key), and returns them as ``Pii`` attributes
# ---------------------------------------------------------------------------------------------


def _no_params(_doc, _m, _key, _ftype) -> dict:
    return {}


def _mask_params(doc, m, key, _ftype) -> dict:
    mask = doc.string(m, "mask", key, required=False, choices=MASKS)
    regex = doc.string(m, "regex", key, required=False)
    fmt = doc.string(m, "format", key, required=False)
    if (mask is None) == (regex is None):
        raise doc.err(key, "a mask action needs exactly one of 'mask' (a named mask) or 'regex' + 'format'")
    if regex is not None:
        if fmt is None:
            raise doc.err(f"{key}.format", "is required with 'regex'")
        try:
            compile_pattern(regex)
        except PatternError as exc:
            raise doc.err(f"{key}.regex", str(exc)) from None
        try:
            compile_mask(regex, fmt)  # checks the group references of the format
        except PatternError as exc:
            raise doc.err(f"{key}.format", str(exc)) from None
    elif fmt is not None:
        raise doc.err(f"{key}.format", "only applies with 'regex'")
    return {"mask": mask, "mask_regex": regex, "mask_format": fmt}


_GENERALISE_TYPES = {"year": ("date", "datetime", "string"), "day": ("datetime", "string"), "age_band": ("integer", "number"),
                     "prefix": ("string",)}


def _generalise_params(doc, m, key, ftype) -> dict:
    gen = doc.string(m, "generalise", key, required=False, choices=GENERALISATIONS)
    if gen is None:
        raise doc.err(f"{key}.generalise", "is required with the generalise action (year, age_band, prefix, day)")
    if ftype not in _GENERALISE_TYPES[gen] + ("any",):
        raise doc.err(f"{key}.generalise", f"{gen} does not apply to a field of type {ftype}")
    out = {"generalise": gen}
    # a band of 1 would keep the exact age
    for n, lo, applies in (("band", 2, "age_band"), ("prefix", 1, "prefix")):
        if n not in m:
            continue
        v = m[n]
        if gen != applies:
            raise doc.err(f"{key}.{n}", f"only applies to generalise: {applies}")
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= 100:
            raise doc.err(f"{key}.{n}", f"must be an integer from {lo} to 100, got {v!r}")
        out[n] = v
    return out


def _encrypt_params(doc, m, key, _ftype) -> dict:
    return {"encrypt": doc.string(m, "encrypt", key, required=False, choices=ENCRYPTIONS)}  # None: random


@dataclass(frozen=True)
class Action:
    """One action. ``build(pii, token)`` gives its value -> value function (None: the action
    removes the field). ``params``: the ``Pii`` attributes that configure it, so its *rule* (what
    decides its output besides the value) is derived here, never listed by hand elsewhere;
    ``check(doc, m, key, field type)`` reads and validates them from a contract's ``pii`` block
    (``yaml``: their names there)."""

    name: str
    build: Callable[[Pii, str], Callable[[Any], Any] | None]
    params: tuple[str, ...] = ()
    yaml: tuple[str, ...] = ()
    check: Callable[..., dict] = _no_params
    pure: bool = True  # a function of the value and the rule alone: its outputs may be remembered
    keyed: bool = False  # reads keys from the key port at run time (never compiled in)
    needs_subject: bool = False  # reads the subject's per-subject material (its key)
    constant: bool = False  # the same output whatever the value (the redaction token)
    with_consent: bool = True  # may be the action with consent (``always``): not one that removes the field

    def rule(self, pii: Pii, token: str) -> tuple:
        return (self.name, token, *(getattr(pii, name) for name in self.params))


REGISTRY: dict[str, Action] = {}


def register(action: Action) -> Action:
    if action.name in REGISTRY:
        raise ValueError(f"action {action.name!r} is registered twice")
    REGISTRY[action.name] = action
    return action


def _keyed(_p: Pii, _token: str):
    return KEYED


class _Keyed:
    """The function of a keyed action: the emitters call the key port in its place."""

    def __repr__(self) -> str:
        return "KEYED"


KEYED = _Keyed()


class _Link(_Keyed):
    def __repr__(self) -> str:
        return "LINK"


LINK = _Link()

register(Action("redact", lambda _p, token: (lambda _v: token), constant=True))
register(Action("mask", _mask_fn, params=("mask", "mask_regex", "mask_format"), yaml=("mask", "regex", "format"),
                check=_mask_params))
register(Action("pseudonymise", _keyed, pure=False, keyed=True))
register(Action("generalise", _generalise_fn, params=("generalise", "band", "prefix"), yaml=("generalise", "band", "prefix"),
                check=_generalise_params))
register(Action("drop", lambda _p, _token: None, with_consent=False))
# the value sealed under the subject's own data key (privacy.tokens): kept, and unreadable once
# the subject is forgotten; its key comes through the key port, per record (needs_subject)
register(Action("encrypt", _keyed, params=("encrypt",), yaml=("encrypt",), check=_encrypt_params, pure=False, keyed=True,
                needs_subject=True))

ACTIONS = tuple(REGISTRY)
# a parameter's name in a pii block -> the actions that take it
PARAMS: dict[str, tuple[str, ...]] = {}
for _a in REGISTRY.values():
    for _n in _a.yaml:
        PARAMS[_n] = (*PARAMS.get(_n, ()), _a.name)


class PiiOp(NamedTuple):
    """One personal-data field of a contract's plan: the action without consent to all of
    ``purposes``, and the ``always`` action with it (or None). It writes ``path``; ``reads`` names
    what it reads besides its own value: the subject (``SUBJECT``), whose id and key every emitter
    captures once per record before any action runs, so an action that rewrites the subject's
    field (pseudonymise) cannot change what another action sees."""

    path: str
    purposes: frozenset
    action: str
    fn: Callable[[Any], Any] | _Keyed | Site | None
    always: str | None
    always_fn: Callable[[Any], Any] | _Keyed | Site | None
    reads: tuple[str, ...] = ()

    def reads_subject(self) -> bool:
        return SUBJECT in self.reads


SUBJECT = "<subject>"


def pii_op(path: str, p: Pii, token: str, contract_type: str = "", subject: str | None = None,
           retention_days: int | None = None) -> PiiOp:
    """The op of field ``path``. Keyed actions get markers, never keys: ``KEYED`` (an HMAC
    pseudonym from the key port), ``LINK`` (the subject's own field, pseudonymised: its key link
    when the port has per-subject keys, else its HMAC pseudonym) or a ``Site`` (sealed under the
    subject's data key)."""

    def fn(name: str):
        act = REGISTRY[name]
        if name == "pseudonymise" and path == subject:
            return LINK
        if act.needs_subject:
            return site(contract_type, path, p.encrypt == "deterministic", retention_days)
        return act.build(p, token)

    names = [p.action] + ([p.always] if p.always else [])
    reads = (SUBJECT,) if any(REGISTRY[n].needs_subject or (n == "pseudonymise" and path == subject) for n in names) else ()
    return PiiOp(path, frozenset(p.purposes), p.action, fn(p.action), p.always, fn(p.always) if p.always else None, reads)
