"""The actions a contract applies to a personal-data field, as value -> value functions."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from .contract import Pii
from .detectors import luhn_ok
from .patterns import compile_mask
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


@dataclass(frozen=True)
class Action:
    """One action. ``build(pii, token)`` gives its value -> value function (None: the action
    removes the field). ``params``: the ``Pii`` attributes that configure it, so its *rule* (what
    decides its output besides the value) is derived here, never listed by hand elsewhere."""

    name: str
    build: Callable[[Pii, str], Callable[[Any], Any] | None]
    params: tuple[str, ...] = ()
    pure: bool = True  # a function of the value and the rule alone: its outputs may be remembered
    keyed: bool = False  # reads keys from the key port at run time (never compiled in)
    needs_subject: bool = False  # reads the subject's raw id (per-subject material)
    constant: bool = False  # the same output whatever the value (the redaction token)

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

register(Action("redact", lambda _p, token: (lambda _v: token), constant=True))
register(Action("mask", _mask_fn, params=("mask", "mask_regex", "mask_format")))
register(Action("pseudonymise", _keyed, pure=False, keyed=True))
register(Action("generalise", _generalise_fn, params=("generalise", "band", "prefix")))
register(Action("drop", lambda _p, _token: None))


class PiiOp(NamedTuple):
    """One personal-data field of a contract's plan: the action without consent to all of
    ``purposes``, and the ``always`` action with it (or None)."""

    path: str
    purposes: frozenset
    action: str
    fn: Callable[[Any], Any] | _Keyed | None
    always: str | None
    always_fn: Callable[[Any], Any] | _Keyed | None

    def reads_subject(self) -> bool:
        return any(REGISTRY[a].needs_subject for a in (self.action, self.always) if a)


def pii_op(path: str, p: Pii, token: str) -> PiiOp:
    lack = REGISTRY[p.action]
    always = REGISTRY[p.always] if p.always else None
    return PiiOp(path, frozenset(p.purposes), p.action, lack.build(p, token),
                 p.always, always.build(p, token) if always else None)
