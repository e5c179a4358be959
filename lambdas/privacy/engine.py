"""The reference engine: contracts compiled once into straight-line Python, applied per event.

For one event the compiled contract (1) validates every declared field (type, required, pattern,
enum, range, length), (2) works out which purposes the subject consented to, fail-closed, (3)
applies each PII field's action when its purposes are not all consented (and its ``always``
action when they are), (4) scans free-text fields for undeclared personal data, and (5) records
what it did in ``_privacy`` (names of fields and actions only, never values).

Rejections raise ``Rejection(reason)`` with a reason code from a closed set; the caller turns them
into ``ProcessingFailed`` (quarantine). The fast path (``privacy.fast``) is an optimisation of this
engine and nothing more.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from .actions import KEYED, LINK, pii_op
from .codegen import _Code, _emit_consent_branches
from .common import (
    _EXACT_LIMIT,
    _MISSING,
    AMBIGUOUS_SUBJECT,
    INVALID_EVENT_TYPE,
    INVALID_SCHEMA_VERSION,
    INVALID_SUBJECT,
    META_FIELD,
    MISSING_EVENT_TYPE,
    MISSING_SCHEMA_VERSION,
    TYPE_MISMATCH,
    UNDECLARED_FIELD,
    UNDECLARED_PII,
    UNKNOWN_CONTRACT,
    VALIDATION_FAILED,
    NeedsExactNumbers,
    Outcome,
    Rejection,
    _segments,
)
from .consent import _ConsentReader, key_literals, unambiguous
from .contract import RESERVED, Contract
from .detectors import Scanner
from .keys import NO_SUBJECTS, Keyring, Resolved
from .tokens import Site
from .validation import _build_tree, _inline_checks, _Node


class CompiledContract:
    def __init__(self, contract: Contract, token: str = "REDACTED_CONTENT", keyring: Keyring | None = None):
        self.contract = contract
        self.ref = contract.ref
        self.token = token
        self.tree = _build_tree(contract.fields)
        self.undeclared = contract.undeclared
        self._walk_fast = self._compile_walk()
        self.consent = _ConsentReader(contract)
        self.pii_ops = [pii_op(f.path, f.pii, token, contract.type, contract.subject, contract.retention_days)
                        for f in contract.fields if f.pii is not None]
        # the subject's id and key are read once, before any action (see actions.PiiOp)
        self.reads_subject = any(op.reads_subject() for op in self.pii_ops)
        self.subject_segs = tuple(name for name, _each in _segments(contract.subject))
        self.subject_keys = key_literals(contract.subject)
        self.keys = keyring  # the default key port (ContractSet hands its own to each call)
        self.scan_mode = contract.scan_mode
        self.scanner = Scanner(contract.detectors) if contract.scan_mode != "off" else None
        self.scan_fields = [f.path for f in contract.fields if f.scan] if self.scanner else []
        self._actions = self._compile_actions()

    def _compile_walk(self):
        """Generate straight-line Python for this contract's validation walk (like fastjsonschema):
        no per-field loop, tuple unpacking or branching on metadata at run time. Field names are
        identifiers (the contract parser enforces it) and are emitted with repr() regardless."""
        code = _Code({"_M": _MISSING, "R": Rejection, "VF": VALIDATION_FAILED, "TM": TYPE_MISMATCH,
                      "UF": UNDECLARED_FIELD, "X": NeedsExactNumbers, "B": _EXACT_LIMIT}, prefix="c")
        lines, const = code.lines, code.const

        def emit(node: _Node, obj: str, depth: int) -> None:
            ind = "    " * depth
            if self.undeclared == "keep":
                # an undeclared spelling of a declared field (Email for email) would land in the
                # same column in Athena or Glue, unscrubbed: refuse the record; and at the top,
                # a record's own provenance or redaction marker (any spelling) would pass for ours
                reserved = RESERVED if not node.path else frozenset()
                folded = const(frozenset(n.casefold() for n in node.names | reserved))
                names = const(node.names)
                lines.append(f"{ind}if not {obj}.keys() <= {names}:")
                lines.append(f"{ind}    for k in {obj}.keys() - {names}:")
                lines.append(f"{ind}        if k.casefold() in {folded}: raise R(UF)")
            if self.undeclared != "keep":
                names = const(node.names)
                key = repr((node.path + "." if node.path else "") + "*")
                lines.append(f"{ind}if not {obj}.keys() <= {names}:")
                if self.undeclared == "reject":
                    lines.append(f"{ind}    raise R(UF)")
                else:
                    lines.append(f"{ind}    for k in {obj}.keys() - {names}: del {obj}[k]")
                    lines.append(f"{ind}    applied[{key}] = 'drop_undeclared'")
            for name, types, required, nullable, spec, child, each in node.fields:
                v = f"v{depth}"
                lines.append(f"{ind}{v} = {obj}.get({name!r}, _M)")
                if types is not None:
                    # The common case (present, right type) takes one test; the rest sort it out.
                    test = f"type({v}) is not {const(types[0])}" if len(types) == 1 else f"type({v}) not in {const(types)}"
                    lines.append(f"{ind}if {test}:")
                    lines.append(f"{ind}    if {v} is _M:")
                    lines.append(f"{ind}        {'raise R(VF)' if required else 'pass'}")
                    lines.append(f"{ind}    elif {v} is None:")
                    lines.append(f"{ind}        {'pass' if nullable else 'raise R(TM)'}")
                    if spec.type == "integer":  # a float here may be an integer beyond 64 bits
                        lines.append(f"{ind}    elif not exact and type({v}) is float and not -B <= {v} <= B:")
                        lines.append(f"{ind}        raise X()")
                    lines.append(f"{ind}    else:")
                    lines.append(f"{ind}        raise R(TM)")
                    lines.append(f"{ind}else:")
                    if spec.type == "number":
                        lines.append(f"{ind}    if not exact and type({v}) is float and not -B <= {v} <= B: raise X()")
                else:  # type any: every JSON value, null included
                    lines.append(f"{ind}if {v} is _M:")
                    lines.append(f"{ind}    {'raise R(VF)' if required else 'pass'}")
                    lines.append(f"{ind}elif {v} is None:")
                    lines.append(f"{ind}    pass")
                    lines.append(f"{ind}else:")
                    lines.append(f"{ind}    if not exact and type({v}) is float and not -B <= {v} <= B: raise X()")
                for check in _inline_checks(spec, v, const):
                    lines.append(f"{ind}    if {check}: raise R(VF)")
                if child is not None:
                    if each:
                        it = f"i{depth}"
                        lines.append(f"{ind}    for {it} in {v}:")
                        lines.append(f"{ind}        if type({it}) is not dict: raise R(TM)")
                        emit(child, it, depth + 2)
                    else:
                        emit(child, v, depth + 1)
                lines.append(f"{ind}    pass")

        emit(self.tree, "obj", 1)
        walk, self._walk_src = code.function("walk(obj, applied, exact=False)", f"<contract {self.ref}>")
        return walk

    def validate(self, event: dict) -> dict:
        """Validate (and drop or reject undeclared fields). Returns what was applied so far."""
        applied: dict[str, str] = {}
        self._walk_fast(event, applied)
        return applied

    def _compile_actions(self):
        """Generate straight-line Python that applies every PII action and the free-text scan."""
        code = _Code({"R": Rejection, "UP": UNDECLARED_PII, "TOKEN": self.token})
        lines, const = code.lines, code.const

        def access(segs, obj: str, depth: int, leaf_code) -> None:
            """Emit code reaching the leaf of ``segs`` from ``obj``; leaf_code(container, key, ind)."""
            ind = "    " * depth
            name, each = segs[0]
            if len(segs) == 1:
                leaf_code(obj, repr(name), ind)
                return
            var = f"c{depth}"
            lines.append(f"{ind}{var} = {obj}.get({name!r})")
            if each:
                it = f"e{depth}"
                lines.append(f"{ind}if type({var}) is list:")
                lines.append(f"{ind}    for {it} in {var}:")
                lines.append(f"{ind}        if type({it}) is dict:")
                access(segs[1:], it, depth + 3, leaf_code)
            else:
                lines.append(f"{ind}if type({var}) is dict:")
                access(segs[1:], var, depth + 1, leaf_code)

        def emit_action(path, segs, fn, name, for_lack_of_consent: bool, depth: int):
            ind = "    " * depth
            lines.append(f"{ind}t = False")

            def leaf(container, key, lind):
                lines.append(f"{lind}if {key} in {container}:")
                if fn is None:
                    lines.append(f"{lind}    del {container}[{key}]")
                elif fn is LINK:  # the subject's key link; a forgotten subject's id is redacted
                    lines.append(f"{lind}    {container}[{key}] = SK.link if ok else (TOKEN if gone else K.pseudonym({container}[{key}]))")
                elif isinstance(fn, Site):  # sealed under the subject's key; without one, redacted
                    lines.append(f"{lind}    {container}[{key}] = SK.seal({container}[{key}], {const(fn)}) if ok else TOKEN")
                else:
                    call = "K.pseudonym" if fn is KEYED else const(fn)  # the key port, at run time
                    lines.append(f"{lind}    {container}[{key}] = {call}({container}[{key}])")
                lines.append(f"{lind}    t = True")

            access(segs, "obj", depth, leaf)
            lines.append(f"{ind}if t:")
            if fn is LINK or isinstance(fn, Site):
                keeps = "ok" if isinstance(fn, Site) else "not gone"
                lines.append(f"{ind}    applied[{path!r}] = {name!r} if {keeps} else 'redact'")
                lines.append(f"{ind}    red = True" if for_lack_of_consent else f"{ind}    red = red or not ({keeps})")
            else:
                lines.append(f"{ind}    applied[{path!r}] = {name!r}")
                if for_lack_of_consent:
                    lines.append(f"{ind}    red = True")

        lines.append("    red = False")
        if self.reads_subject:
            # the subject's key, as the port resolved it for this batch: ok (a live key), gone
            # (forgotten: a tombstone), or neither (no per-subject keys: HMAC pseudonyms, and
            # what would be sealed is redacted)
            lines.append("    ok = SK is not None and SK.link is not None")
            lines.append("    gone = SK is not None and SK.link is None")

        def emit_actions(actions, depth):
            for path, fn, name, lack in actions:
                emit_action(path, _segments(path), fn, name, lack, depth)

        _emit_consent_branches(code, self.pii_ops, emit_actions)
        if self.scanner is not None:
            mask = const(self.scanner.mask)
            quarantine = self.scan_mode == "quarantine"
            for path in self.scan_fields:
                segs = _segments(path)
                lines.append("    t = False")

                def leaf(container, key, lind, mask=mask, quarantine=quarantine):
                    lines.append(f"{lind}v = {container}.get({key})")
                    lines.append(f"{lind}if type(v) is str:")
                    lines.append(f"{lind}    m, kinds = {mask}(v)")
                    lines.append(f"{lind}    if kinds:")
                    if quarantine:
                        lines.append(f"{lind}        raise R(UP)")
                    else:
                        lines.append(f"{lind}        {container}[{key}] = m")
                        lines.append(f"{lind}        t = True")

                access(segs, "obj", 1, leaf)
                lines.append("    if t:")
                lines.append(f"        applied[{path!r}] = applied[{path!r}] + '+scan' if {path!r} in applied else 'scan'")
                lines.append("        red = True")
        lines.append("    return red")
        actions, self._actions_src = code.function("actions(obj, consented, applied, K, SK)", f"<contract actions {self.ref}>")
        return actions

    def subject_of(self, event: dict):
        """The subject's id as the event holds it (None if absent or not reachable)."""
        v = event
        for name in self.subject_segs:
            if type(v) is not dict:
                return None
            v = v.get(name)
        return v

    def apply(self, event: dict, raw: bytes | None, redacted_at: str, exact: bool = False, keys=None,
              subjects: Resolved = NO_SUBJECTS) -> Outcome:
        """Validate and transform ``event`` (parsed from ``raw``) in place, with the key port
        ``keys`` (default: the one this contract was given) and the batch's ``subjects`` as the
        port resolved them. A forgotten subject (a tombstone) consents to nothing, whatever the
        event says.

        Raises NeedsExactNumbers (unless ``exact``) when a declared value is a float that may be an
        integer beyond 64 bits: ContractSet.apply then re-parses ``raw`` exactly and retries."""
        applied: dict[str, str] = {}
        self._walk_fast(event, applied, exact)
        if self.reads_subject and not unambiguous(raw, *self.subject_keys):
            raise Rejection(AMBIGUOUS_SUBJECT)  # whose key would seal it, whose link would name it?
        consent = self.consent
        consented = consent.consented(event, raw)
        sk = None
        if self.reads_subject:
            sv = self.subject_of(event)
            if type(sv) is str and (not sv or sv[0].isspace() or sv[-1].isspace()):
                raise Rejection(INVALID_SUBJECT)
            sk = subjects.of(sv)
        forgotten = sk is not None and sk.link is None
        if forgotten:
            consented = frozenset()
        redacted = self._actions(event, consented, applied, self.keys if keys is None else keys, sk)
        # (a forgotten subject consents to nothing: a consent that says otherwise is voided too)
        if not consented and consent.voided(event):
            applied[self.contract.consent.path] = "void"
            redacted = True
        elif consent.malformed(event):
            consent.redact(event, self.token)
            applied[self.contract.consent.path] = "redact"
            redacted = True
        event[META_FIELD] = {"contract": self.ref, "applied": applied}
        if redacted:
            event["data_redacted"] = True
            event["redacted_at"] = redacted_at
        return Outcome(applied, redacted)


class ContractSet:
    """Chooses the contract an event names (type and version fields), with configured defaults."""

    def __init__(
        self,
        contracts: list[Contract],
        *,
        type_field: str = "event_type",
        version_field: str = "schema_version",
        default_contract: str | None = None,
        default_versions: Mapping[str, str] | None = None,
        token: str = "REDACTED_CONTENT",
        keyring: Keyring | None = None,
    ):
        self.type_field = type_field
        self.version_field = version_field
        self.keys = keyring  # the key port: swapped on rotation, never compiled into a plan
        self.compiled = {(c.type, c.version): CompiledContract(c, token) for c in contracts}
        self.types = frozenset(t for t, _ in self.compiled)
        self.default = None
        if default_contract is not None:
            t, _, v = default_contract.partition("/")
            if (t, v) not in self.compiled:
                raise ValueError(f"default contract {default_contract} is not loaded")
            self.default = self.compiled[(t, v)]
        self.default_versions = dict(default_versions or {})
        for t, v in self.default_versions.items():
            if (t, v) not in self.compiled:
                raise ValueError(f"default version {t}/{v} is not loaded")

    @property
    def keyring(self) -> Keyring | None:
        return self.keys

    def forget(self) -> None:
        """Drop the pseudonyms remembered between records. Results do not change; only the next
        batch's speed does."""
        if self.keys is not None:
            self.keys.forget()

    def resolve(self, event: dict) -> CompiledContract:
        return self.pick(event.get(self.type_field, _MISSING), event.get(self.version_field, _MISSING))

    def pick(self, t, v) -> CompiledContract:
        """The contract for type ``t`` and version ``v`` (either ``_MISSING`` when absent)."""
        if t is _MISSING:
            if self.default is None:
                raise Rejection(MISSING_EVENT_TYPE)
            return self.default
        if type(t) is not str:
            raise Rejection(INVALID_EVENT_TYPE)
        if t not in self.types:
            raise Rejection(UNKNOWN_CONTRACT)
        if v is _MISSING:
            v = self.default_versions.get(t)
            if v is None:
                raise Rejection(MISSING_SCHEMA_VERSION)
        elif type(v) is int:
            v = str(v)
        elif type(v) is not str:
            raise Rejection(INVALID_SCHEMA_VERSION)
        c = self.compiled.get((t, v))
        if c is None:
            raise Rejection(UNKNOWN_CONTRACT)
        return c

    def apply(self, event: dict, raw: bytes | None, redacted_at: str, contract: CompiledContract | None = None,
              subjects: Resolved = NO_SUBJECTS) -> Outcome:
        """Apply the contract the event names (or ``contract``, when given) to ``event`` in place,
        with the batch's ``subjects`` (``keys.resolve``)."""
        c = contract or self.resolve(event)
        try:
            return c.apply(event, raw, redacted_at, keys=self.keys, subjects=subjects)
        except NeedsExactNumbers:
            if raw is None:
                raise Rejection(TYPE_MISMATCH) from None
            # orjson turned an integer beyond 64 bits into a float: re-read it exactly (stdlib),
            # in place so the caller's reference sees the exact event, and apply again.
            try:
                exact = json.loads(raw)
            except RecursionError:
                raise Rejection(TYPE_MISMATCH) from None
            event.clear()
            event.update(exact)
            return (contract or self.resolve(event)).apply(event, raw, redacted_at, exact=True, keys=self.keys, subjects=subjects)
