"""Encrypted values: the ``encrypt`` action's tokens, sealed under a subject's own data key.

A token is text, safe in JSON and in a CSV cell, and says how to open it::

    ~<alg><kind><key version>[.<period>].<nonce + ciphertext + tag, base64url without padding>

* ``alg``: ``g`` AES-256-GCM with a random 96-bit nonce (the default); ``d`` AES-SIV
  (``encrypt: deterministic``): equal values of one subject in one field give equal tokens, so
  they join; nothing else about them is revealed.
* ``kind``: ``s`` the value was a string (its UTF-8 is sealed); ``j`` any other JSON value (its
  JSON is sealed), so a number, a boolean, an object or an array comes back as itself.
* key version: the subject key's version (1).
* period: for a contract with ``retention_days``, the day the value was written (days since
  1970-01-01, UTC). The value's key is then derived from the subject's key and that day's period
  key, which expires ``retention_days`` after the day ends.

The associated data binds the header, the contract (its event type), the field's path and the
subject's key link: a token moved to another field, another event type or another subject fails
to open (``TokenError("tampered")``), and is never turned into a wrong plaintext.

Overhead: 28 bytes of nonce and tag (16 for SIV) and base64's third, plus the header: a value of
n bytes becomes 6 + ceil((n + 28) * 4 / 3) characters (12 more with a period), i.e. at most 64
bytes more than the value up to 56 bytes of value (41 with a period), and one third of the value
beyond that.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import itertools
import json
import os
from typing import Any, NamedTuple

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESSIV

KEY_VERSION = 1
PREFIX = "~"
_SEP = b"\x1f"
_URLSAFE = bytes.maketrans(b"+/", b"-_")
_STANDARD = bytes.maketrans(b"-_", b"+/")


NONCE_POOL = 4096  # nonces drawn from the OS at a time (48 KiB): one getrandom call, not one per value


def _nonces(_: object = None) -> list[bytes]:
    pool = os.urandom(12 * NONCE_POOL)
    return [pool[i:i + 12] for i in range(0, len(pool), 12)]


def _nonce_stream() -> Any:
    """``next()`` gives a fresh random 96-bit nonce: from the OS's CSPRNG, drawn 4,096 at a time
    (a getrandom call costs about as much as the AES-GCM call itself), each used once."""
    return itertools.chain.from_iterable(map(_nonces, itertools.repeat(None))).__next__


# A fresh random 96-bit nonce per call (random nonces under one subject's key: far below the 2**32
# messages per key NIST SP 800-38D allows). Tests comparing the two engines replace it.
_nonce = _nonce_stream()


def _after_fork() -> None:
    """A forked child must never reuse the nonces its parent drew and still holds."""
    global _nonce
    _nonce = _nonce_stream()


os.register_at_fork(after_in_child=_after_fork)


class TokenError(Exception):
    """A token that does not open. ``reason`` is one of a closed set (never data): malformed,
    unknown_version, tampered, forgotten, expired, no_key."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Site(NamedTuple):
    """Where a value is sealed: compiled into plans (names only: never a key)."""

    contract: str  # the event type
    path: str
    deterministic: bool
    retention_days: int | None
    aad: bytes  # separator, contract, separator, path, separator (the link follows)


def site(contract: str, path: str, deterministic: bool = False, retention_days: int | None = None) -> Site:
    aad = _SEP + contract.encode() + _SEP + path.encode() + _SEP
    return Site(contract, path, deterministic, retention_days, aad)


def is_token(value: Any) -> bool:
    return type(value) is str and value.startswith(PREFIX) and len(value) > 6 and value[1] in "gd" and value[2] in "sj"


def siv_key(key: bytes) -> bytes:
    """The 512-bit AES-SIV key of a 256-bit data key."""
    return hmac.digest(key, b"pii-siv-v1", hashlib.sha512)


def period_data_key(subject_key: bytes, period_key: bytes) -> bytes:
    """A subject's key for one retention period: unreadable once either key is gone."""
    return hmac.digest(period_key, b"pii-period-v1" + subject_key, hashlib.sha256)


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).rstrip(b"=").translate(_URLSAFE).decode("ascii")


def _unb64(text: str) -> bytes:
    raw = text.encode("ascii").translate(_STANDARD)
    return binascii.a2b_base64(raw + b"=" * (-len(raw) % 4), strict_mode=True)


def plaintext(value: Any) -> tuple[str, bytes]:
    """(kind, bytes) of a JSON value."""
    if type(value) is str:
        return "s", value.encode("utf-8", "surrogatepass")
    try:
        return "j", orjson.dumps(value)
    except TypeError:  # an integer beyond 64 bits
        return "j", json.dumps(value, separators=(",", ":")).encode()


class Cipher:
    """One key's sealing and opening (its AEAD objects made once)."""

    __slots__ = ("_key", "_siv", "gcm", "version")

    def __init__(self, key: bytes, version: int = KEY_VERSION):
        self._key = key
        self.gcm = AESGCM(key)
        self._siv: AESSIV | None = None
        self.version = version

    def siv(self) -> AESSIV:
        if self._siv is None:
            self._siv = AESSIV(siv_key(self._key))
        return self._siv

    def seal(self, value: Any, site: Site, link: bytes, period: int | None = None) -> str:
        kind, data = plaintext(value)
        header = f"{PREFIX}{'d' if site.deterministic else 'g'}{kind}{self.version}."
        if period is not None:
            header += f"{period}."
        aad = header.encode() + site.aad + link
        if site.deterministic:
            return header + _b64(self.siv().encrypt(data, [aad]))
        nonce = _nonce()
        return header + _b64(nonce + self.gcm.encrypt(nonce, data, aad))

    def open(self, token: str, site: Site, link: bytes) -> Any:
        parsed = parse(token)
        aad = parsed.header.encode() + site.aad + link
        try:
            if parsed.deterministic:
                data = self.siv().decrypt(parsed.body, [aad])
            else:
                if len(parsed.body) < 28:
                    raise TokenError("malformed")
                data = self.gcm.decrypt(parsed.body[:12], parsed.body[12:], aad)
        except InvalidTag:
            raise TokenError("tampered") from None
        except ValueError:  # too short for SIV
            raise TokenError("malformed") from None
        return data.decode("utf-8", "surrogatepass") if parsed.kind == "s" else json.loads(data)


class Parsed(NamedTuple):
    header: str  # up to and including the last dot
    deterministic: bool
    kind: str
    version: int
    period: int | None
    body: bytes


def parse(token: Any) -> Parsed:
    """The parts of a token, or TokenError("malformed" / "unknown_version")."""
    if not is_token(token):
        raise TokenError("malformed")
    head, dot, body = token.rpartition(".")
    parts = head[3:].split(".")
    # ASCII digits only: str.isdigit() also accepts "²", which int() refuses
    if not dot or len(parts) > 2 or not all(p.isascii() and p.isdigit() and len(p) <= 9 for p in parts):
        raise TokenError("malformed")
    if int(parts[0]) != KEY_VERSION:
        raise TokenError("unknown_version")
    try:
        raw = _unb64(body)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise TokenError("malformed") from None
    period = int(parts[1]) if len(parts) == 2 else None
    return Parsed(head + ".", token[1] == "d", token[2], int(parts[0]), period, raw)
