"""Validation of an event against its contract's declared fields: the field tree and the checks
each field's declaration implies, as Python expressions for the generated walk."""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING

from .patterns import compile_pattern

if TYPE_CHECKING:
    from .contract import FieldSpec

# RFC 3339 digits are ASCII (re.ASCII: a bare \d would also take e.g. Arabic-Indic digits)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)


def _is_date(v) -> bool:
    if type(v) is not str or not _DATE_RE.match(v):
        return False
    try:
        date.fromisoformat(v)
    except ValueError:
        return False
    return True


_DATETIME_RE = re.compile(
    r"^[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[T ](?:[01][0-9]|2[0-3]):[0-5][0-9]"
    r"(?::[0-5][0-9](?:\.[0-9]{1,9})?)?(?:Z|[+-](?:[01][0-9]|2[0-3]):?[0-5][0-9])?$"
)


def _is_datetime(v) -> bool:
    """ISO 8601 date-time (RFC 3339 profile, offset optional), on a day that exists."""
    if type(v) is not str or _DATETIME_RE.match(v) is None:
        return False
    try:  # a real day (the pattern lets 2026-02-31 through): Athena and DuckDB refuse the others
        date.fromisoformat(v[:10])
    except ValueError:
        return False
    return True


def _datetime_search(v):
    """``_is_datetime`` in the shape of a pattern's search (None: no match), for the fast path."""
    return True if _is_datetime(v) else None


_PY_TYPES = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,), "object": (dict,),
    "array": (list,), "date": (str,), "datetime": (str,), "any": None,
}


class _Node:
    """The declared fields of one object (the event, a nested object, or each item of an array)."""

    __slots__ = ("fields", "names", "path")

    def __init__(self, path: str):
        self.fields: list = []  # (name, types, required, nullable, checks, child, each)
        self.names: frozenset = frozenset()
        self.path = path


def _inline_checks(f: FieldSpec, v: str, const) -> list[str]:
    """Failure conditions for one field's validations, as Python expressions over variable ``v``."""
    out = []
    if f.max_length is not None:  # first: the checks after it then see a value of bounded length
        ml = const(int(f.max_length))
        out.append(f"len({v}) > {ml}" if f.type in ("string", "array") else f"type({v}) in (str, list) and len({v}) > {ml}")
    if f.type == "date":
        out.append(f"not {const(_is_date)}({v})")
    elif f.type == "datetime":
        out.append(f"not {const(_is_datetime)}({v})")
    if f.pattern is not None:  # linear time whatever the pattern (privacy.patterns)
        search = const(compile_pattern(f.pattern).search)
        typed = f.type in ("string", "date", "datetime")  # a str by now; any other type: check it is one
        out.append(f"{search}({v}) is None" if typed else f"type({v}) is not str or {search}({v}) is None")
    if f.enum is not None:
        try:
            allowed_set = const(frozenset((type(a), a) for a in f.enum))
            out.append(f"type({v}) in (list, dict) or (type({v}), {v}) not in {allowed_set}")
        except TypeError:
            allowed = list(f.enum)
            out.append(f"not {const(lambda x: any(x == a and type(x) is type(a) for a in allowed))}({v})")
    # Values enter the generated code only as named constants, never as source text.
    numeric = f.type in ("integer", "number")
    if f.minimum is not None:
        mn = const(f.minimum)
        out.append(f"{v} < {mn}" if numeric else f"not (type({v}) in (int, float) and {v} >= {mn})")
    if f.maximum is not None:
        mx = const(f.maximum)
        out.append(f"{v} > {mx}" if numeric else f"not (type({v}) in (int, float) and {v} <= {mx})")
    return out


def _build_tree(fields: tuple[FieldSpec, ...]) -> _Node:
    root = _Node("")
    nodes = {"": root}
    names: dict[str, set] = {"": set()}
    fields = tuple(sorted(fields, key=lambda f: f.path.count(".")))  # parents first, whatever the file order
    for f in fields:
        parent, _, leaf = f.path.rpartition(".")
        node = nodes[parent]
        names.setdefault(parent, set()).add(leaf)
        child, each = None, False
        if f.type in ("object", "array"):
            each = f.type == "array"
            key = f.path + ("[*]" if each else "")
            if any(g.path.startswith(key + ".") for g in fields):
                child = nodes[key] = _Node(key)
        node.fields.append((leaf, _PY_TYPES[f.type], f.required, f.nullable, f, child, each))
    for path, node in nodes.items():
        node.names = frozenset(names.get(path, ()))
    return root
