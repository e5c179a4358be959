"""The fast path: a compiled contract as msgspec Struct types (``fast_types``), decoded and
validated in C, with straight-line Python applying the actions and the scan to the Structs, and
the provenance of every combination of transformations serialised once.

The reference engine (``engine.CompiledContract``) defines what a contract means; this is an
optimisation of it and nothing more. It handles only the records it can prove acceptable: any
other (a decoding or validation error, an undeclared field, a record the scan would quarantine,
any exception) raises, and the caller runs the reference engine on the same bytes. So a record
never gets a different outcome here, only a faster one (``tests/unit/privacy/test_fast.py``).
A contract the Structs cannot express exactly gets no plan (``Unsupported``).
"""

from __future__ import annotations

import re
from typing import Any, Literal, Optional, Union

import msgspec
import orjson
from msgspec import UNSET, UnsetType

from . import tokens
from .actions import LINK, REGISTRY
from .codegen import _Code, _emit_consent_branches
from .common import META_FIELD, Memo, _segments
from .contract import RESERVED
from .engine import CompiledContract
from .fast_heads import consent_head, subject_getter, subject_head
from .fast_types import MAX_DEPTH, Unsupported, _attr, _leaf_type, _level, _needs_reference
from .keys import NO_SUBJECTS
from .patterns import compile_pattern
from .tokens import KEY_VERSION, PREFIX, Site
from .validation import _datetime_search, _Node


class Fallback(Exception):
    """This record needs the reference engine."""


_META_CACHE = 4096  # provenance combinations remembered per contract
_VALUE_MEMO = 16384  # masked or generalised values remembered per field (subjects recur)


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
        if cc.tree.names & RESERVED:
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
        # finish(obj, raw, tails, P, S) -> (line, redacted): checks, consent, actions, scan,
        # encoding; P: the key port's pseudonym memo, S: the batch's subjects as the port resolved
        # them (keys are handed in per call, never compiled in)
        self.finish = self._compile(cc)
        self.subject = subject_getter(cc)

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
                search = _datetime_search if spec.type == "datetime" else compile_pattern(spec.pattern).search
                self.checks.append((spec.path, search))
                if required and not nullable:
                    self.always_str.add(spec.path)  # decoded as a str whenever its parent is there
            if nullable:
                t = Optional[t]  # noqa: UP045 - a type built at run time, for msgspec
            attr = _attr(name)
            rename[attr] = name
            fields.append((attr, t) if required else (attr, Union[t, UnsetType], UNSET))  # noqa: UP007 - as above
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
        code = _Code({"UNSET": UNSET, "FB": Fallback, "TOKEN": cc.token, "TK": tokens, "B64": tokens._b64})
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
        for op in cc.pii_ops:
            if op.always_fn is not None:
                bits[(op.path, "always")] = site(op.path, op.always, "always")
            bits[(op.path, "lack")] = site(op.path, op.action, "lack")

        def sealed(path: str, site: Site, is_date: bool) -> str:
            """``SubjectKey.seal`` of v, inline for a string or date that is never null (and
            without a retention period: its header names the day): the header and the associated
            data's prefix are constants (names only), the AEAD and key link the subject's."""
            if self.types[path] not in ("string", "date") or path in self.nullable:
                arg = "v.isoformat() if v is not None else v" if is_date else "v"
                return f"SK.seal({arg}, {const(site)})"
            data = "v.isoformat().encode()" if is_date else "v.encode('utf-8', 'surrogatepass')"
            if site.retention_days is not None:  # the header names today's period: the subject's pk
                p, tail = f"SK.pk[{site.retention_days}]", const(site.aad)
                if site.deterministic:
                    return f"{p}[2] + B64({p}[5].encrypt({data}, [{p}[3] + {tail} + SK.lb]))"
                return f"(p := {p})[0] + B64((n := TK._nonce()) + p[4].encrypt(n, {data}, p[1] + {tail} + SK.lb))"
            header = f"{PREFIX}{'d' if site.deterministic else 'g'}s{KEY_VERSION}."
            head, aad = const(header), const(header.encode() + site.aad)
            if site.deterministic:
                return f"{head} + B64(SK.siv.encrypt({data}, [{aad} + SK.lb]))"
            return f"{head} + B64((n := TK._nonce()) + SK.gcm.encrypt(n, {data}, {aad} + SK.lb))"

        def action_leaf(path, fn, action, kind, there=False):
            bit = bits[(path, kind)]
            is_date = self.types[path] == "date"
            act = REGISTRY[action]
            if fn is None:  # drop
                value = "UNSET"
            elif act.constant:
                value = "TOKEN"
            elif path in self.parents:
                # a declared object or array, itself personal data: decoded here as Structs, which
                # no action takes; the reference engine's, on purpose (decided here, per record)
                value = "FB"
            elif isinstance(fn, Site):  # sealed under the subject's key (SK: read before any action)
                value = sealed(path, fn, is_date)
            elif act.keyed:
                # the key port's memo (handed to this call), which computes what it lacks: for a
                # str or None only (a number key could equal another type's: 1 == 1.0)
                if self.types[path] == "string":
                    value = "P[v]"
                elif is_date:
                    value = "P[v.isoformat() if v is not None else v]"
                else:
                    value = "P.fn(v)"
                if fn is LINK:  # the subject's own field: its key link, when the port has one
                    value = f"(SK.link if SK is not None else {value})"
            elif is_date and action == "generalise" and specs[path].pii.generalise in ("year", "day"):
                # a decoded date is a real day: its year or day, without re-checking the text
                cut = 4 if specs[path].pii.generalise == "year" else 10
                value = f"(TOKEN if v is None else v.isoformat()[:{cut}])"
            elif is_date:
                value = f"{const(fn)}(v.isoformat() if v is not None else v)"
            elif act.pure and self.types[path] == "string":
                # a pure function of a value that recurs with its subject: remembered by its rule
                # (v is a str, or None for a nullable field), across the plans sharing ``memos``
                rule = act.rule(specs[path].pii, cc.token)
                memo = self._shared.get(rule)
                if memo is None:
                    memo = self._shared[rule] = Memo(fn, _VALUE_MEMO)
                self._memos.append(memo)
                value = f"{const(memo)}[v]"
            else:
                value = f"{const(fn)}(v)"

            def leaf(obj, attr, ind):
                if value == "FB":
                    lines.append(f"{ind}if {obj}.{attr} is not UNSET:")
                    lines.append(f"{ind}    raise FB()")
                    return
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
            there = [a for a in actions if a[0] in self.required and "." not in a[0] and a[1] is not None
                     and a[0] not in self.parents]
            if there:
                lines.append("    " * depth + f"m |= {sum(bits[(a[0], 'lack' if a[3] else 'always')] for a in there)}")
            access([action_leaf(path, fn, name, "lack" if lack else "always", (path, fn, name, lack) in there)
                    for path, fn, name, lack in actions], "obj", depth)

        consent_path = cc.contract.consent.path
        self._declared_parents(consent_path)
        if "[*]" in consent_path:
            raise Unsupported("consent inside an array")
        pii_paths = {op.path for op in cc.pii_ops}
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
                # (defaults bind this iteration's values: the closure runs after the loop)
                def big(obj, attr, ind, needs=const(_needs_reference), room=MAX_DEPTH + 1 - _level(path)):  # noqa: B008
                    lines.append(f"{ind}v = {obj}.{attr}")
                    lines.append(f"{ind}if (type(v) is list or type(v) is dict) and {needs}(v, {room}):")
                    lines.append(f"{ind}    raise FB()")

                checks.append((_segments(path), big))
        # the patterns, on the values as decoded: a record that fails one is the reference
        # engine's to reject
        for path, search in self.checks:
            def check(obj, attr, ind, search=const(search), plain=path in self.always_str, path=path):  # noqa: B008 - as above
                if plain:
                    lines.append(f"{ind}if {search}({obj}.{attr}) is None:")
                else:  # a str, or absent (UNSET), or null if nullable
                    lines.append(f"{ind}v = {obj}.{attr}")
                    lines.append(f"{ind}if v is not UNSET{' and v is not None' * (path in self.nullable)} and {search}(v) is None:")
                lines.append(f"{ind}    raise FB()")

            checks.append((_segments(path), check))
        access(checks, "obj", 1)
        for op in cc.pii_ops:
            self._declared_parents(op.path)
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
        head = consent_head(cc, code, site(consent_path, "redact", "consent"))
        if cc.reads_subject:
            self._declared_parents(cc.contract.subject)
            head += subject_head(cc, code)
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
        finish, self._src = code.function("finish(obj, raw, tails, P, S)", f"<fast contract {cc.ref}>")
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

    def scrub(self, raw: bytes, tails: tuple[bytes, bytes], pseudonyms=None, subjects=NO_SUBJECTS) -> tuple[bytes, bool]:
        return self.finish(self.decode(raw), raw, tails, pseudonyms, subjects)

    def forget(self) -> None:
        for memo in self._memos:
            memo.clear()


