"""Reading a contract document: errors that name the file and the key, and typed readers."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

# Used with fullmatch (a "$" anchor would accept a trailing newline). Field paths end up in
# generated code, always through repr(); these patterns are a second line of defence.
_PATH_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\[\*\])?(\.[A-Za-z_][A-Za-z0-9_]*(\[\*\])?)*", re.ASCII)


class ContractError(ValueError):
    """A contract does not load or does not validate. The message names the file and the key."""


class _Doc:
    def __init__(self, source: str):
        self.source = source

    def err(self, key: str, msg: str) -> ContractError:
        return ContractError(f"{self.source}: {key}: {msg}" if key else f"{self.source}: {msg}")

    def mapping(self, v: Any, key: str) -> dict:
        if not isinstance(v, Mapping):
            raise self.err(key, f"must be a mapping, got {type(v).__name__}")
        return dict(v)

    def only(self, m: dict, key: str, allowed: set[str]) -> None:
        extra = sorted(set(m) - allowed)
        if extra:
            raise self.err(key, f"unknown key(s): {', '.join(extra)}")

    def string(self, m: dict, name: str, key: str, *, required=True, default=None, choices=None) -> Any:
        if name not in m:
            if required:
                raise self.err(f"{key}.{name}" if key else name, "is required")
            return default
        v = m[name]
        if not isinstance(v, str) or not v:
            raise self.err(f"{key}.{name}" if key else name, f"must be a non-empty string, got {v!r}")
        if choices is not None and v not in choices:
            raise self.err(f"{key}.{name}" if key else name, f"must be one of {', '.join(choices)}, got {v!r}")
        return v


def _str_list(doc: _Doc, v: Any, key: str) -> tuple[str, ...]:
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not v or not all(isinstance(x, str) and x for x in v):
        raise doc.err(key, f"must be a non-empty list of names, got {v!r}")
    if len(set(v)) != len(v):
        raise doc.err(key, "lists a name twice")
    return tuple(v)


def _number(doc: _Doc, v: Any, key: str) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise doc.err(key, f"must be a finite number, got {v!r}")
    return v
