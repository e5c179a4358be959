"""The fast path's choice of a plan for a record's bytes, and the ends of its output lines."""

from __future__ import annotations

from typing import Any

import msgspec
import orjson
from msgspec import UNSET, UnsetType

from .codec import decode_object
from .common import _MISSING, Rejection
from .engine import ContractSet
from .fast import Fallback, FastPlan
from .fast_types import _INT_MAX, _INT_MIN, Unsupported
from .keys import NO_SUBJECTS

_SELECT_CACHE = 1024
_NESTED = object()


class FastContracts:
    """Fast plans for a ContractSet's contracts, and the choice of one for a record's bytes: a
    msgspec decode of just the type and version fields, then the contract ``ContractSet.pick``
    chooses for them (remembered for string values)."""

    def __init__(self, cs: ContractSet):
        self.cs = cs
        self.plans: dict[tuple[str, str], FastPlan] = {}
        self.unsupported: dict[str, str] = {}  # ref -> why (for logs and docs; no data)
        memos: dict = {}  # shared by the plans
        for key, cc in cs.compiled.items():
            if cc.contract.engine == "reference":
                self.unsupported[cc.ref] = "declared reference-only (engine: reference)"
                continue
            try:
                self.plans[key] = FastPlan(cc, memos)
            except Unsupported as exc:
                self.unsupported[cc.ref] = str(exc)
        head = msgspec.defstruct("Head", [("t", Any, UNSET), ("v", Any, UNSET)],
                                 rename={"t": cs.type_field, "v": cs.version_field})
        self._head = msgspec.json.Decoder(head).decode
        self._by_ref = {cc.ref: self.plans.get(k) for k, cc in cs.compiled.items()}
        # (type, version) -> plan or None, for str or UNSET values only: a number or a boolean
        # never equals a str key, so a lookup with one cannot hit a wrong entry
        self._selected: dict = {}
        # A guess from the bytes, verified by the decode. The bytes from the type's value to the
        # version's, as a producer writes them (the two keys adjacent: '"event_type":"T",
        # "schema_version":"V"' without spaces) -> the (decode, finish) of the plan whose Struct
        # requires exactly those two values. Its decode then succeeds only if every occurrence of
        # both keys at the top level holds them (msgspec checks each one), which is when the head
        # decode below would select that same plan. Any other record (the keys nested, apart,
        # spaced, escaped, absent, not strings) misses or fails the guess and takes the head decode.
        self._type_key = b'"' + cs.type_field.encode() + b'":"'
        self._between = b'","' + cs.version_field.encode() + b'":"'
        self._guess: dict[bytes, tuple] = {}
        for plan in self.plans.values():
            t, v = plan.pinned.get(cs.type_field), plan.pinned.get(cs.version_field)
            if t is not None and v is not None and '"' not in t + v and "\\" not in t + v and self.select(t, v) is plan:
                self._guess[t.encode() + self._between + v.encode()] = (plan.decode, plan.finish, plan.subject)
        self.prepare = self._preparer()
        self._subject_decoder()

    def _subject_decoder(self) -> None:
        """Phase 1's decoder: the type, the version, and every top-level field some contract's
        subject is (msgspec skips the rest of the record in C)."""
        cs = self.cs
        names = sorted({c.contract.subject for c in cs.compiled.values()
                        if c.reads_subject and "." not in c.contract.subject} - {cs.type_field, cs.version_field})
        fields = [("t", Any, UNSET), ("v", Any, UNSET)] + [(f"s{i}", Any, UNSET) for i in range(len(names))]
        rename = {"t": cs.type_field, "v": cs.version_field, **{f"s{i}": n for i, n in enumerate(names)}}
        self._subjects_head = msgspec.json.Decoder(msgspec.defstruct("SubjectHead", fields, rename=rename)).decode
        attr = {n: f"s{i}" for i, n in enumerate(names)} | {cs.type_field: "t", cs.version_field: "v"}
        # contract -> the head's attribute holding its subject; NESTED: read from a full decode
        self._subject_attr = {cc: (attr[cc.contract.subject] if "." not in cc.contract.subject else _NESTED)
                              for cc in cs.compiled.values() if cc.reads_subject}
        self._contract_of: dict = {}

    def subject_of(self, raw: bytes, forced=None):
        """The subject id of a record, as phase 2 will read it, or None (none to read, or a record
        that will fail: phase 2 says why)."""
        try:
            h = self._subjects_head(raw)
            key = (h.t, h.v)
            cc = forced or self._contract_of.get(key)
        except Exception:  # noqa: BLE001 - not JSON, too deep, an unhashable type: phase 2 says why
            return None
        if cc is None:
            try:
                cc = self.cs.pick(_MISSING if h.t is UNSET else h.t, _MISSING if h.v is UNSET else h.v)
            except Rejection:
                return None
            if type(h.t) is str and type(h.v) in (str, UnsetType) and len(self._contract_of) < _SELECT_CACHE:
                self._contract_of[key] = cc
        attr = self._subject_attr.get(cc)
        if attr is None:
            return None
        if attr is _NESTED:
            try:
                v = cc.subject_of(decode_object(raw))
            except Exception:  # noqa: BLE001 - phase 2 fails it, with its reason
                return None
        else:
            v = getattr(h, attr)
        if v is UNSET or (type(v) is str and (not v or v[0].isspace() or v[-1].isspace())):
            return None  # (an empty or space-edged id is refused in phase 2: never keyed)
        return v

    def select(self, t, v) -> FastPlan | None:
        """The plan for a record's type and version as decoded (UNSET when absent); None if its
        contract has no plan or the selection is rejected (the reference engine then says why)."""
        try:
            return self._selected[(t, v)]
        except (KeyError, TypeError):
            pass
        if (type(t) is int and not _INT_MIN <= t <= _INT_MAX) or (type(v) is int and not _INT_MIN <= v <= _INT_MAX):
            return None  # the reference engine's parser reads it as a float: its selection differs
        try:
            plan = self._by_ref[self.cs.pick(_MISSING if t is UNSET else t, _MISSING if v is UNSET else v).ref]
        except Rejection:
            plan = None
        if (t is UNSET or type(t) is str) and (v is UNSET or type(v) is str) and len(self._selected) < _SELECT_CACHE:
            self._selected[(t, v)] = plan
        return plan

    def forget(self) -> None:
        for plan in self.plans.values():
            plan.forget()

    def plan_for(self, raw: bytes) -> FastPlan | None:
        h = self._head(raw)
        return self.select(h.t, h.v)

    def _preparer(self):
        """``prepare(raw)``: (finish, decoded record, subject id) for a record the fast path takes
        (``finish(obj, raw, tails, P, S)`` then transforms it, once the batch's subjects are
        resolved); raises for any other record. A closure: it runs once per record, with its
        constants at hand."""
        type_key, skip, between = self._type_key, len(self._type_key), len(self._between)
        find_plan, head, selected, select = self._guess.get, self._head, self._selected, self.select
        invalid = msgspec.ValidationError

        def prepare(raw: bytes):
            # after the type key, to the type's closing quote, then to the version's: a miss when
            # they are not adjacent (or the key is absent: any guess is only a guess)
            i = raw.find(type_key) + skip
            guess = find_plan(raw[i:raw.find(b'"', raw.find(b'"', i) + between)])
            if guess is not None:
                try:
                    obj = guess[0](raw)
                except invalid:
                    pass  # not that plan's after all: the head decode decides
                else:
                    return guess[1], obj, guess[2](obj)
            h = head(raw)
            try:
                plan = selected[(h.t, h.v)]
            except (KeyError, TypeError):
                plan = select(h.t, h.v)
            if plan is None:
                raise Fallback()
            obj = plan.decode(raw)
            return plan.finish, obj, plan.subject(obj)

        return prepare

    def scrub(self, raw: bytes, tails: Tails, pseudonyms=None, subjects=NO_SUBJECTS) -> tuple[bytes, bool]:
        """One record, both phases (``subjects``: already resolved)."""
        finish, obj, _subject = self.prepare(raw)
        return finish(obj, raw, tails, pseudonyms, subjects)

    @staticmethod
    def tails(redacted_at: str) -> Tails:
        """The ends of the lines of one batch (redacted at ``redacted_at``)."""
        return Tails(redacted_at)


class Tails(dict):
    """The end of an output line, from the comma before the provenance: a plan's provenance entry
    ``(provenance, redacted)`` -> the provenance, then the redaction marker if redacted, then the
    closing brace and newline. Made once per entry and batch (the marker holds the batch's time)."""

    __slots__ = ("at", "plain", "redacted")

    def __init__(self, redacted_at: str):
        super().__init__()
        self.at = redacted_at
        self.plain = b"}\n"
        self.redacted = b',"data_redacted":true,"redacted_at":' + orjson.dumps(redacted_at) + b"}\n"

    def __missing__(self, entry: tuple[bytes, bool]) -> bytes:
        out = self[entry] = entry[0] + (self.redacted if entry[1] else self.plain)
        return out
