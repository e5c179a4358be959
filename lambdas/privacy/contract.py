"""Data contracts: what an event type and version looks like, whose data it is, where consent sits,
and what to do with each piece of personal data when consent is missing.

A contract document (YAML in ``contracts/<type>/<version>.yaml``, or the compiled JSON bundle the
Lambdas ship with) is validated here into frozen dataclasses. Every error names the document and
the key: ``contracts/order_placed/1.yaml: fields.ssn.pii.action: unknown action 'hash'``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .detectors import DETECTORS
from .patterns import PatternError, compile_mask, compile_pattern

TYPES = ("string", "integer", "number", "boolean", "object", "array", "date", "datetime", "any")
ACTIONS = ("redact", "mask", "pseudonymise", "generalise", "drop")
MASKS = ("ssn", "email", "phone", "card", "last4")
GENERALISATIONS = ("year", "age_band", "prefix", "day")
SCAN_MODES = ("off", "mask", "quarantine")
CONSENT_MODELS = ("flag", "purposes")
PURPOSE_LEVELS = ("granular", "cumulative")
UNDECLARED = ("drop", "keep", "reject")
# The producer's vocabulary for generating a field (``generate:``); see ``producer/events.py``.
GENERATORS = ("uuid", "clock", "subject", "text", "between", "template", "chance", "count", "sum")
SUBJECT_ATTRIBUTES = {  # attribute -> the field types it can fill
    "id": ("string",), "name": ("string",), "first_name": ("string",), "dob": ("date", "string"),
    "gender": ("string",), "ssn": ("string",), "email": ("string",), "phone": ("string",),
    "street": ("string",), "city": ("string",), "state": ("string",), "postcode": ("string",),
    "country": ("string",),
}
TEXTS = ("note", "gift")

# Used with fullmatch (a "$" anchor would accept a trailing newline). Field paths end up in
# generated code, always through repr(); these patterns are a second line of defence.
_PATH_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\[\*\])?(\.[A-Za-z_][A-Za-z0-9_]*(\[\*\])?)*", re.ASCII)
_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,63}", re.ASCII)
_VERSION_RE = re.compile(r"[0-9]+(\.[0-9]+){0,2}", re.ASCII)


class ContractError(ValueError):
    """A contract does not load or does not validate. The message names the file and the key."""


@dataclass(frozen=True)
class Pii:
    purposes: tuple[str, ...]
    action: str  # applied without consent
    always: str | None = None  # applied even with consent (e.g. pseudonymise the user id)
    mask: str | None = None
    mask_regex: str | None = None
    mask_format: str | None = None
    generalise: str | None = None
    band: int = 10
    prefix: int = 3


@dataclass(frozen=True)
class Generate:
    """How the producer fills a field: one generator of ``GENERATORS`` and its argument, and the
    share of events that carry the field at all (``present``, optional fields only)."""

    kind: str
    arg: Any = None
    present: float = 1.0


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


def _parse_pii(doc: _Doc, raw: Any, key: str, ftype: str, purposes: tuple[str, ...]) -> Pii:
    m = doc.mapping(raw, key)
    doc.only(m, key, {"purposes", "action", "always", "mask", "regex", "format", "generalise", "band", "prefix"})
    if "purposes" not in m:
        raise doc.err(f"{key}.purposes", "is required")
    pp = _str_list(doc, m["purposes"], f"{key}.purposes")
    for p in pp:
        if p not in purposes:
            raise doc.err(f"{key}.purposes", f"purpose {p!r} is not declared in purposes ({', '.join(purposes)})")
    action = doc.string(m, "action", key, choices=ACTIONS)
    always = doc.string(m, "always", key, required=False, choices=ACTIONS)
    if always == "drop":
        raise doc.err(f"{key}.always", "drop cannot apply with consent (the field would never be kept); declare no field")
    mask = doc.string(m, "mask", key, required=False, choices=MASKS)
    regex = doc.string(m, "regex", key, required=False)
    fmt = doc.string(m, "format", key, required=False)
    gen = doc.string(m, "generalise", key, required=False, choices=GENERALISATIONS)
    uses = {action, always}
    if "mask" in uses:
        if (mask is None) == (regex is None):
            raise doc.err(key, "a mask action needs exactly one of 'mask' (a named mask) or 'regex' + 'format'")
        if regex is not None:
            if fmt is None:
                raise doc.err(f"{key}.format", "is required with 'regex'")
            try:
                compile_pattern(regex)
            except PatternError as exc:
                raise doc.err(f"{key}.regex", str(exc)) from None
            try:
                compile_mask(regex, fmt)  # checks the group references of the format
            except PatternError as exc:
                raise doc.err(f"{key}.format", str(exc)) from None
    elif mask or regex or fmt:
        raise doc.err(key, "'mask', 'regex' and 'format' only apply to the mask action")
    if "generalise" in uses:
        if gen is None:
            raise doc.err(f"{key}.generalise", "is required with the generalise action (year, age_band, prefix, day)")
        expected = {"year": ("date", "datetime", "string"), "day": ("datetime", "string"), "age_band": ("integer", "number"),
                    "prefix": ("string",)}[gen]
        if ftype not in expected + ("any",):
            raise doc.err(f"{key}.generalise", f"{gen} does not apply to a field of type {ftype}")
    elif gen:
        raise doc.err(key, "'generalise' only applies to the generalise action")
    band = m.get("band", 10)
    prefix = m.get("prefix", 3)
    for n, v in (("band", band), ("prefix", prefix)):
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 100:
            raise doc.err(f"{key}.{n}", f"must be an integer from 1 to 100, got {v!r}")
    return Pii(purposes=pp, action=action, always=always, mask=mask, mask_regex=regex, mask_format=fmt,
               generalise=gen, band=band, prefix=prefix)


def _parse_field(doc: _Doc, path: str, raw: Any, purposes: tuple[str, ...]) -> FieldSpec:
    key = f"fields.{path}"
    if not _PATH_RE.fullmatch(path):
        raise doc.err(key, "is not a field path (name, a.b, items[*].note)")
    m = doc.mapping(raw, key)
    doc.only(m, key, {"type", "required", "nullable", "pattern", "enum", "minimum", "maximum", "max_length", "pii", "scan", "description", "example", "generate"})
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
    if mn is not None and mx is not None and mn > mx:
        raise doc.err(f"{key}.minimum", "is greater than maximum")
    ml = m.get("max_length")
    if ml is not None and (isinstance(ml, bool) or not isinstance(ml, int) or ml < 1):
        raise doc.err(f"{key}.max_length", f"must be a positive integer, got {ml!r}")
    scan = m.get("scan", False)
    if scan and ftype != "string":
        raise doc.err(f"{key}.scan", "only free-text fields (type: string) can be scanned")
    pii = _parse_pii(doc, m["pii"], f"{key}.pii", ftype, purposes) if "pii" in m else None
    required = m.get("required", False)
    gen = _parse_generate(doc, m["generate"], f"{key}.generate", ftype, required) if "generate" in m else None
    return FieldSpec(path=path, type=ftype, required=required, nullable=m.get("nullable", False),
                     pattern=pattern, enum=tuple(enum) if enum is not None else None, minimum=mn, maximum=mx,
                     max_length=ml, pii=pii, scan=scan, generate=gen)


def _probability(doc: _Doc, v: Any, key: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
        raise doc.err(key, f"must be a probability from 0 to 1, got {v!r}")
    return float(v)


def _parse_generate(doc: _Doc, raw: Any, key: str, ftype: str, required: bool) -> Generate:
    """``uuid`` | ``clock`` | {subject: email} | {text: note} | {between: [lo, hi]} |
    {template: "SKU-%####"} | {chance: 0.2} | {count: [lo, hi]} | {sum: [a[*].x, a[*].y]},
    each optionally with ``present: 0.3`` ({present: 0.3} alone: a derivable field, sometimes
    absent). Cross-field checks are in ``_check_generators``."""
    if isinstance(raw, str):
        raw = {raw: None}
    m = doc.mapping(raw, key)
    present = _probability(doc, m.pop("present"), f"{key}.present") if "present" in m else 1.0
    if present < 1 and required:
        raise doc.err(f"{key}.present", "a required field is always present")
    if not m and "present" in raw:  # {present: 0.3} alone: derived, and only sometimes there
        return Generate(kind="derive", present=present)
    kinds = [k for k in m if k in GENERATORS]
    unknown = sorted(str(k) for k in m if k not in GENERATORS)
    if unknown or len(kinds) != 1:
        raise doc.err(key, f"must name exactly one generator of {', '.join(GENERATORS)} (plus 'present'), "
                           f"got {', '.join(map(str, m)) or 'none'}")
    kind = kinds[0]
    arg = m[kind]
    k = f"{key}.{kind}"

    def types(*allowed: str) -> None:
        if ftype not in allowed:
            raise doc.err(k, f"does not generate a field of type {ftype} (only {', '.join(allowed)})")

    def pair(numbers: bool) -> tuple:
        if not isinstance(arg, list) or len(arg) != 2:
            raise doc.err(k, f"must be a list of two items, got {arg!r}")
        if numbers:
            lo, hi = (_number(doc, v, k) for v in arg)
            if lo is None or hi is None or lo > hi:
                raise doc.err(k, f"must be [low, high] with low <= high, got {arg!r}")
            return lo, hi
        return tuple(arg)

    if kind in ("uuid", "clock"):
        if arg is not None:
            raise doc.err(k, "takes no argument")
        types(*(("string",) if kind == "uuid" else ("datetime", "string")))
    elif kind == "subject":
        if arg not in SUBJECT_ATTRIBUTES:
            raise doc.err(k, f"must be one of {', '.join(SUBJECT_ATTRIBUTES)}, got {arg!r}")
        types(*SUBJECT_ATTRIBUTES[arg])
    elif kind == "text":
        if arg not in TEXTS:
            raise doc.err(k, f"must be one of {', '.join(TEXTS)}, got {arg!r}")
        types("string")
    elif kind == "between":
        types("integer", "number")
        arg = pair(True)
        if ftype == "integer" and not all(float(v).is_integer() for v in arg):
            raise doc.err(k, f"bounds of an integer field must be whole numbers, got {arg!r}")
    elif kind == "count":
        types("array")
        arg = pair(True)
        if not all(isinstance(v, int) and v >= 0 for v in arg):
            raise doc.err(k, f"must be [low, high] counts (whole numbers from 0), got {arg!r}")
    elif kind == "template":
        types("string")
        if not isinstance(arg, str) or not arg:
            raise doc.err(k, "must be a non-empty string (# a digit, % a digit from 1 to 9, ? a letter)")
    elif kind == "chance":
        types("boolean")
        arg = _probability(doc, arg, k)
    else:  # sum
        types("integer", "number")
        arg = pair(False)
        if not all(isinstance(v, str) and _PATH_RE.fullmatch(v) for v in arg):
            raise doc.err(k, f"must name two field paths, got {arg!r}")
    return Generate(kind=kind, arg=arg, present=present)


def _check_generators(doc: _Doc, fields: tuple[FieldSpec, ...], consent_path: str) -> None:
    """A contract that tells the producer how to generate any field must tell it for every field
    (or the field must be derivable: an enum, a bounded number, a boolean, a container, the
    consent field), and a sum must name numbers in the items of one array."""
    if not any(f.generate for f in fields):
        return
    by_path = {f.path: f for f in fields}
    for f in fields:
        key = f"fields.{f.path}.generate"
        g = f.generate
        if g is not None and f.path == consent_path:
            raise doc.err(key, "the consent field is generated from each subject's consent; remove the hint")
        if g is not None and g.kind == "sum":
            if "[*]" in f.path:
                raise doc.err(key, "a sum cannot sit inside an array")
            arrays = set()
            for p in g.arg:
                op = by_path.get(p)
                if op is None or op.type not in ("integer", "number") or p.count("[*]") != 1 or "." in p.split("[*].")[-1]:
                    raise doc.err(key, f"{p!r} names no declared number directly in an array's items")
                arrays.add(p.split("[*]")[0])
            if len(arrays) != 1:
                raise doc.err(key, "both operands must be fields of the same array's items")
        if (g is None or g.kind == "derive") and f.path != consent_path and f.type not in ("object", "array", "boolean") and not f.enum and not (
            f.type in ("integer", "number") and f.minimum is not None and f.maximum is not None
        ):
            raise doc.err(key, "is missing: other fields say how the producer generates them, so this one must too "
                               "(an enum, a bounded number, a boolean or an object needs no hint)")


def parse_contract(raw: Any, source: str) -> Contract:
    doc = _Doc(source)
    m = doc.mapping(raw, "")
    doc.only(m, "", {"contract", "version", "description", "subject", "consent", "purposes", "fields", "scan", "undeclared_fields"})
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
    description = m.get("description", "")
    if not isinstance(description, str):
        raise doc.err("description", "must be a string")
    return Contract(type=ctype, version=version, subject=subject, consent=Consent(model=model, path=cpath, levels=levels),
                    purposes=purposes, fields=fields, scan_mode=scan_mode, detectors=tuple(detectors),
                    undeclared=undeclared, description=description, source=source, raw=raw)


# ---------------------------------------------------------------------------------------------
# Loading: YAML from the repository, JSON bundle in the Lambdas
# ---------------------------------------------------------------------------------------------


def _load_yaml(text: str, source: str) -> Any:
    """Safe YAML, refusing what would silently change a contract: a key repeated at any level
    (PyYAML keeps the last value, so a repeated ``ssn:`` replaced the field and its personal-data
    rule) and merge keys (``<<``: explicit keys override merged ones without a word)."""
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        stack = [(node, "")]
        while stack:
            n, path = stack.pop()
            if isinstance(n, yaml.MappingNode):
                seen: dict = {}
                for k, v in n.value:
                    if k.tag == "tag:yaml.org,2002:merge":
                        raise ContractError(f"{source}: {path or 'top level'}: merge keys (<<) are not supported, "
                                            f"at line {k.start_mark.line + 1}; write the keys out")
                    key = loader.construct_object(k, deep=True)
                    line = k.start_mark.line + 1
                    try:
                        first = seen.get(key)
                    except TypeError:
                        raise ContractError(f"{source}: {path or 'top level'}: the key at line {line} is not a scalar") from None
                    name = f"{path}.{key}" if path else str(key)
                    if first is not None:
                        raise ContractError(f"{source}: {name}: the key {str(key)!r} appears twice, at lines {first} "
                                            f"and {line} (YAML would silently keep only the last)")
                    seen[key] = line
                    stack.append((v, name))
            elif isinstance(n, yaml.SequenceNode):
                stack.extend((v, f"{path}[{i}]") for i, v in enumerate(n.value))
        return loader.construct_document(node)
    finally:
        loader.dispose()


def load_contract_file(path: Path, root: Path | None = None) -> Contract:
    import yaml

    source = str(path.relative_to(root.parent) if root is not None else path)
    try:
        raw = _load_yaml(path.read_text(encoding="utf-8"), source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ContractError(f"{source}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    except OSError as exc:
        raise ContractError(f"{source}: cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ContractError(f"{source}: is not UTF-8 text") from None
    try:
        json.dumps(raw, allow_nan=False)
    except (TypeError, ValueError):
        raise ContractError(f"{source}: holds a value JSON cannot carry (an unquoted date or time? quote it)") from None
    c = parse_contract(raw, source)
    expected = path.parent.name, path.stem
    if (c.type, c.version) != expected:
        raise ContractError(f"{source}: declares {c.type}/{c.version} but lives at {expected[0]}/{expected[1]}.yaml")
    return c


def load_contract_dir(root: Path) -> list[Contract]:
    root = Path(root)
    if not root.is_dir():
        raise ContractError(f"{root}: the contracts folder does not exist")
    files = sorted(root.glob("*/*.yaml"))
    if not files:
        raise ContractError(f"{root}: holds no contract (expected <type>/<version>.yaml)")
    contracts = [load_contract_file(p, root) for p in files]
    strays = sorted(str(p.relative_to(root.parent)) for p in root.rglob("*") if p.is_file() and p.suffix in (".yml", ".json"))
    if strays:
        raise ContractError(f"{strays[0]}: contracts must be .yaml files named <type>/<version>.yaml")
    return contracts


def bundle_json(contracts: list[Contract]) -> str:
    """The form shipped in the Lambda assets: the documents as JSON (no YAML parser needed), each
    parsed and validated again at cold start, so a tampered bundle cannot skip validation."""
    return json.dumps({"contracts": [{"source": c.source, "document": c.raw} for c in contracts]},
                      separators=(",", ":"))  # document order kept: fields are listed parents first


def load_bundle(text: str) -> list[Contract]:
    return [parse_contract(d["document"], d["source"]) for d in json.loads(text)["contracts"]]
