"""Consent, fail-closed: which purposes an event's subject consented to, under its contract's
model (a flag, or a list of purposes, granular or cumulative), and what an ambiguous or malformed
consent value becomes in the output."""

from __future__ import annotations

import json
from typing import Any

from .common import _MISSING, _segments, _slots
from .contract import Contract


def _has_duplicate_key(raw: bytes, keys: frozenset) -> bool:
    """Exact check (stdlib parser): does any object in ``raw`` hold one of ``keys`` twice?"""
    dup = False

    def hook(pairs):
        nonlocal dup
        if not dup:
            names = [k for k, _ in pairs if k in keys]
            dup = len(names) != len(set(names))
        return dict(pairs)

    try:
        json.loads(raw, object_pairs_hook=hook)
    except RecursionError:
        return True  # deeper than the stdlib parser goes: cannot prove it unambiguous
    return dup


def unambiguous(raw: bytes | None, names: frozenset, literals: tuple) -> bool:
    """Is each of ``names`` (the keys on the way to a value) spelt once per object in ``raw``?"""
    if raw is None:
        return True
    # Without escapes a key is spelt one way, and a literal inside a string value has its
    # quotes escaped: one literal occurrence means one key. Otherwise: the exact, slow check.
    # (a one-byte search is a memchr; CPython's two-byte search is several times slower)
    if (b"\\" not in raw or b"\\u" not in raw) and all(raw.count(lit) == 1 for lit in literals):
        return True
    return not _has_duplicate_key(raw, names)


def key_literals(path: str) -> tuple[frozenset, tuple]:
    """The keys on the way to ``path``'s value, and each as it is spelt in JSON."""
    names = frozenset(name for name, _ in _segments(path))
    return names, tuple(json.dumps(name).encode("utf-8") for name in sorted(names))


class _ConsentReader:
    def __init__(self, c: Contract):
        self.model = c.consent.model
        self.segs = _segments(c.consent.path)
        self.leaf = self.segs[-1][0]
        # every key on the way to the consent value: a parent spelt twice ({"consent": {...},
        # "consent": {...}}) is as ambiguous as the value's own key spelt twice
        self.names = frozenset(name for name, _ in self.segs)
        self.literals = tuple(json.dumps(name).encode("utf-8") for name in sorted(self.names))
        self.all = frozenset(c.purposes)
        self.order = {p: i for i, p in enumerate(c.purposes)}
        self.cumulative = c.consent.levels == "cumulative"
        # tuple of the purposes as listed -> the purposes consented to, for lists of strings only
        # (a hit then means an equal tuple of strings: no number or boolean equals a string).
        # Combinations are few; bounded regardless.
        self.granted: dict[tuple, frozenset] = {}

    def remember(self, v: list, purposes: frozenset) -> None:
        """Remember what a well-formed list of purpose names grants (``consented_value(v, None)``)."""
        if len(self.granted) < 4096 and all(type(i) is str for i in v):
            self.granted[tuple(v)] = purposes

    def _value(self, event: dict):
        if len(self.segs) == 1:
            return event.get(self.leaf, _MISSING)
        for c, k in _slots(event, self.segs):
            return c.get(k, _MISSING)
        return _MISSING

    def unambiguous(self, raw: bytes | None) -> bool:
        return unambiguous(raw, self.names, self.literals)

    def malformed(self, event: dict) -> bool:
        """A consent value that is not a boolean (flag) or a list of purposes: it can be anything,
        personal data included, so it is redacted in the output."""
        return self.malformed_value(self._value(event))

    def malformed_value(self, v) -> bool:
        if v is _MISSING or v is None:
            return False
        if self.model == "flag":
            return type(v) is not bool
        return type(v) is not list or not all(
            (type(i) is str and i in self.order) or (type(i) is int and 0 <= i < len(self.order)) for i in v
        )

    def redact(self, event: dict, token: Any) -> None:
        """Replace the consent value (with the redaction token, or what was applied)."""
        if len(self.segs) == 1:
            event[self.leaf] = token
            return
        for c, k in list(_slots(event, self.segs)):
            if type(c) is dict and k in c:
                c[k] = token

    def voided(self, event: dict) -> bool:
        """Called when nothing was consented to: if the value as parsed would have granted a
        purpose (it was refused as ambiguous, the key being spelt twice), the output shows what
        was applied instead (``false``, or an empty list of purposes), never the value a reader
        would take for consent. True if it did."""
        v = self._value(event)
        if (v is True) if self.model == "flag" else (type(v) is list and self.consented_value(v, None)):
            self.redact(event, False if self.model == "flag" else [])
            return True
        return False

    def consented(self, event: dict, raw: bytes | None) -> frozenset:
        return self.consented_value(self._value(event), raw)

    def consented_value(self, v, raw: bytes | None) -> frozenset:
        """The purposes consented to, given the consent value (``_MISSING`` if absent) and the raw
        record it was read from (``None``: already known to hold the key once)."""
        if self.model == "flag":
            return self.all if (v is True and self.unambiguous(raw)) else frozenset()
        if type(v) is not list or not v:
            return frozenset()
        idx = []
        for item in v:
            if type(item) is str and item in self.order:
                idx.append(self.order[item])
            elif type(item) is int and type(item) is not bool and 0 <= item < len(self.order):
                idx.append(item)
            else:
                return frozenset()  # malformed consent is no consent
        if not self.unambiguous(raw):
            return frozenset()
        purposes = list(self.order)
        if self.cumulative:
            return frozenset(purposes[: max(idx) + 1])
        return frozenset(purposes[i] for i in idx)
