"""The producer's vocabulary in a contract (``generate:``): how each field is filled.

Parsed and checked with the rest of the contract; the producer (``producer/events.py``) reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .document import _PATH_RE, _Doc, _number

if TYPE_CHECKING:
    from .contract import FieldSpec

# The producer's vocabulary for generating a field (``generate:``); see ``producer/events.py``.
GENERATORS = ("uuid", "clock", "subject", "text", "between", "template", "chance", "count", "sum")
SUBJECT_ATTRIBUTES = {  # attribute -> the field types it can fill
    "id": ("string",), "name": ("string",), "first_name": ("string",), "dob": ("date", "string"),
    "gender": ("string",), "ssn": ("string",), "email": ("string",), "phone": ("string",),
    "street": ("string",), "city": ("string",), "state": ("string",), "postcode": ("string",),
    "country": ("string",),
}
TEXTS = ("note", "gift")


@dataclass(frozen=True)
class Generate:
    """How the producer fills a field: one generator of ``GENERATORS`` and its argument, and the
    share of events that carry the field at all (``present``, optional fields only)."""

    kind: str
    arg: Any = None
    present: float = 1.0



def _probability(doc: _Doc, v: Any, key: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
        raise doc.err(key, f"must be a probability from 0 to 1, got {v!r}")
    return float(v)


def _parse_generate(doc: _Doc, raw: Any, key: str, ftype: str, required: bool) -> Generate:
    """``uuid`` | ``clock`` | {subject: email} | {text: note} | {between: [lo, hi]} |
    {template: "SKU-%####"} | {chance: 0.2} | {count: [lo, hi]} | {sum: [a[*].x, a[*].y]},
    each optionally with ``present: 0.3`` ({present: 0.3} alone: a derivable field, sometimes
    absent). Cross-field checks are in ``_check_generators``."""
    if isinstance(raw, str):
        raw = {raw: None}
    m = doc.mapping(raw, key)
    present = _probability(doc, m.pop("present"), f"{key}.present") if "present" in m else 1.0
    if present < 1 and required:
        raise doc.err(f"{key}.present", "a required field is always present")
    if not m and "present" in raw:  # {present: 0.3} alone: derived, and only sometimes there
        return Generate(kind="derive", present=present)
    kinds = [k for k in m if k in GENERATORS]
    unknown = sorted(str(k) for k in m if k not in GENERATORS)
    if unknown or len(kinds) != 1:
        raise doc.err(key, f"must name exactly one generator of {', '.join(GENERATORS)} (plus 'present'), "
                           f"got {', '.join(map(str, m)) or 'none'}")
    kind = kinds[0]
    arg = m[kind]
    k = f"{key}.{kind}"

    def types(*allowed: str) -> None:
        if ftype not in allowed:
            raise doc.err(k, f"does not generate a field of type {ftype} (only {', '.join(allowed)})")

    def pair(numbers: bool) -> tuple:
        if not isinstance(arg, list) or len(arg) != 2:
            raise doc.err(k, f"must be a list of two items, got {arg!r}")
        if numbers:
            lo, hi = (_number(doc, v, k) for v in arg)
            if lo is None or hi is None or lo > hi:
                raise doc.err(k, f"must be [low, high] with low <= high, got {arg!r}")
            return lo, hi
        return tuple(arg)

    if kind in ("uuid", "clock"):
        if arg is not None:
            raise doc.err(k, "takes no argument")
        types(*(("string",) if kind == "uuid" else ("datetime", "string")))
    elif kind == "subject":
        if arg not in SUBJECT_ATTRIBUTES:
            raise doc.err(k, f"must be one of {', '.join(SUBJECT_ATTRIBUTES)}, got {arg!r}")
        types(*SUBJECT_ATTRIBUTES[arg])
    elif kind == "text":
        if arg not in TEXTS:
            raise doc.err(k, f"must be one of {', '.join(TEXTS)}, got {arg!r}")
        types("string")
    elif kind == "between":
        types("integer", "number")
        arg = pair(True)
        if ftype == "integer" and not all(float(v).is_integer() for v in arg):
            raise doc.err(k, f"bounds of an integer field must be whole numbers, got {arg!r}")
    elif kind == "count":
        types("array")
        arg = pair(True)
        if not all(isinstance(v, int) and v >= 0 for v in arg):
            raise doc.err(k, f"must be [low, high] counts (whole numbers from 0), got {arg!r}")
    elif kind == "template":
        types("string")
        if not isinstance(arg, str) or not arg:
            raise doc.err(k, "must be a non-empty string (# a digit, % a digit from 1 to 9, ? a letter)")
    elif kind == "chance":
        types("boolean")
        arg = _probability(doc, arg, k)
    else:  # sum
        types("integer", "number")
        arg = pair(False)
        if not all(isinstance(v, str) and _PATH_RE.fullmatch(v) for v in arg):
            raise doc.err(k, f"must name two field paths, got {arg!r}")
    return Generate(kind=kind, arg=arg, present=present)


def _check_generators(doc: _Doc, fields: tuple[FieldSpec, ...], consent_path: str) -> None:
    """A contract that tells the producer how to generate any field must tell it for every field
    (or the field must be derivable: an enum, a bounded number, a boolean, a container, the
    consent field), and a sum must name numbers in the items of one array."""
    if not any(f.generate for f in fields):
        return
    by_path = {f.path: f for f in fields}
    for f in fields:
        key = f"fields.{f.path}.generate"
        g = f.generate
        if g is not None and f.path == consent_path:
            raise doc.err(key, "the consent field is generated from each subject's consent; remove the hint")
        if g is not None and g.kind == "sum":
            if "[*]" in f.path:
                raise doc.err(key, "a sum cannot sit inside an array")
            arrays = set()
            for p in g.arg:
                op = by_path.get(p)
                if op is None or op.type not in ("integer", "number") or p.count("[*]") != 1 or "." in p.split("[*].")[-1]:
                    raise doc.err(key, f"{p!r} names no declared number directly in an array's items")
                arrays.add(p.split("[*]")[0])
            if len(arrays) != 1:
                raise doc.err(key, "both operands must be fields of the same array's items")
        if ((g is None or g.kind == "derive") and f.path != consent_path and f.type not in ("object", "array", "boolean")
                and not f.enum and not (f.type in ("integer", "number") and f.minimum is not None and f.maximum is not None)):
            raise doc.err(key, "is missing: other fields say how the producer generates them, so this one must too "
                               "(an enum, a bounded number, a boolean or an object needs no hint)")
