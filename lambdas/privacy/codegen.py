"""Generated code: source lines, the constants they name, and the consent branches both engines
emit."""

from __future__ import annotations

import linecache
from collections.abc import Callable, Mapping
from typing import Any


class _Code:
    """Generated source lines and the constants they name. Values enter generated code only as
    named constants, never as source text; field names only through repr()."""

    def __init__(self, consts: Mapping[str, Any], prefix: str = "k"):
        self.consts: dict[str, Any] = dict(consts)
        self.lines: list[str] = []
        self._prefix = prefix
        self._n = 0

    def const(self, value) -> str:
        self._n += 1
        name = f"{self._prefix}{self._n}"
        self.consts[name] = value
        return name

    def function(self, signature: str, label: str) -> tuple[Callable, str]:
        """Compile ``def <signature>:`` over the lines; returns the function and its source."""
        src = f"def {signature}:\n" + "\n".join(self.lines) + "\n"
        ns: dict[str, Any] = dict(self.consts)
        exec(compile(src, label, "exec"), ns)  # noqa: S102 - generated from a validated contract
        # tracebacks through generated code show its source (a lazy entry: never evicted by
        # linecache.checkcache, which only checks entries with a file on disk)
        linecache.cache[label] = (len(src), None, src.splitlines(True), label)
        return ns[signature.partition("(")[0]], src


def _emit_consent_branches(code: _Code, pii_ops, emit, grouped: bool = False, flag: frozenset | None = None) -> None:
    """For each PII field: its ``always`` action when its purposes are all consented to, its
    action when they are not. ``emit(actions, depth)`` writes actions, a list of ``(path, fn,
    action, for_lack_of_consent)``.

    ``grouped``: one test per distinct purpose set, with the actions of all the fields that need
    it (rather than one per field, in contract order). Only when no field's path lies within
    another's: their actions then touch separate values and their order cannot matter. ``flag``:
    the purposes a consent flag grants (all or none), for which every test is one test, of
    whether the flag granted anything."""
    paths = [op.path for op in pii_ops]
    nested = any(q.startswith(p + ".") or q.startswith(p + "[*]") for p in paths for q in paths if p != q)
    if grouped and not nested:
        groups: dict[frozenset, list] = {}
        for op in pii_ops:
            key = flag if flag is not None and op.purposes and op.purposes <= flag else op.purposes
            groups.setdefault(key, []).append(op)
        blocks = list(groups.items())
    else:
        blocks = [(op.purposes, [op]) for op in pii_ops]
    for need, ops in blocks:
        test = "consented" if need is flag else f"{code.const(need)} <= consented"
        always = [(op.path, op.always_fn, op.always, False) for op in ops if op.always_fn is not None]
        lack = [(op.path, op.fn, op.action, True) for op in ops]
        if always:
            code.lines.append(f"    if {test}:")
            emit(always, 2)
            code.lines.append("    else:")
            emit(lack, 2)
        else:
            code.lines.append(f"    if not ({test}):")
            emit(lack, 2)
