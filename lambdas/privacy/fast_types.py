"""The fast path's types: a contract's fields as msgspec Struct types, decoded and validated in C,
equivalent to the reference engine's validation or ``Unsupported``."""

from __future__ import annotations

import math
from datetime import date
from typing import Annotated, Any, Literal, Union

from msgspec import Meta

from .patterns import compile_pattern


class Unsupported(Exception):
    """The contract uses something the fast path cannot express exactly."""


def _attr(name: str) -> str:
    return "f_" + name  # field names are identifiers; a prefix keeps keywords and dunders out


def _int_bounds(f) -> dict:
    meta = {}
    if f.minimum is not None:
        meta["ge"] = math.ceil(f.minimum)
    if f.maximum is not None:
        meta["le"] = math.floor(f.maximum)
    return meta


def _leaf_type(f, child) -> Any:
    """The msgspec type of one field, equivalent to the reference validation or Unsupported."""
    t = f.type
    has_range = f.minimum is not None or f.maximum is not None
    if t in ("object", "array", "any", "boolean", "date"):
        if f.pattern is not None or f.enum is not None or has_range:
            raise Unsupported(f"{f.path}: constraint on {t}")
    if t == "object":
        # max_length does not apply to objects in the reference engine either
        return child if child is not None else dict
    if t == "array":
        item = list[child] if child is not None else list
        return Annotated[item, Meta(max_length=int(f.max_length))] if f.max_length is not None else item
    if t == "any":
        if f.max_length is not None:
            raise Unsupported(f"{f.path}: max_length on any")
        return Any
    if t == "boolean":
        return bool  # max_length does not apply to booleans in the reference engine
    if t == "date":
        if f.max_length is not None and f.max_length < 10:  # every date is 10 characters long
            raise Unsupported(f"{f.path}: max_length below 10 on a date")
        return date  # RFC 3339 full-date, checked for a real day: the reference's check exactly
    if t in ("string", "datetime"):
        if has_range:
            raise Unsupported(f"{f.path}: range on {t}")
        if t == "datetime" and (f.pattern is not None or f.enum is not None):
            raise Unsupported(f"{f.path}: pattern or enum on datetime")
        if f.enum is not None:
            # an enum leaves nothing to match at run time: apply the other checks now
            search = compile_pattern(f.pattern).search if f.pattern is not None else None
            values = tuple(
                v for v in f.enum
                if type(v) is str
                and (search is None or search(v) is not None)
                and (f.max_length is None or len(v) <= f.max_length)
            )
            if not values:
                raise Unsupported(f"{f.path}: no string satisfies the enum")
            return Literal[values]
        # a pattern is checked by the plan's generated code (FastPlan.checks): msgspec's own
        # pattern constraint costs about four times as much as calling the compiled search
        return Annotated[str, Meta(max_length=int(f.max_length))] if f.max_length is not None else str
    # integer, number: the reference engine applies max_length to strings and lists only
    if t == "integer":
        if f.enum is not None:
            values = tuple(
                v for v in f.enum
                if type(v) is int
                and (f.minimum is None or v >= f.minimum)
                and (f.maximum is None or v <= f.maximum)
            )
            if not values:
                raise Unsupported(f"{f.path}: no integer satisfies the enum")
            return Literal[values]
        meta = _int_bounds(f)
        return Annotated[int, Meta(**meta)] if meta else int
    if t == "number":
        if f.enum is not None:
            raise Unsupported(f"{f.path}: enum on number")
        if not has_range:
            return Union[int, float]  # noqa: UP007 - a type built at run time, for msgspec
        fmeta = {}
        if f.minimum is not None:
            fmeta["ge"] = f.minimum
        if f.maximum is not None:
            fmeta["le"] = f.maximum
        return Union[Annotated[int, Meta(**_int_bounds(f))], Annotated[float, Meta(**fmeta)]]  # noqa: UP007 - as above
    raise Unsupported(f"{f.path}: type {t}")


# orjson, the reference engine's parser, reads integers in this range exactly and others as floats
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1


# orjson, the reference engine's parser, refuses a document nested deeper than this (the event
# object is level 1): the documented limit, which the fast path must keep too
MAX_DEPTH = 1024


def _needs_reference(v, room: int, ints: bool = True) -> bool:
    """Does a decoded untyped JSON value nest more than ``room`` levels of containers (the value
    itself the first), or (``ints``) hold an integer orjson would not read exactly?"""
    stack = [(v, 1)]
    while stack:
        x, d = stack.pop()
        t = type(x)
        if t is int and ints:
            if not _INT_MIN <= x <= _INT_MAX:
                return True
        elif t is list or t is dict:
            if d > room:
                return True
            d += 1
            stack.extend([(c, d) for c in (x if t is list else x.values())])
    return False


def _level(path: str) -> int:
    """The nesting level of a field's value: the event object is level 1, each object or array
    on the way one more."""
    return 1 + path.count(".") + 1 + path.count("[*]")


