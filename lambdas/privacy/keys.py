"""Keys, behind a port: the pseudonymisation keyring (HMAC-SHA256 keys by version).

Plans never hold keys: the port is handed to each batch (``KeyPort``), so rotating a key swaps the
port and recompiles nothing. The port's ``resolve`` is called once per batch with the batch's
subjects, for keys that are per subject (a bulk lookup); the keyring's keys are global, so it has
nothing to look up.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import orjson

from .common import Memo

_URLSAFE = bytes.maketrans(b"+/", b"-_")


def canonical(value: Any) -> bytes:
    """The bytes an identifier is keyed by: a string's UTF-8, else its JSON (keys sorted)."""
    if type(value) is str:
        return value.encode("utf-8", "surrogatepass")
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # an integer beyond 64 bits
        return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


class Resolved(dict):
    """A batch's subjects, as the key port resolved them: subject id -> its per-subject material
    (``privacy.subjects.SubjectKey``); a string id is its own key. Empty for a port without
    per-subject keys."""

    def of(self, value: Any):
        if type(value) is str:
            return self.get(value)
        try:
            return self.get(b"\0" + canonical(value))
        except TypeError:
            return None


NO_SUBJECTS = Resolved()


class KeyPort(Protocol):
    """What the scrubber needs of its keys, per batch."""

    pseudonyms: Memo  # value -> pseudonym, computed on a miss (a str value: one dict lookup)

    def pseudonym(self, value: Any) -> Any: ...

    def resolve(self, subjects: Iterable[Any]) -> Resolved:
        """Fetch in bulk what the batch's subjects need (before any record is transformed)."""

    def forget(self) -> None:
        """Drop what is remembered between batches."""


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
        self.pseudonyms = Memo(self._compute, 65536)

    @classmethod
    def from_secret(cls, secret: str | Mapping) -> Keyring:
        """Secret layout: {"current": "v2", "v1": "<random, 32+ chars>", "v2": "<random>"}.

        Secrets Manager generates the first version itself (``generate_string_key``). To rotate,
        add a new key id, point ``current`` at it, and keep the old key for as long as old
        pseudonyms must be re-derivable."""
        d = json.loads(secret) if isinstance(secret, str) else dict(secret)
        current = d.pop("current")
        return cls({k: v.encode("utf-8") for k, v in d.items()}, current)

    def forget(self) -> None:
        """Drop the remembered pseudonyms (benchmarks measure a batch of new subjects with it)."""
        self.pseudonyms.clear()

    def resolve(self, _subjects: Iterable[Any]) -> Resolved:
        """Nothing to fetch per subject: the keyring's keys are global."""
        return NO_SUBJECTS

    def pseudonym(self, value: Any) -> Any:
        if type(value) is str:
            return self.pseudonyms[value]
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
