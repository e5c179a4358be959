"""Where a contract seals values: its encrypted fields, as token sites (names only, no keys)."""

from __future__ import annotations

from typing import Any

from .common import _segments, _slots
from .contract import Contract
from .tokens import Site, TokenError, is_token, site


def sites(contract: Contract) -> dict[str, Site]:
    """path -> Site of every field the contract encrypts (with or without consent)."""
    out = {}
    for f in contract.fields:
        p = f.pii
        if p is not None and "encrypt" in (p.action, p.always):
            out[f.path] = site(contract.type, f.path, p.encrypt == "deterministic", contract.retention_days)
    return out


def subject_link(record: dict, contract: Contract) -> Any:
    """The subject field's value in a scrubbed record: its key link (or a token, or None)."""
    v: Any = record
    for name, _each in _segments(contract.subject):
        if type(v) is not dict:
            return None
        v = v.get(name)
    return v


def open_record(record: dict, contract: Contract, opener, paths=None) -> list[tuple[str, str]]:
    """Open, in place, the tokens of ``record``'s encrypted fields (all, or those in ``paths``)
    with ``opener`` (``privacy.subjects.Opener``). Returns (path, reason) for each token that did
    not open (tampered, forgotten, expired, ...): it is left as it is, never guessed at."""
    link = subject_link(record, contract)
    problems = []
    for path, s in sites(contract).items():
        if paths is not None and path not in paths:
            continue
        for c, k in _slots(record, _segments(path)):
            v = c.get(k) if type(c) is dict else c[k]
            if not is_token(v):
                continue
            try:
                c[k] = opener.open(v, s, link)
            except TokenError as exc:
                problems.append((path, exc.reason))
    return problems
