"""Lake records as a reader sees them: which contract wrote each (``_privacy.contract``), where
its tokens are, whose they are, what their subject consented to; and opening them.

A token that does not open (tampered, moved, forgotten, expired, malformed) stays as it is and is
reported with its path (``order.items[2].gift_message``) and the reason: never a wrong plaintext,
never a value in a report.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import orjson

from privacy.common import META_FIELD, _segments
from privacy.consent import _ConsentReader
from privacy.contract import Contract
from privacy.sealed import sites
from privacy.subjects import Opener
from privacy.tokens import Site, TokenError, is_token

Segments = tuple[tuple[str, bool], ...]
_LONG_NUMBER = re.compile(rb"[0-9]{16}")


class Opened(NamedTuple):
    """One record as a command returns it: the lake object it came from, the record (tokens
    opened where allowed), and the tokens that did not open: (path, reason)."""

    key: str
    record: dict
    unopened: list[tuple[str, str]]


def walk(doc: dict, segs: Segments) -> Iterator[tuple[Any, Any, str]]:
    """(container, key, concrete path) of every value at a declared path (``items[*].note`` gives
    ``items[0].note``, ``items[1].note``, ...). Missing or mistyped parents give nothing."""
    level: list[tuple[dict, str]] = [(doc, "")]
    for name, each in segs[:-1]:
        nxt = []
        for c, where in level:
            v = c.get(name)
            here = f"{where}.{name}" if where else name
            if each:
                if type(v) is list:
                    nxt.extend((x, f"{here}[{i}]") for i, x in enumerate(v) if type(x) is dict)
            elif type(v) is dict:
                nxt.append((v, here))
        level = nxt
    name, each = segs[-1]
    for c, where in level:
        here = f"{where}.{name}" if where else name
        if each:
            v = c.get(name)
            if type(v) is list:
                for i in range(len(v)):
                    yield v, i, f"{here}[{i}]"
        elif name in c:
            yield c, name, here


class ContractView:
    """What a reader needs of one contract, computed once."""

    def __init__(self, contract: Contract):
        self.contract = contract
        self.sites: dict[str, Site] = sites(contract)
        self.segs: dict[str, Segments] = {p: _segments(p) for p in self.sites}
        pii = {f.path: f.pii for f in contract.fields}
        self.purposes: dict[str, tuple[str, ...]] = {p: pii[p].purposes for p in self.sites}
        self.subject_segs = _segments(contract.subject)
        self.consent = _ConsentReader(contract)
        self._of_purpose: dict[str, tuple[str, ...]] = {}

    def subject(self, record: dict) -> Any:
        """The record's subject field (a key link, in a lake of encrypting contracts), or None."""
        for c, k, _ in walk(record, self.subject_segs):
            return c[k]
        return None

    def set_subject(self, record: dict, value: Any) -> None:
        for c, k, _ in walk(record, self.subject_segs):
            c[k] = value

    def paths_of(self, purpose: str) -> tuple[str, ...]:
        """The encrypted fields that serve ``purpose``."""
        if purpose not in self._of_purpose:
            self._of_purpose[purpose] = tuple(p for p, pp in self.purposes.items() if purpose in pp)
        return self._of_purpose[purpose]

    def consented(self, record: dict) -> frozenset:
        """The purposes the subject consented to, as recorded in the event. The scrubber keeps the
        consent value in the output, and replaces one it could not read (malformed, ambiguous) by
        the redaction token, ``false`` or ``[]``: all of which grant nothing here."""
        return self.consent.consented(record, None)


class Views:
    """The contracts of a bundle by ``type/version``, as ``_privacy.contract`` names them."""

    def __init__(self, contracts: Iterable[Contract]):
        self._contracts = {c.ref: c for c in contracts}
        self._views: dict[str, ContractView] = {}

    def __contains__(self, ref: str) -> bool:
        return ref in self._contracts

    def purposes(self) -> set[str]:
        return {p for c in self._contracts.values() for p in c.purposes}

    def of(self, record: dict) -> ContractView | None:
        meta = record.get(META_FIELD)
        ref = meta.get("contract") if type(meta) is dict else None
        if type(ref) is not str or ref not in self._contracts:
            return None
        view = self._views.get(ref)
        if view is None:
            view = self._views[ref] = ContractView(self._contracts[ref])
        return view


def open_fields(record: dict, view: ContractView, paths: Iterable[str], opener: Opener, link: Any,
                unopened: list[tuple[str, str]]) -> int:
    """Open the tokens at ``paths`` in place; append (path, reason) for each that does not open.
    Values that are not tokens (the field was redacted, masked or generalised) are left alone,
    unless the record's provenance says the field was sealed: then the value was put there
    afterwards, and is reported ``malformed``. Returns how many opened."""
    opened = 0
    meta = record.get(META_FIELD)
    applied = meta.get("applied") if type(meta) is dict else None
    applied = applied if type(applied) is dict else {}
    for path in paths:
        site = view.sites[path]
        sealed = applied.get(path) == "encrypt"
        for c, k, where in walk(record, view.segs[path]):
            v = c[k]
            if not is_token(v):
                if sealed:
                    unopened.append((where, "malformed"))
                continue
            try:
                c[k] = opener.open(v, site, link)
            except TokenError as exc:
                unopened.append((where, exc.reason))
            else:
                opened += 1
    return opened


def parse_line(line: bytes) -> dict | None:
    """One lake line as a record, or None if it is not a JSON object. orjson reads an integer
    beyond 64 bits as a float: a line with a run of 16 digits or more is read by the stdlib, exactly."""
    try:
        doc = json.loads(line) if _LONG_NUMBER.search(line) else orjson.loads(line)
    except ValueError:  # orjson refuses some JSON the stdlib reads (escaped lone surrogates)
        try:
            doc = json.loads(line)
        except (ValueError, RecursionError):
            return None
    return doc if type(doc) is dict else None


def to_line(item: Opened) -> bytes:
    """A returned record as one JSON line; the tokens that did not open are listed in its
    ``_privacy.unopened`` as [path, reason]."""
    record = item.record
    if item.unopened:
        meta = record.get(META_FIELD)
        record[META_FIELD] = {**(meta if type(meta) is dict else {}), "unopened": [list(u) for u in item.unopened]}
    try:
        return orjson.dumps(record) + b"\n"
    except TypeError:  # an integer beyond 64 bits, a lone surrogate
        return json.dumps(record, separators=(",", ":")).encode("ascii") + b"\n"


def unknown_sealed(record: dict, view: ContractView, unopened: list[tuple[str, str]]) -> None:
    """Tokens at fields the record's provenance says were sealed but the contract, as loaded
    now, does not seal (it changed without a new version): they cannot be opened here, and are
    reported (``unknown_field``), so an export that misses them says it is incomplete."""
    meta = record.get(META_FIELD)
    applied = meta.get("applied") if type(meta) is dict else None
    if type(applied) is not dict:
        return
    for path, action in applied.items():
        if action == "encrypt" and type(path) is str and path not in view.sites:
            for c, k, where in walk(record, _segments(path)):
                if is_token(c[k]):
                    unopened.append((where, "unknown_field"))
