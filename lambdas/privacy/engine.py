"""The policy engine: contracts compiled once into plans, applied per event at stream speed.

For one event the plan (1) validates every declared field (type, required, pattern, enum, range,
length), (2) works out which purposes the subject consented to, fail-closed, (3) applies each PII
field's action when its purposes are not all consented (and its ``always`` action when they are),
(4) scans free-text fields for undeclared personal data, and (5) records what it did in
``_privacy`` (names of fields and actions only, never values).

Rejections raise ``Rejection(reason)`` with a reason code from a closed set; the caller turns them
into ``ProcessingFailed`` (quarantine).
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import date
from typing import Any, Callable, Iterator, Mapping

import orjson

from .contract import Contract, FieldSpec, Pii
from .detectors import Scanner, luhn_ok
from .patterns import compile_mask, compile_pattern

# Rejection reasons (metric names are built from these; never from data).
UNKNOWN_CONTRACT = "unknown_contract"
MISSING_EVENT_TYPE = "missing_event_type"
INVALID_EVENT_TYPE = "invalid_event_type"
MISSING_SCHEMA_VERSION = "missing_schema_version"
INVALID_SCHEMA_VERSION = "invalid_schema_version"
TYPE_MISMATCH = "type_mismatch"
VALIDATION_FAILED = "validation_failed"
UNDECLARED_FIELD = "undeclared_field"
UNDECLARED_PII = "undeclared_pii"
REASONS = (UNKNOWN_CONTRACT, MISSING_EVENT_TYPE, INVALID_EVENT_TYPE, MISSING_SCHEMA_VERSION, INVALID_SCHEMA_VERSION,
           TYPE_MISMATCH, VALIDATION_FAILED, UNDECLARED_FIELD, UNDECLARED_PII)

META_FIELD = "_privacy"
_MISSING = object()


class NeedsExactNumbers(Exception):
    """A float beyond +-2**53 was seen: it may be an integer orjson could not hold exactly."""


_EXACT_LIMIT = float(2**53)
_URLSAFE = bytes.maketrans(b"+/", b"-_")

# Two exact HMAC-SHA256 constructions for the pseudonyms (RFC 2104), both with the keyed state
# prepared once and copied per value; which is faster depends on the interpreter and its OpenSSL
# (measured per value: Python 3.13 + OpenSSL 3.0, 0.56 us for a copied OpenSSL HMAC against
# 1.08 us for CPython's own SHA-256; Python 3.11, 2.0 against 0.84 us). The keyring times both at
# start-up and keeps the faster; a property test pins both to the stdlib hmac module.
try:
    from _sha2 import sha256 as _builtin_sha256  # CPython 3.12+ (HACL*)
except ImportError:  # pragma: no cover - depends on the interpreter
    try:
        from _sha256 import sha256 as _builtin_sha256  # CPython 3.11
    except ImportError:
        _builtin_sha256 = hashlib.sha256


def _hmac_copying_hmac(key: bytes) -> Callable[[bytes], bytes]:
    keyed = hmac.new(key, digestmod=hashlib.sha256)
    keyed = getattr(keyed, "_hmac", None) or keyed  # the C object: its copy skips the wrapper

    def mac(data: bytes) -> bytes:
        h = keyed.copy()
        h.update(data)
        return h.digest()

    return mac


def _hmac_two_states(key: bytes) -> Callable[[bytes], bytes]:
    k = (key if len(key) <= 64 else hashlib.sha256(key).digest()).ljust(64, b"\0")
    inner0 = _builtin_sha256(bytes(b ^ 0x36 for b in k))
    outer0 = _builtin_sha256(bytes(b ^ 0x5C for b in k))

    def mac(data: bytes) -> bytes:
        inner = inner0.copy()
        inner.update(data)
        outer = outer0.copy()
        outer.update(inner.digest())
        return outer.digest()

    return mac


HMAC_CONSTRUCTIONS = (_hmac_copying_hmac, _hmac_two_states)


def _fastest_hmac(key: bytes) -> Callable[[bytes], bytes]:
    import time

    best, chosen = float("inf"), None
    sample = [b"%036d" % i for i in range(200)]
    for make in HMAC_CONSTRUCTIONS:
        mac = make(key)
        t = time.perf_counter()
        for d in sample:
            mac(d)
        elapsed = time.perf_counter() - t
        if elapsed < best:
            best, chosen = elapsed, mac
    return chosen


class Memo(dict):
    """value -> ``fn(value)``, computed on a miss (``memo[v]``: one dict lookup when it hits) and
    kept up to ``limit`` entries. For string fields only: str keys never collide with a value of
    another type (None, for a nullable field, is a key of its own)."""

    __slots__ = ("fn", "limit")

    def __init__(self, fn, limit: int):
        super().__init__()
        self.fn = fn
        self.limit = limit

    def __missing__(self, v):
        out = self.fn(v)
        if len(self) < self.limit:
            self[v] = out
        return out


class Rejection(Exception):
    __slots__ = ("reason",)

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# ---------------------------------------------------------------------------------------------
# Pseudonymisation keys
# ---------------------------------------------------------------------------------------------


class Keyring:
    """HMAC-SHA256 keys by version. New pseudonyms use ``current``; the prefix names the key, so
    after a rotation old and new pseudonyms are told apart (and re-keyed by a backfill)."""

    def __init__(self, keys: Mapping[str, bytes], current: str, mac: Callable[[bytes], Callable] | None = None):
        """``mac``: one of HMAC_CONSTRUCTIONS (default: the faster here, timed at start-up)."""
        if current not in keys:
            raise ValueError("the current key version is not in the keyring")
        for kid, k in keys.items():
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,16}", kid) or len(k) < 32:
                raise ValueError("keys need an id of up to 16 [A-Za-z0-9_-] and at least 32 bytes")
        self.keys = dict(keys)
        self.current = current
        self._key = self.keys[current]
        self._mac = _fastest_hmac(self._key) if mac is None else mac(self._key)
        self._prefix = current + ":"
        # identifiers recur across events: a string's pseudonym is looked up (and computed on a miss)
        self._memo = Memo(self._compute, 65536)

    @classmethod
    def from_secret(cls, secret: str | Mapping) -> "Keyring":
        """Secret layout: {"current": "v2", "v1": "<random, 32+ chars>", "v2": "<random>"}.

        Secrets Manager generates the first version itself (``generate_string_key``). To rotate,
        add a new key id, point ``current`` at it, and keep the old key for as long as old
        pseudonyms must be re-derivable."""
        d = json.loads(secret) if isinstance(secret, str) else dict(secret)
        current = d.pop("current")
        return cls({k: v.encode("utf-8") for k, v in d.items()}, current)

    def forget(self) -> None:
        """Drop the remembered pseudonyms (benchmarks measure a batch of new subjects with it)."""
        self._memo.clear()

    def pseudonym(self, value: Any) -> Any:
        if type(value) is str:
            return self._memo[value]
        return self._compute(value)

    def _compute(self, value: Any) -> Any:
        if value is None:
            return None
        if type(value) is str:
            data = value.encode("utf-8")
        else:
            try:
                data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
            except TypeError:  # an integer beyond 64 bits
                data = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
        # URL-safe base64 without the padding (32 bytes: 43 characters and "=")
        return self._prefix + binascii.b2a_base64(self._mac(data), newline=False)[:43].translate(_URLSAFE).decode("ascii")


# ---------------------------------------------------------------------------------------------
# Paths
# ---------------------------------------------------------------------------------------------


def _segments(path: str) -> tuple[tuple[str, bool], ...]:
    return tuple((p[:-3], True) if p.endswith("[*]") else (p, False) for p in path.split("."))


def _slots(event: dict, segs) -> Iterator[tuple[dict, str]]:
    """Every (container, key) where the path's leaf lives. Missing or mistyped parents yield
    nothing: validation of the parent reports them."""
    containers = [event]
    for name, each in segs[:-1]:
        nxt = []
        for c in containers:
            v = c.get(name)
            if each:
                if type(v) is list:
                    nxt.extend(x for x in v if type(x) is dict)
            elif type(v) is dict:
                nxt.append(v)
        containers = nxt
    name, each = segs[-1]
    for c in containers:
        if each:
            v = c.get(name)
            if type(v) is list:
                for i in range(len(v)):
                    yield v, i  # type: ignore[misc]
        else:
            yield c, name


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------

# RFC 3339 digits are ASCII (re.ASCII: a bare \d would also take e.g. Arabic-Indic digits)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)


def _is_date(v) -> bool:
    if type(v) is not str or not _DATE_RE.match(v):
        return False
    try:
        date.fromisoformat(v)
    except ValueError:
        return False
    return True


_DATETIME_RE = re.compile(
    r"^[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[T ](?:[01][0-9]|2[0-3]):[0-5][0-9]"
    r"(?::[0-5][0-9](?:\.[0-9]{1,9})?)?(?:Z|[+-](?:[01][0-9]|2[0-3]):?[0-5][0-9])?$"
)


def _is_datetime(v) -> bool:
    """ISO 8601 date-time (RFC 3339 profile, offset optional). Shape only, like JSON Schema."""
    return type(v) is str and _DATETIME_RE.match(v) is not None


# ---------------------------------------------------------------------------------------------
# Actions
# ---------------------------------------------------------------------------------------------

# bytes.translate is a C table loop; str.translate with a mapping and re.sub are several times slower
_ASCII_DIGITS = b"0123456789"
_NON_ASCII_DIGITS = bytes(b for b in range(256) if not 48 <= b <= 57)
_STAR_DIGITS = bytes.maketrans(_ASCII_DIGITS, b"**********")
_EMAIL_RE = re.compile(r"^([^@\s])[^@\s]*@([^@\s]+\.[^@\s]+)$")


def _mask_fn(p: Pii, token: str) -> Callable[[Any], Any]:
    """value -> masked value; anything the mask cannot make sense of is redacted (fail closed)."""
    if p.mask_regex is not None:
        rewrite = compile_mask(p.mask_regex, p.mask_format)  # RE2: linear in the value

        def regex_mask(v):
            if type(v) in (int, float) and type(v) is not bool:
                v = str(v)
            out = rewrite(v) if type(v) is str else None
            return token if out is None else out

        return regex_mask

    kind = p.mask

    def as_text(v):
        if type(v) is str:
            return v
        if type(v) is int:
            return str(v)
        return None

    if kind == "ssn":
        def ssn(v):
            s = as_text(v)
            # ASCII digits only (a character outside ASCII becomes "?" and goes too)
            d = s.encode("ascii", "replace").translate(None, _NON_ASCII_DIGITS) if s is not None else b""
            return "***-**-" + d[-4:].decode("ascii") if len(d) == 9 else token
        return ssn
    if kind == "email":
        def email(v):
            m = _EMAIL_RE.match(v) if type(v) is str else None
            return f"{m.group(1)}***@{m.group(2)}" if m else token
        return email
    if kind == "phone":
        # the number, then an optional extension ("x43847", " ext. 12"): the last four digits kept
        # are the number's, and the extension's digits are starred like the rest
        # (+1-914-256-7627x43847 -> +*-***-***-7627x*****)
        shape = re.compile(r"([\d ().+/-]+?)([ ]*(?:x|ext\.?)[ ]*\d{1,6}[ ]*)?", re.ASCII | re.IGNORECASE)

        def phone(v):
            if type(v) is not str:
                if type(v) is not int:
                    return token
                v = str(v)
            m = shape.fullmatch(v)  # anything but digits, separators and an extension: redact it all
            if m is None:
                return token
            number, ext = m.groups()
            # the digits starred, cut before the fourth digit from the end: it and what follows stay
            parts = number.encode("ascii").translate(_STAR_DIGITS).rsplit(b"*", 4)
            # fewer than 7 digits (fewer than 3 before the last four): not a phone number
            if len(parts) < 5 or parts[0].count(b"*") < 3:
                return token
            out = parts[0].decode("ascii") + number[len(parts[0]):]
            return out + ext.encode("ascii").translate(_STAR_DIGITS).decode("ascii") if ext else out
        return phone
    if kind == "card":
        def card(v):
            s = as_text(v)
            d = s.encode("ascii", "replace").translate(None, _NON_ASCII_DIGITS).decode("ascii") if s is not None else ""
            return "*" * (len(d) - 4) + d[-4:] if 13 <= len(d) <= 19 and luhn_ok(d) else token
        return card
    # last4
    def last4(v):
        s = as_text(v)
        if s is None:
            return token
        return "*" * len(s) if len(s) <= 4 else "*" * (len(s) - 4) + s[-4:]
    return last4


def _generalise_fn(p: Pii, token: str) -> Callable[[Any], Any]:
    g = p.generalise
    if g == "year":
        return lambda v: v[:4] if (type(v) is str and (_is_date(v[:10]))) else token
    if g == "day":
        return lambda v: v[:10] if (type(v) is str and _is_date(v[:10])) else token
    if g == "age_band":
        band = p.band

        def age(v):
            if type(v) not in (int, float) or v < 0 or v != v:
                return token
            lo = int(v) // band * band
            return f"{lo}-{lo + band - 1}"
        return age
    n = p.prefix
    return lambda v: v.strip()[:n] if type(v) is str and len(v.strip()) > n else token


def _value_action(name: str, p: Pii, token: str, keyring: Keyring | None) -> Callable[[Any], Any] | None:
    """value -> new value for value-level actions; None for drop (handled by deleting the slot)."""
    if name == "redact":
        return lambda v: token
    if name == "mask":
        return _mask_fn(p, token)
    if name == "generalise":
        return _generalise_fn(p, token)
    if name == "pseudonymise":
        if keyring is None:
            raise ValueError("a contract pseudonymises but no keyring was given")
        return keyring.pseudonym
    return None  # drop


# ---------------------------------------------------------------------------------------------
# Consent
# ---------------------------------------------------------------------------------------------


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
        if raw is None:
            return True
        # Without escapes a key is spelt one way, and a literal inside a string value has its
        # quotes escaped: one literal occurrence means one key. Otherwise: the exact, slow check.
        # (a one-byte search is a memchr; CPython's two-byte search is several times slower)
        if (b"\\" not in raw or b"\\u" not in raw) and all(raw.count(lit) == 1 for lit in self.literals):
            return True
        return not _has_duplicate_key(raw, self.names)

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


# ---------------------------------------------------------------------------------------------
# The compiled contract
# ---------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    applied: dict  # path -> action, names only
    redacted: bool  # something was transformed for lack of consent, or masked by the scan


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
    paths = [op[0] for op in pii_ops]
    nested = any(q.startswith(p + ".") or q.startswith(p + "[*]") for p in paths for q in paths if p != q)
    if grouped and not nested:
        groups: dict[frozenset, list] = {}
        for op in pii_ops:
            key = flag if flag is not None and op[1] and op[1] <= flag else op[1]
            groups.setdefault(key, []).append(op)
        blocks = list(groups.items())
    else:
        blocks = [(op[1], [op]) for op in pii_ops]
    for need, ops in blocks:
        test = "consented" if need is flag else f"{code.const(need)} <= consented"
        always = [(path, fn, name, False) for path, _n, _a, _f, name, fn in ops if fn is not None]
        lack = [(path, fn, name, True) for path, _n, name, fn, *_ in ops]
        if always:
            code.lines.append(f"    if {test}:")
            emit(always, 2)
            code.lines.append("    else:")
            emit(lack, 2)
        else:
            code.lines.append(f"    if not ({test}):")
            emit(lack, 2)


_PY_TYPES = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,), "object": (dict,),
    "array": (list,), "date": (str,), "datetime": (str,), "any": None,
}


class _Node:
    """The declared fields of one object (the event, a nested object, or each item of an array)."""

    __slots__ = ("fields", "names", "path")

    def __init__(self, path: str):
        self.fields: list = []  # (name, types, required, nullable, checks, child, each)
        self.names: frozenset = frozenset()
        self.path = path


def _inline_checks(f: FieldSpec, v: str, const) -> list[str]:
    """Failure conditions for one field's validations, as Python expressions over variable ``v``."""
    out = []
    if f.max_length is not None:  # first: the checks after it then see a value of bounded length
        ml = const(int(f.max_length))
        out.append(f"len({v}) > {ml}" if f.type in ("string", "array") else f"type({v}) in (str, list) and len({v}) > {ml}")
    if f.type == "date":
        out.append(f"not {const(_is_date)}({v})")
    elif f.type == "datetime":
        out.append(f"not {const(_is_datetime)}({v})")
    if f.pattern is not None:  # linear time whatever the pattern (privacy.patterns)
        search = const(compile_pattern(f.pattern).search)
        out.append(f"{search}({v}) is None" if f.type in ("string", "date", "datetime") else f"type({v}) is not str or {search}({v}) is None")
    if f.enum is not None:
        try:
            allowed_set = const(frozenset((type(a), a) for a in f.enum))
            out.append(f"type({v}) in (list, dict) or (type({v}), {v}) not in {allowed_set}")
        except TypeError:
            allowed = list(f.enum)
            out.append(f"not {const(lambda x: any(x == a and type(x) is type(a) for a in allowed))}({v})")
    # Values enter the generated code only as named constants, never as source text.
    numeric = f.type in ("integer", "number")
    if f.minimum is not None:
        mn = const(f.minimum)
        out.append(f"{v} < {mn}" if numeric else f"not (type({v}) in (int, float) and {v} >= {mn})")
    if f.maximum is not None:
        mx = const(f.maximum)
        out.append(f"{v} > {mx}" if numeric else f"not (type({v}) in (int, float) and {v} <= {mx})")
    return out


def _build_tree(fields: tuple[FieldSpec, ...]) -> _Node:
    root = _Node("")
    nodes = {"": root}
    names: dict[str, set] = {"": set()}
    fields = tuple(sorted(fields, key=lambda f: f.path.count(".")))  # parents first, whatever the file order
    for f in fields:
        parent, _, leaf = f.path.rpartition(".")
        node = nodes[parent]
        names.setdefault(parent, set()).add(leaf)
        child, each = None, False
        if f.type in ("object", "array"):
            each = f.type == "array"
            key = f.path + ("[*]" if each else "")
            if any(g.path.startswith(key + ".") for g in fields):
                child = nodes[key] = _Node(key)
        node.fields.append((leaf, _PY_TYPES[f.type], f.required, f.nullable, f, child, each))
    for path, node in nodes.items():
        node.names = frozenset(names.get(path, ()))
    return root


class CompiledContract:
    def __init__(self, contract: Contract, token: str = "REDACTED_CONTENT", keyring: Keyring | None = None):
        self.contract = contract
        self.ref = contract.ref
        self.token = token
        self.tree = _build_tree(contract.fields)
        self.undeclared = contract.undeclared
        self._walk_fast = self._compile_walk()
        self.consent = _ConsentReader(contract)
        self.pii_ops = []
        for f in contract.fields:
            if f.pii is None:
                continue
            p = f.pii
            act = _value_action(p.action, p, token, keyring)
            always = _value_action(p.always, p, token, keyring) if p.always else None
            self.pii_ops.append((f.path, frozenset(p.purposes), p.action, act, p.always, always))
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
                # same column in Athena or Glue, unscrubbed: refuse the record
                folded = const(frozenset(n.casefold() for n in node.names))
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
        code = _Code({"R": Rejection, "UP": UNDECLARED_PII})
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
                else:
                    lines.append(f"{lind}    {container}[{key}] = {const(fn)}({container}[{key}])")
                lines.append(f"{lind}    t = True")

            access(segs, "obj", depth, leaf)
            lines.append(f"{ind}if t:")
            lines.append(f"{ind}    applied[{path!r}] = {name!r}")
            if for_lack_of_consent:
                lines.append(f"{ind}    red = True")

        lines.append("    red = False")
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
        actions, self._actions_src = code.function("actions(obj, consented, applied)", f"<contract actions {self.ref}>")
        return actions

    def apply(self, event: dict, raw: bytes | None, redacted_at: str, exact: bool = False) -> Outcome:
        """Validate and transform ``event`` (parsed from ``raw``) in place.

        Raises NeedsExactNumbers (unless ``exact``) when a declared value is a float that may be an
        integer beyond 64 bits: ContractSet.apply then re-parses ``raw`` exactly and retries."""
        applied: dict[str, str] = {}
        self._walk_fast(event, applied, exact)
        consent = self.consent
        consented = consent.consented(event, raw)
        redacted = self._actions(event, consented, applied)
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
        self.keyring = keyring
        self.compiled = {(c.type, c.version): CompiledContract(c, token, keyring) for c in contracts}
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
        self._fast = None

    def forget(self) -> None:
        """Drop the values remembered between records (pseudonyms, masked values). Results do not
        change; only the next batch's speed does."""
        if self.keyring is not None:
            self.keyring.forget()
        if self._fast is not None:
            self._fast.forget()

    def fast(self):
        """The fast path for these contracts (``privacy.fast``), built on first use."""
        if self._fast is None:
            from .fast import FastContracts

            self._fast = FastContracts(self)
        return self._fast

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

    def apply(self, event: dict, raw: bytes | None, redacted_at: str, contract: "CompiledContract | None" = None) -> Outcome:
        """Apply the contract the event names (or ``contract``, when given) to ``event`` in place."""
        c = contract or self.resolve(event)
        try:
            return c.apply(event, raw, redacted_at)
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
            return (contract or self.resolve(event)).apply(event, raw, redacted_at, exact=True)
