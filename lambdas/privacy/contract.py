"""Data contracts: what an event type and version looks like, whose data it is, where consent sits,
and what to do with each piece of personal data when consent is missing.

A contract document (YAML in ``contracts/<type>/<version>.yaml``, or the compiled JSON bundle the
Lambdas ship with) is validated here into frozen dataclasses. Every error names the document and
the key: ``contracts/order_placed/1.yaml: fields.ssn.pii.action: unknown action 'hash'``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .actions import ACTIONS, PARAMS, REGISTRY
from .detectors import DETECTORS
from .document import _PATH_RE, ContractError, _Doc, _number, _str_list
from .generators import Generate, _check_generators, _parse_generate
from .patterns import PatternError, compile_pattern
from .pii import GENERALISATIONS, MASKS, Pii  # noqa: F401 (re-exported)

__all__ = ["ContractError", "Contract", "FieldSpec", "Pii", "Consent", "Generate", "parse_contract", "bundle_json", "load_bundle"]

TYPES = ("string", "integer", "number", "boolean", "object", "array", "date", "datetime", "any")
SCAN_MODES = ("off", "mask", "quarantine")
CONSENT_MODELS = ("flag", "purposes")
PURPOSE_LEVELS = ("granular", "cumulative")
UNDECLARED = ("drop", "keep", "reject")
# the scrubber's own top-level output fields: provenance and the redaction marker
RESERVED = frozenset({"_privacy", "data_redacted", "redacted_at"})
MAX_PATH_SEGMENTS = 32
# A Kinesis record holds at most 1 MiB, and every character of a string (every item of a list)
# takes at least one byte of it: a longer max_length is no limit at all, and msgspec (the fast
# path) cannot take one beyond 64 bits.
MAX_LENGTH = 1_048_576
# The fast path checks an integer's bounds as a 64-bit integer (msgspec): a bound beyond it
# cannot be compiled, and bounds that wide are no bounds in practice.
BOUND_MIN, BOUND_MAX = -(2**63), 2**63 - 1
_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,63}", re.ASCII)
_VERSION_RE = re.compile(r"[0-9]+(\.[0-9]+){0,2}", re.ASCII)


@dataclass(frozen=True)
class FieldSpec:
    path: str
    type: str = "any"
    required: bool = False
    nullable: bool = False
    pattern: str | None = None
    enum: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    pii: Pii | None = None
    scan: bool = False  # free text: scan for undeclared personal data
    generate: Generate | None = None  # for the producer; the scrubber ignores it


@dataclass(frozen=True)
class Consent:
    model: str  # flag | purposes
    path: str
    levels: str = "granular"  # for purposes: granular | cumulative


@dataclass(frozen=True)
class Contract:
    type: str
    version: str
    subject: str
    consent: Consent
    purposes: tuple[str, ...]  # ordered: the order is the level order for cumulative consent
    fields: tuple[FieldSpec, ...]
    scan_mode: str = "off"
    detectors: tuple[str, ...] = DETECTORS
    undeclared: str = "drop"
    engine: str = "fast"  # or "reference": no fast plan, on purpose
    retention_days: int | None = None  # encrypted values become unreadable this long after their day
    description: str = ""
    source: str = ""
    raw: Any = field(default=None, compare=False, repr=False)  # the document as written

    @property
    def ref(self) -> str:
        return f"{self.type}/{self.version}"

    @property
    def producible(self) -> bool:
        """The producer generates events of this contract (it says how, field by field)."""
        return any(f.generate is not None for f in self.fields)


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------


def _parse_pii(doc: _Doc, raw: Any, key: str, ftype: str, purposes: tuple[str, ...]) -> Pii:
    """The field's ``pii`` block: its purposes, its actions, and the parameters of those actions,
    each checked by the action that takes it (``actions.REGISTRY``)."""
    m = doc.mapping(raw, key)
    doc.only(m, key, {"purposes", "action", "always", *PARAMS})
    if "purposes" not in m:
        raise doc.err(f"{key}.purposes", "is required")
    pp = _str_list(doc, m["purposes"], f"{key}.purposes")
    for p in pp:
        if p not in purposes:
            raise doc.err(f"{key}.purposes", f"purpose {p!r} is not declared in purposes ({', '.join(purposes)})")
    action = doc.string(m, "action", key, choices=ACTIONS)
    always = doc.string(m, "always", key, required=False, choices=ACTIONS)
    if always is not None and not REGISTRY[always].with_consent:
        raise doc.err(f"{key}.always", f"{always} cannot apply with consent (the field would never be kept); declare no field")
    uses = [REGISTRY[action]] + ([REGISTRY[always]] if always is not None and always != action else [])
    params: dict[str, Any] = {}
    for act in uses:
        params.update(act.check(doc, m, key, ftype))
    taken = {n for act in uses for n in act.yaml}
    for name in m.keys() & PARAMS.keys():
        if name not in taken:
            owners = " or ".join(PARAMS[name])
            raise doc.err(key, f"{name!r} only applies to the {owners} action")
    return Pii(purposes=pp, action=action, always=always, **params)


def _parse_field(doc: _Doc, path: str, raw: Any, purposes: tuple[str, ...]) -> FieldSpec:
    key = f"fields.{path}"
    if not _PATH_RE.fullmatch(path):
        raise doc.err(key, "is not a field path (name, a.b, items[*].note)")
    if path.count(".") >= MAX_PATH_SEGMENTS:
        raise doc.err(key, f"is nested deeper than {MAX_PATH_SEGMENTS} levels")
    if path.split(".")[0].casefold() in RESERVED:  # any spelling: Athena and Glue fold case
        raise doc.err(key, f"is a name the output reserves ({', '.join(sorted(RESERVED))})")
    m = doc.mapping(raw, key)
    doc.only(m, key, {"type", "required", "nullable", "pattern", "enum", "minimum", "maximum", "max_length", "pii", "scan",
                      "description", "example", "generate"})
    ftype = doc.string(m, "type", key, required=False, default="any", choices=TYPES)
    for b in ("required", "nullable", "scan"):
        if b in m and not isinstance(m[b], bool):
            raise doc.err(f"{key}.{b}", f"must be true or false, got {m[b]!r}")
    pattern = doc.string(m, "pattern", key, required=False)
    if pattern is not None:
        if ftype not in ("string", "date", "datetime", "any"):
            raise doc.err(f"{key}.pattern", f"does not apply to a field of type {ftype}")
        try:
            compile_pattern(pattern)
        except PatternError as exc:
            raise doc.err(f"{key}.pattern", str(exc)) from None
    enum = m.get("enum")
    if enum is not None and (not isinstance(enum, list) or not enum):
        raise doc.err(f"{key}.enum", "must be a non-empty list")
    mn, mx = _number(doc, m.get("minimum"), f"{key}.minimum"), _number(doc, m.get("maximum"), f"{key}.maximum")
    if (mn is not None or mx is not None) and ftype not in ("integer", "number", "any"):
        raise doc.err(f"{key}.minimum", f"a range does not apply to a field of type {ftype}")
    for name, b in (("minimum", mn), ("maximum", mx)):
        if b is not None and not BOUND_MIN <= b <= BOUND_MAX:
            raise doc.err(f"{key}.{name}", f"must be from {BOUND_MIN:,} to {BOUND_MAX:,} (a 64-bit integer's range), got {b!r}")
    if mn is not None and mx is not None and mn > mx:
        raise doc.err(f"{key}.minimum", "is greater than maximum")
    ml = m.get("max_length")
    if ml is not None and (isinstance(ml, bool) or not isinstance(ml, int) or not 1 <= ml <= MAX_LENGTH):
        raise doc.err(f"{key}.max_length", f"must be an integer from 1 to {MAX_LENGTH:,} (a Kinesis record holds at most 1 MiB: "
                      f"a longer value cannot occur), got {ml!r}")
    scan = m.get("scan", False)
    if scan and ftype != "string":
        raise doc.err(f"{key}.scan", "only free-text fields (type: string) can be scanned")
    pii = _parse_pii(doc, m["pii"], f"{key}.pii", ftype, purposes) if "pii" in m else None
    required = m.get("required", False)
    gen = _parse_generate(doc, m["generate"], f"{key}.generate", ftype, required) if "generate" in m else None
    return FieldSpec(path=path, type=ftype, required=required, nullable=m.get("nullable", False),
                     pattern=pattern, enum=tuple(enum) if enum is not None else None, minimum=mn, maximum=mx,
                     max_length=ml, pii=pii, scan=scan, generate=gen)


def parse_contract(raw: Any, source: str) -> Contract:
    doc = _Doc(source)
    m = doc.mapping(raw, "")
    doc.only(m, "", {"contract", "version", "description", "subject", "consent", "purposes", "fields", "scan", "undeclared_fields",
                     "engine", "retention_days"})
    ctype = doc.string(m, "contract", "")
    if not _NAME_RE.fullmatch(ctype):
        raise doc.err("contract", f"must be lower_snake_case, got {ctype!r}")
    version = m.get("version")
    if isinstance(version, int) and not isinstance(version, bool):
        version = str(version)
    if not isinstance(version, str) or not _VERSION_RE.fullmatch(version):
        raise doc.err("version", f"must be a version like 1 or 1.2.0, got {m.get('version')!r}")
    purposes = _str_list(doc, m.get("purposes"), "purposes") if "purposes" in m else ()
    for p in purposes:
        if not _NAME_RE.fullmatch(p):
            raise doc.err("purposes", f"purpose {p!r} must be lower_snake_case")
    if "fields" not in m:
        raise doc.err("fields", "is required")
    fields_raw = doc.mapping(m["fields"], "fields")
    fields = tuple(_parse_field(doc, str(p), v, purposes) for p, v in fields_raw.items())
    by_path = {f.path: f for f in fields}
    # Every nested path needs its parents declared, so the whole document is described.
    for f in fields:
        parts = f.path.split(".")
        for i in range(1, len(parts)):
            parent = ".".join(parts[:i])
            if parent.endswith("[*]"):
                pf = by_path.get(parent[:-3])
                if pf is None or pf.type != "array":
                    raise doc.err(f"fields.{f.path}", f"its parent {parent[:-3]!r} must be declared as an array")
            else:
                pf = by_path.get(parent)
                if pf is None or pf.type != "object":
                    raise doc.err(f"fields.{f.path}", f"its parent {parent!r} must be declared as an object")
        if f.path.endswith("[*]"):
            raise doc.err(f"fields.{f.path}", "declare the array itself, and its items' fields as items[*].name")

    subject = doc.string(m, "subject", "")
    sf = by_path.get(subject)
    if sf is None or "[*]" in subject:
        raise doc.err("subject", f"names no declared scalar field: {subject!r}")
    if not sf.required:
        raise doc.err("subject", f"the subject field {subject!r} must be required")
    if sf.pii is not None and "encrypt" in (sf.pii.action, sf.pii.always):
        raise doc.err(f"fields.{subject}.pii", "the subject field cannot be encrypted: its key is found by it (pseudonymise it: "
                      "it then holds the subject's key link)")
    encrypts = any(f.pii is not None and "encrypt" in (f.pii.action, f.pii.always) for f in fields)
    if encrypts and (sf.pii is None or sf.pii.action not in ("pseudonymise", "redact", "drop")
                     or sf.pii.always != "pseudonymise"):
        # else the raw id lands in the lake (or part of it), and export and forget, which look for
        # the subject's key link there, silently find nothing
        raise doc.err(f"fields.{subject}.pii", "a contract that encrypts must pseudonymise its subject's field with consent "
                      "(always: pseudonymise: it holds the subject's key link), and pseudonymise, redact or drop it without "
                      "(action), never keep it in clear")
    retention = m.get("retention_days")
    if retention is not None:
        if isinstance(retention, bool) or not isinstance(retention, int) or not 1 <= retention <= 36500:
            raise doc.err("retention_days", f"must be an integer from 1 to 36500, got {retention!r}")
        if not encrypts:
            raise doc.err("retention_days", "applies to encrypted fields, and this contract encrypts none")

    c = doc.mapping(m.get("consent"), "consent")
    doc.only(c, "consent", {"model", "field", "levels"})
    model = doc.string(c, "model", "consent", choices=CONSENT_MODELS)
    cpath = doc.string(c, "field", "consent")
    if cpath not in by_path or "[*]" in cpath:
        raise doc.err("consent.field", f"names no declared field: {cpath!r}")
    levels = doc.string(c, "levels", "consent", required=False, default="granular", choices=PURPOSE_LEVELS)
    if model == "flag" and "levels" in c:
        raise doc.err("consent.levels", "only applies to the purposes model")
    if model == "purposes" and not purposes:
        raise doc.err("purposes", "the purposes consent model needs declared purposes")
    if by_path[cpath].pii is not None:
        raise doc.err("consent.field", "the consent field cannot itself be transformed")
    _check_generators(doc, fields, cpath)

    s = doc.mapping(m.get("scan", {}), "scan")
    doc.only(s, "scan", {"mode", "detectors"})
    scan_mode = doc.string(s, "mode", "scan", required=False, default="off", choices=SCAN_MODES)
    detectors = _str_list(doc, s["detectors"], "scan.detectors") if "detectors" in s else DETECTORS
    for d in detectors:
        if d not in DETECTORS:
            raise doc.err("scan.detectors", f"unknown detector {d!r} (known: {', '.join(DETECTORS)})")
    if scan_mode != "off" and not any(f.scan for f in fields):
        raise doc.err("scan.mode", "is on, but no field is marked scan: true")
    undeclared = doc.string(m, "undeclared_fields", "", required=False, default="drop", choices=UNDECLARED)
    # "reference": this contract runs on the reference engine only, on purpose (synth otherwise
    # requires the fast path to compile it)
    engine = doc.string(m, "engine", "", required=False, default="fast", choices=("fast", "reference"))
    description = m.get("description", "")
    if not isinstance(description, str):
        raise doc.err("description", "must be a string")
    return Contract(type=ctype, version=version, subject=subject, consent=Consent(model=model, path=cpath, levels=levels),
                    purposes=purposes, fields=fields, scan_mode=scan_mode, detectors=tuple(detectors),
                    undeclared=undeclared, description=description, source=source, raw=raw, engine=engine,
                    retention_days=retention)


def bundle_json(contracts: list[Contract]) -> str:
    """The form shipped in the Lambda assets: the documents as JSON (no YAML parser needed), each
    parsed and validated again at cold start, so a tampered bundle cannot skip validation."""
    return json.dumps({"contracts": [{"source": c.source, "document": c.raw} for c in contracts]},
                      separators=(",", ":"))  # document order kept: fields are listed parents first


def load_bundle(text: str) -> list[Contract]:
    return [parse_contract(d["document"], d["source"]) for d in json.loads(text)["contracts"]]
