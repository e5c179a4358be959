"""The fast path: a compiled contract as msgspec Struct types, decoded and validated in C.

The reference engine (``engine.CompiledContract`` over ``orjson`` dicts) defines what a contract
means. This module is an optimisation of it and nothing more: for a contract it can express
exactly, it builds

* msgspec Struct types mirroring the contract's fields (types, required, nullable, enum, range
  and length constraints, nested objects and arrays of objects), which reject unknown fields.
  Decoding a record into them parses and validates it in one pass in C; patterns are checked
  by the generated code below;
* straight-line Python applying the PII actions and the free-text scan to the decoded structs,
  with the same action functions the reference engine uses;
* the provenance (``_privacy``) of every combination of transformations, serialised once and
  spliced into the encoded record.

It handles only the records it can prove acceptable. Anything else (a decoding or validation
error, an undeclared field, a record the scan would quarantine, any exception at all) raises, and
the caller runs the reference engine on the same bytes, which then rejects the record with its
precise reason or treats it its own way (dropping undeclared fields, say). So a record never gets
a different outcome on the fast path, only a faster one: ``tests/unit/privacy/test_fast.py``
checks that output for output against the reference, on the repository's contracts and on
generated contracts and events.

A contract the Struct types cannot express exactly (``undeclared_fields: keep``, an enum of
booleans or floats, a constraint on a type it does not apply to, ...) gets no fast plan
(``Unsupported``) and always takes the reference path.
"""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Annotated, Any, Literal, Optional, Union

import msgspec
import orjson
from msgspec import UNSET, Meta, UnsetType

from .patterns import compile_pattern
from .engine import (
    _DATETIME_RE, _MISSING, META_FIELD, CompiledContract, ContractSet, Memo, Rejection, _Code, _emit_consent_branches,
    _Node,
    _segments,
)


class Unsupported(Exception):
    """The contract uses something the fast path cannot express exactly."""


class Fallback(Exception):
    """This record needs the reference engine."""


_RESERVED = frozenset({META_FIELD, "data_redacted", "redacted_at"})
_META_CACHE = 4096  # provenance combinations remembered per contract
_VALUE_MEMO = 16384  # masked or generalised values remembered per field (subjects recur)


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
            return Union[int, float]
        fmeta = {}
        if f.minimum is not None:
            fmeta["ge"] = f.minimum
        if f.maximum is not None:
            fmeta["le"] = f.maximum
        return Union[Annotated[int, Meta(**_int_bounds(f))], Annotated[float, Meta(**fmeta)]]
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


class FastPlan:
    """One contract's fast path. ``scrub(raw, tail)`` returns the output line and whether
    anything was redacted, or raises (the caller then runs the reference engine)."""

    def __init__(self, cc: CompiledContract, memos: dict | None = None):
        """``memos``: masked and generalised values remembered by the rule that made them, shared
        with the other plans given the same dict (a subject's e-mail address recurs in events of
        every type; the rule, not the field, decides its mask)."""
        c = cc.contract
        if c.undeclared == "keep":
            raise Unsupported("undeclared_fields: keep")
        if cc.tree.names & _RESERVED:
            raise Unsupported("declares a field the output reserves")
        self.ref = cc.ref
        self.types: dict[str, Any] = {}  # path -> field type, for the generated code
        self.checks: list[tuple[str, Any]] = []  # (path, compiled pattern's search) checked in code
        self.parents: set[str] = set()  # objects and arrays with declared fields (Structs)
        self.pinned: dict[str, str] = {}  # top-level field -> the one string it may hold (required)
        self.always_str: set[str] = set()  # checked fields that are required, not nullable strings
        self.required: set[str] = set()  # fields required where their parent is
        self.nullable: set[str] = set()
        self._n = 0
        try:
            self.root = self._struct(cc.tree, c)
            self.decode = msgspec.json.Decoder(self.root).decode
        except (TypeError, ValueError) as exc:  # a constraint msgspec will not take
            raise Unsupported(str(exc)) from None
        self.encode = msgspec.json.Encoder().encode
        self._consent = cc.consent
        self._sites: list[tuple[str, str, str]] = []  # bit i -> (path, action, kind)
        self._meta: dict[int, tuple[bytes, bool]] = {}
        self._memos: list[dict] = []  # this plan's mask or generalise memos (on string fields)
        self._shared = {} if memos is None else memos  # rule -> Memo
        # finish(obj, raw, tails) -> (line, redacted): checks, consent, actions, scan, encoding
        self.finish = self._compile(cc)

    # -- types ----------------------------------------------------------------------------

    def _struct(self, node: _Node, c) -> type:
        fields = []
        rename = {}
        for name, _types, required, nullable, spec, child, _each in node.fields:
            if name.endswith("[*]"):
                raise Unsupported(f"{spec.path}: a path ending in [*]")
            ctype = self._struct(child, c) if child is not None else None
            if child is not None:
                self.parents.add(spec.path)
            t = _leaf_type(spec, ctype)
            self.types[spec.path] = spec.type
            if required:
                self.required.add(spec.path)
            if nullable:
                self.nullable.add(spec.path)
            if not node.path and required and not nullable and getattr(t, "__args__", None) is not None and (
                getattr(t, "__origin__", None) is Literal and len(t.__args__) == 1 and type(t.__args__[0]) is str
            ):
                self.pinned[name] = t.__args__[0]
            if spec.enum is None and (spec.type == "datetime" or (spec.type == "string" and spec.pattern is not None)):
                search = _DATETIME_RE.search if spec.type == "datetime" else compile_pattern(spec.pattern).search
                self.checks.append((spec.path, search))
                if required and not nullable:
                    self.always_str.add(spec.path)  # decoded as a str whenever its parent is there
            if nullable:
                t = Optional[t]
            attr = _attr(name)
            rename[attr] = name
            fields.append((attr, t) if required else (attr, Union[t, UnsetType], UNSET))
        self._n += 1
        label = re.sub(r"\W", "_", f"{c.type}_{c.version}_{node.path or 'event'}")
        return msgspec.defstruct(
            f"{label}_{self._n}", fields, kw_only=True, forbid_unknown_fields=True, gc=False, rename=rename
        )

    # -- actions ----------------------------------------------------------------------------

    def _declared_parents(self, path: str) -> None:
        segs = _segments(path)
        prefix = ""
        for name, each in segs[:-1]:
            prefix = f"{prefix}.{name}" if prefix else name
            kind = self.types.get(prefix)
            if kind not in ("object", "array") or (kind == "array") != each:
                raise Unsupported(f"{path}: parent {prefix} is not a declared object")
            prefix += "[*]" if each else ""
        if segs[-1][1] or path not in self.types:
            raise Unsupported(f"{path}: not a declared field")

    def _compile(self, cc: CompiledContract):
        code = _Code({"UNSET": UNSET, "FB": Fallback, "TOKEN": cc.token})
        lines, const, consts = code.lines, code.const, code.consts

        def access(items, obj: str, depth: int) -> None:
            """Emit each (path segments, leaf) of ``items`` under ``obj``, reading a shared parent
            once: ``leaf(obj, attr, indent)`` writes the code for one field."""
            ind = "    " * depth
            nested: dict[tuple[str, bool], list] = {}
            for segs, leaf in items:
                if len(segs) == 1:
                    leaf(obj, _attr(segs[0][0]), ind)
                else:
                    nested.setdefault(segs[0], []).append((segs[1:], leaf))
            for (name, each), sub in nested.items():
                var = f"c{depth}"
                lines.append(f"{ind}{var} = {obj}.{_attr(name)}")
                lines.append(f"{ind}if {var}:")  # a Struct is true; UNSET, None and an empty list are false
                if each:
                    it = f"e{depth}"
                    lines.append(f"{ind}    for {it} in {var}:")
                    access(sub, it, depth + 2)
                else:
                    access(sub, var, depth + 1)

        def site(path: str, action: str, kind: str) -> int:
            self._sites.append((path, action, kind))
            return 1 << (len(self._sites) - 1)

        specs = {f.path: f for f in cc.contract.fields}
        # provenance bits in contract order, whatever order the actions are emitted in
        bits = {}
        for path, _need, act_name, _act, always_name, always in cc.pii_ops:
            if always is not None:
                bits[(path, "always")] = site(path, always_name, "always")
            bits[(path, "lack")] = site(path, act_name, "lack")

        def action_leaf(path, fn, action, kind, there=False):
            bit = bits[(path, kind)]
            is_date = self.types[path] == "date"
            if fn is None:  # drop
                value = "UNSET"
            elif action == "redact":
                value = "TOKEN"
            elif action == "pseudonymise" and self.types[path] == "string" and hasattr(fn, "__self__"):
                # a string (or null) field: the keyring's memo, which computes what it lacks
                value = f"{const(fn.__self__._memo)}[v]"
            elif is_date and action == "generalise" and specs[path].pii.generalise in ("year", "day"):
                # a decoded date is a real day: its year or day, without re-checking the text
                cut = 4 if specs[path].pii.generalise == "year" else 10
                value = f"(TOKEN if v is None else v.isoformat()[:{cut}])"
            elif is_date:
                value = f"{const(fn)}(v.isoformat() if v is not None else v)"
            elif action in ("mask", "generalise") and self.types[path] == "string":
                # a pure function of a value that recurs with its subject: remembered (v is a
                # str, or None for a nullable field)
                p = specs[path].pii
                rule = (action, p.mask, p.mask_regex, p.mask_format, p.generalise, p.band, p.prefix, cc.token)
                memo = self._shared.get(rule)
                if memo is None:
                    memo = self._shared[rule] = Memo(fn, _VALUE_MEMO)
                self._memos.append(memo)
                value = f"{const(memo)}[v]"
            else:
                value = f"{const(fn)}(v)"

            def leaf(obj, attr, ind):
                if there:  # present: no test, and its bit is set with the others'
                    if value not in ("TOKEN", "UNSET"):
                        lines.append(f"{ind}v = {obj}.{attr}")
                    lines.append(f"{ind}{obj}.{attr} = {value}")
                    return
                if value in ("TOKEN", "UNSET"):
                    lines.append(f"{ind}if {obj}.{attr} is not UNSET:")
                else:
                    lines.append(f"{ind}v = {obj}.{attr}")
                    lines.append(f"{ind}if v is not UNSET:")
                lines.append(f"{ind}    {obj}.{attr} = {value}")
                lines.append(f"{ind}    m |= {bit}")

            return _segments(path), leaf

        def emit_actions(actions, depth):
            # a required top-level field is always there (and a drop must leave it out)
            there = [a for a in actions if a[0] in self.required and "." not in a[0] and a[1] is not None]
            if there:
                lines.append("    " * depth + f"m |= {sum(bits[(a[0], 'lack' if a[3] else 'always')] for a in there)}")
            access([action_leaf(path, fn, name, "lack" if lack else "always", (path, fn, name, lack) in there)
                    for path, fn, name, lack in actions], "obj", depth)

        consent_path = cc.contract.consent.path
        self._declared_parents(consent_path)
        if "[*]" in consent_path:
            raise Unsupported("consent inside an array")
        pii_paths = {op[0] for op in cc.pii_ops}
        if consent_path in pii_paths or consent_path in cc.scan_fields:
            raise Unsupported("the consent field is itself transformed")

        # Inside an untyped value (any, or an object or array with no declared fields), the
        # consent value included: integers beyond 64 bits, which msgspec keeps exact where the
        # reference engine's parser makes them floats, and nesting beyond MAX_DEPTH, which
        # msgspec decodes and the reference engine's parser refuses (too_deep). Such a record
        # is the reference engine's, so that both give one outcome.
        checks = []
        for path, kind in self.types.items():
            if _level(path) > MAX_DEPTH:
                raise Unsupported(f"{path}: declared deeper than {MAX_DEPTH} levels")
            if kind in ("any", "object", "array") and path not in self.parents and path != consent_path:
                def big(obj, attr, ind, needs=const(_needs_reference), room=MAX_DEPTH + 1 - _level(path)):
                    lines.append(f"{ind}v = {obj}.{attr}")
                    lines.append(f"{ind}if (type(v) is list or type(v) is dict) and {needs}(v, {room}):")
                    lines.append(f"{ind}    raise FB()")

                checks.append((_segments(path), big))
        # the patterns, on the values as decoded: a record that fails one is the reference
        # engine's to reject
        for path, search in self.checks:
            def check(obj, attr, ind, search=const(search), plain=path in self.always_str, path=path):
                if plain:
                    lines.append(f"{ind}if {search}({obj}.{attr}) is None:")
                else:  # a str, or absent (UNSET), or null if nullable
                    lines.append(f"{ind}v = {obj}.{attr}")
                    lines.append(f"{ind}if v is not UNSET{' and v is not None' * (path in self.nullable)} and {search}(v) is None:")
                lines.append(f"{ind}    raise FB()")

            checks.append((_segments(path), check))
        access(checks, "obj", 1)
        for op in cc.pii_ops:
            self._declared_parents(op[0])
        _emit_consent_branches(code, cc.pii_ops, emit_actions, grouped=True,
                               flag=cc.consent.all if cc.consent.model == "flag" else None)
        if cc.scanner is not None:
            mask = const(cc.scanner.mask)
            # a value the actions just redacted holds the token, in which the scan finds nothing
            skip = " and v is not TOKEN" if not cc.scanner.mask(cc.token)[1] else ""
            scans = []
            for path in cc.scan_fields:
                self._declared_parents(path)
                if self.types[path] == "date":
                    raise Unsupported(f"{path}: scan on a date")
                bit = site(path, "scan", "scan")

                if self.types[path] == "string":  # a str, or absent (UNSET), or null if nullable
                    is_text = "v is not UNSET" + " and v is not None" * (path in self.nullable)
                else:
                    is_text = "type(v) is str"

                def leaf(obj, attr, ind, mask=mask, bit=bit, skip=skip, is_text=is_text):
                    lines.append(f"{ind}v = {obj}.{attr}")
                    lines.append(f"{ind}if {is_text}{skip}:")
                    lines.append(f"{ind}    s, kinds = {mask}(v)")
                    lines.append(f"{ind}    if kinds:")
                    if cc.scan_mode == "quarantine":
                        lines.append(f"{ind}        raise FB()")  # the reference engine rejects it
                    else:
                        lines.append(f"{ind}        {obj}.{attr} = s")
                        lines.append(f"{ind}        m |= {bit}")

                scans.append((_segments(path), leaf))
            access(scans, "obj", 1)

        # the consent value: read before the actions, redacted after them if malformed
        segs = _segments(consent_path)
        cbit = site(consent_path, "redact", "consent")
        parents = [("obj." + ".".join(_attr(s) for s, _ in segs[:i + 1])) for i in range(len(segs) - 1)]
        guard = " and ".join(f"{p} is not UNSET and {p} is not None" for p in parents)
        leaf_attr = "obj." + ".".join(_attr(s) for s, _ in segs)
        head = [f"    cv = {leaf_attr} if {guard} else UNSET" if guard else f"    cv = {leaf_attr}"]
        # A consent that would grant something must be unambiguous: here only the common case of
        # _ConsentReader.unambiguous (no escapes, the key spelt once in the record); anything
        # else needs its exact check, which is the reference engine's.
        ambiguous = "(BS in raw and NOESC in raw) or " + " or ".join(
            f"raw.count({const(lit)}) != 1" for lit in cc.consent.literals)
        # A malformed consent (not a boolean, or not a list of purposes) is redacted; m starts
        # with that bit or none. (The checks after this may still hand the record back: then
        # nothing of this object is used.)
        # (a value nested too deep is the reference engine's to refuse: checked here, as the
        # checks below see the token; an integer beyond 64 bits in it is no concern, the value
        # is redacted on both paths)
        redact = [f"        if (type(cv) is list or type(cv) is dict) and {const(_needs_reference)}(cv, "
                  f"{MAX_DEPTH + 1 - _level(consent_path)}, False):",
                  "            raise FB()",
                  f"        {leaf_attr} = TOKEN", f"        m = {cbit}"]
        if cc.consent.model == "flag":
            head += ["    if cv is True:",
                     f"        if {ambiguous}:",
                     "            raise FB()",
                     "        consented = ALL",
                     "        m = 0",
                     "    else:",
                     "        consented = NONE",
                     "        if cv is False or cv is None or cv is UNSET:",
                     "            m = 0",
                     "        else:",
                     *("    " + r for r in redact)]
        else:
            head += ["    if type(cv) is list and cv:",
                     f"        if {ambiguous}:",
                     "            raise FB()",
                     "        try:",
                     "            consented = GRANTED[tuple(cv)]",
                     "        except (KeyError, TypeError):",
                     "            consented = CONSENTED(cv, None)",
                     "            REMEMBER(cv, consented)",
                     "        if consented or not MALFORMED(cv):",
                     "            m = 0",
                     "        else:",
                     *("    " + r for r in redact),
                     # an empty list is well formed, and so is a null (absent) consent
                     "    elif cv is UNSET or cv is None or type(cv) is list:",
                     "        consented = NONE",
                     "        m = 0",
                     "    else:",
                     "        consented = NONE",
                     *redact]
        consts.update(GRANTED=cc.consent.granted, REMEMBER=cc.consent.remember, CONSENTED=cc.consent.consented_value,
                      MALFORMED=cc.consent.malformed_value, ALL=cc.consent.all, NONE=frozenset(), BS=b"\\",
                      NOESC=b"\\u")
        lines[0:0] = head
        # the provenance of this combination of transformations (serialised once), spliced in
        # after the encoded record's last field, then the redaction marker
        # (Tails: this batch's endings, by provenance entry)
        lines.append("    meta = META.get(m) or PROVENANCE(m)")  # (provenance from its comma, redacted)
        lines.append("    body = ENCODE(obj)")
        if any(required for _n, _t, required, *_ in cc.tree.fields):
            lines.append("    return body[:-1] + tails[meta], meta[1]")
        else:  # the record may encode as {}
            lines.append("    return (body[:-1] + tails[meta] if len(body) > 2 else b'{' + tails[meta][1:]), meta[1]")
        consts.update(META=self._meta, PROVENANCE=self._provenance, ENCODE=self.encode)
        finish, self._src = code.function("finish(obj, raw, tails)", f"<fast contract {cc.ref}>")
        return finish

    # -- provenance -----------------------------------------------------------------------

    def _provenance(self, m: int) -> tuple[bytes, bool]:
        applied: dict[str, str] = {}
        redacted = False
        for i, (path, action, kind) in enumerate(self._sites):
            if not m >> i & 1:
                continue
            if kind == "scan":
                applied[path] = applied[path] + "+scan" if path in applied else "scan"
            else:
                applied[path] = action
            redacted |= kind != "always"
        meta = b',"' + META_FIELD.encode() + b'":' + orjson.dumps({"contract": self.ref, "applied": applied})
        if len(self._meta) < _META_CACHE:  # combinations are few in practice; bounded regardless
            self._meta[m] = (meta, redacted)
        return meta, redacted

    def scrub(self, raw: bytes, tails: tuple[bytes, bytes]) -> tuple[bytes, bool]:
        return self.finish(self.decode(raw), raw, tails)

    def forget(self) -> None:
        for memo in self._memos:
            memo.clear()


_SELECT_CACHE = 1024


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
                self._guess[t.encode() + self._between + v.encode()] = (plan.decode, plan.finish)
        self.scrub = self._scrubber()

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

    def _scrubber(self):
        """``scrub(raw, tails)``: (line, redacted) for a record the fast path takes; raises for any
        other record. A closure: it runs once per record, with its constants at hand."""
        type_key, skip, between = self._type_key, len(self._type_key), len(self._between)
        find_plan, head, selected, select = self._guess.get, self._head, self._selected, self.select
        invalid = msgspec.ValidationError

        def scrub(raw: bytes, tails: tuple[bytes, bytes]) -> tuple[bytes, bool]:
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
                    return guess[1](obj, raw, tails)
            h = head(raw)
            try:
                plan = selected[(h.t, h.v)]
            except (KeyError, TypeError):
                plan = select(h.t, h.v)
            if plan is None:
                raise Fallback()
            return plan.finish(plan.decode(raw), raw, tails)

        return scrub

    @staticmethod
    def tails(redacted_at: str) -> "Tails":
        """The ends of the lines of one batch (redacted at ``redacted_at``)."""
        return Tails(redacted_at)


class Tails(dict):
    """The end of an output line, from the comma before the provenance: a plan's provenance entry
    ``(provenance, redacted)`` -> the provenance, then the redaction marker if redacted, then the
    closing brace and newline. Made once per entry and batch (the marker holds the batch's time)."""

    __slots__ = ("plain", "redacted")

    def __init__(self, redacted_at: str):
        super().__init__()
        self.plain = b"}\n"
        self.redacted = b',"data_redacted":true,"redacted_at":' + orjson.dumps(redacted_at) + b"}\n"

    def __missing__(self, entry: tuple[bytes, bool]) -> bytes:
        out = self[entry] = entry[0] + (self.redacted if entry[1] else self.plain)
        return out
