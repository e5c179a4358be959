"""Per-subject keys behind the key port: key links, data keys, tombstones and retention periods.

The hierarchy (reference 004, and README "Per-subject keys"):

* a **root** secret per version (64 random bytes, stored encrypted by a KMS customer-managed key;
  one KMS call per container and version): its first half wraps the subjects' data keys, its second
  half keys the **lookup ids** (HMAC-SHA256 of a subject's id), so the key table holds no raw id;
* per subject, one item under its lookup id: a random **key link** (the subject's pseudonym in
  the lake: it cannot be recomputed from the id once the item is gone) and a random 256-bit
  **data key**, wrapped (AES-256-GCM) under the root;
* once forgotten, a **tombstone** under the same lookup id: later events of that subject find it
  and never recreate a key;
* per retention policy (``retention_days``) and day, a **period key** that expires
  ``retention_days`` after the day ends: values of such contracts are sealed under a key derived
  from both, so they become unreadable for everyone once the period key has expired.

The store (``KeyStore``) is an adapter (DynamoDB and KMS when deployed; ``MemoryKeyStore`` in
tests). ``SubjectKeys`` is the scrubber's key port over it: ``resolve`` looks a batch's subjects
up in bulk (creating keys for new ones), before any record of the batch is transformed.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from . import tokens as _tokens
from .keys import Keyring, Resolved, canonical
from .tokens import PREFIX, Cipher, Site, TokenError, _b64, parse, period_data_key, plaintext

ROOT_VERSION = 1
LINK_PREFIX = "k:"  # a key link: "k:" and 22 base64url characters (128 random bits)
DAY_S = 86400
DEFAULT_TTL_S = 300
DEFAULT_CACHE_SIZE = 100_000


class Stored(NamedTuple):
    """A subject's item: its key link and its data key wrapped under root ``root_version``."""

    link: str
    wrapped: bytes
    root_version: int = ROOT_VERSION


class Tombstone(NamedTuple):
    """What a forgotten subject leaves under its lookup id: the erasure receipt's id, and when."""

    receipt: str
    at: str


class PeriodKey(NamedTuple):
    wrapped: bytes
    expires: int  # epoch seconds: the key refuses to open anything from then on


class KeyStore(Protocol):
    """The key table and the KMS key that protects its root. ``calls`` counts AWS calls by name
    (``BatchGetItem``, ``TransactWriteItems``, ``kms:Decrypt``, ...), for tests and benchmarks.
    Every method raises on a failure it cannot retry: the caller then emits nothing."""

    calls: Counter

    def root(self, version: int) -> bytes:
        """The 64-byte root of ``version``, created on first use (first writer wins)."""

    def get_many(self, ids: Sequence[str]) -> dict[str, Stored | Tombstone]:
        """The items of ``ids`` that exist (at most ceil(n/100) batch reads, unprocessed keys retried)."""

    def create_many(self, items: Mapping[str, Stored]) -> dict[str, Stored | Tombstone]:
        """Create each item unless one exists (conditional writes, first writer wins); returns
        what the store holds for every id afterwards (ours, or the winner's, or a tombstone)."""

    def by_link(self, link: str) -> tuple[str, Stored] | None:
        """(lookup id, item) of a key link, None once forgotten."""

    def forget(self, id: str, tombstone: Tombstone) -> Stored | Tombstone | None:
        """Replace the subject's item by ``tombstone``; returns what was there."""

    def period(self, days: int, day: int, new: PeriodKey | None = None) -> PeriodKey | None:
        """The period key of retention ``days`` for ``day``; with ``new``, created if absent."""


class Root:
    """A root secret: wraps data and period keys, and keys the lookup ids."""

    def __init__(self, secret: bytes, version: int = ROOT_VERSION):
        if len(secret) != 64:
            raise ValueError("a root secret is 64 bytes")
        self.version = version
        self._wrap = AESGCM(secret[:32])
        self._index = secret[32:]

    def lookup_id(self, subject: Any) -> str:
        return "s#" + _b64(hmac.digest(self._index, canonical(subject), hashlib.sha256))

    def wrap(self, key: bytes, context: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._wrap.encrypt(nonce, key, context)

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        try:
            return self._wrap.decrypt(wrapped[:12], wrapped[12:], context)
        except (InvalidTag, ValueError):
            raise TokenError("tampered") from None


def _dk_context(id: str, link: str) -> bytes:
    return b"pii-dk-v1\x1f" + id.encode() + b"\x1f" + link.encode()


def _period_context(days: int, day: int) -> bytes:
    return b"pii-period-v1\x1f%d\x1f%d" % (days, day)


class SubjectKey:
    """One resolved subject: its key link and cipher, or ``forgotten``."""

    __slots__ = ("_by_day", "_heads", "_key", "_link", "_periods", "cipher", "day", "forgotten", "gcm", "lb", "link", "pk", "siv")

    def __init__(self, link: str | None, key: bytes | None, periods: dict | None = None):
        self.link = link
        self.forgotten = link is None
        self._link = link.encode() if link else b""
        self._key = key
        self.cipher = Cipher(key) if key is not None else None
        # for the fast path's inline sealing: the AEADs (both made now, with the key cached) and the link
        self.gcm = self.cipher.gcm if self.cipher is not None else None
        self.siv = self.cipher.siv() if self.cipher is not None else None
        self.lb = self._link
        self._periods = periods if periods is not None else {}  # the port's: days -> (day, period key)
        self._by_day: dict[int, tuple[int, Cipher]] = {}
        self._heads: dict[tuple[Site, str], tuple] = {}  # (site, kind) -> (header, aad, aead, day)
        # retention days -> today's (header, its bytes, deterministic header, its bytes, AES-GCM,
        # AES-SIV) under the subject's period key, for inline sealing (``refresh``)
        self.pk: dict[int, tuple] = {}
        self.day = -1  # the port's period generation this key's ciphers were derived for
        if key is not None:
            self.refresh()

    def refresh(self) -> None:
        """Derive today's period ciphers (once a day, as the port's period keys change)."""
        self.day = max((d for d, _k in self._periods.values()), default=-1)
        for days, (day, _key) in self._periods.items():
            held = self.pk.get(days)
            if held is None or held[6] != day:
                cipher = self._period(days)[1]
                g, d = f"{PREFIX}gs{cipher.version}.{day}.", f"{PREFIX}ds{cipher.version}.{day}."
                self.pk[days] = (g, g.encode(), d, d.encode(), cipher.gcm, cipher.siv(), day)

    def seal(self, value: Any, site: Site) -> str:
        """``Cipher.seal`` of the value under this subject's key (or its period key), on the hot
        path: the header, the associated data and the AEAD of each (site, kind) made once."""
        if type(value) is str:
            kind, data = "s", value.encode("utf-8", "surrogatepass")
        else:
            kind, data = plaintext(value)
        head = self._heads.get((site, kind))
        if head is None or (head[3] is not None and head[3] != self._periods[site.retention_days][0]):
            head = self._head(site, kind)
        if site.deterministic:
            return head[0] + _b64(head[2].encrypt(data, [head[1]]))
        nonce = _tokens._nonce()
        return head[0] + _b64(nonce + head[2].encrypt(nonce, data, head[1]))

    def _head(self, site: Site, kind: str) -> tuple:
        day = None
        cipher = self.cipher
        if site.retention_days is not None:
            day, cipher = self._period(site.retention_days)
        header = f"{PREFIX}{'d' if site.deterministic else 'g'}{kind}{cipher.version}." + (f"{day}." if day is not None else "")
        head = self._heads[(site, kind)] = (header, header.encode() + site.aad + self._link,
                                            cipher.siv() if site.deterministic else cipher.gcm, day)
        return head

    def _period(self, days: int) -> tuple[int, Cipher]:
        day, key = self._periods[days]  # KeyError: the port resolved no period key (fails the batch)
        held = self._by_day.get(days)
        if held is None or held[0] != day:
            held = self._by_day[days] = (day, Cipher(period_data_key(self._key, key)))
        return held


FORGOTTEN = SubjectKey(None, None)


class SubjectKeys:
    """The key port with per-subject keys: HMAC pseudonyms from ``keyring`` for the fields that
    are not the subject, and for the subject a key link and a data key from ``store``.

    Cached per container: the root (for the container's life), each subject's key (``ttl_s``,
    at most ``size`` subjects): a subject forgotten elsewhere stays usable here for at most
    ``ttl_s`` seconds."""

    per_subject = True

    def __init__(self, keyring: Keyring, store: KeyStore, *, ttl_s: float = DEFAULT_TTL_S,
                 size: int = DEFAULT_CACHE_SIZE, retention_days: Iterable[int] = (),
                 clock: Callable[[], float] = time.time):
        self.keyring = keyring
        self.pseudonyms = keyring.pseudonyms
        self.store = store
        self.ttl_s = ttl_s
        self.size = size
        self.retention_days = tuple(sorted(set(retention_days)))
        self.clock = clock
        self._root: Root | None = None
        self._cache: OrderedDict[str, tuple[SubjectKey, float]] = OrderedDict()
        self._ids: dict[Any, str] = {}
        self.periods: dict[int, tuple[int, bytes]] = {}  # days -> (day, period key): today's
        self._lock = threading.Lock()

    @property
    def root(self) -> Root:
        if self._root is None:
            self._root = Root(self.store.root(ROOT_VERSION), ROOT_VERSION)
        return self._root

    def use(self, keyring: Keyring) -> None:
        """A rotated keyring for the HMAC pseudonyms (the subjects' keys stay cached)."""
        self.keyring = keyring
        self.pseudonyms = keyring.pseudonyms

    def pseudonym(self, value: Any) -> Any:
        return self.keyring.pseudonym(value)

    def forget(self) -> None:
        """Drop what is remembered between batches (pseudonyms, subjects' keys)."""
        self.keyring.forget()
        self._cache.clear()
        self._ids.clear()

    def lookup_id(self, subject: Any) -> str:
        key = subject if type(subject) is str else b"\0" + canonical(subject)
        id = self._ids.get(key)
        if id is None:
            id = self.root.lookup_id(subject)
            if len(self._ids) < self.size:
                self._ids[key] = id
        return id

    def resolve(self, subjects: Iterable[Any]) -> Resolved:
        """Each subject's key, in bulk: cached ones first, then one batch read for the rest,
        then conditional writes for those that have none (first writer wins)."""
        with self._lock:
            return self._resolve(subjects)

    def _resolve(self, subjects: Iterable[Any]) -> Resolved:
        now = time.monotonic()
        out = Resolved()
        cache = self._cache  # subject (its id, or b"\0" + its JSON) -> (SubjectKey, expiry)
        wanted: dict[str, list[Any]] = {}
        try:
            subjects = set(subjects)  # each once (a batch repeats its subjects)
        except TypeError:
            pass  # an id that is an object or a list: each as it comes
        for s in subjects:
            if s is None:
                continue
            key = s if type(s) is str else b"\0" + canonical(s)
            if key in out:
                continue
            held = cache.get(key)
            if held is not None and held[1] > now:
                out[key] = held[0]
            else:
                wanted.setdefault(self.lookup_id(s), []).append(key)
        if self.retention_days:
            # a new day: today's period ciphers, for every cached subject as it next comes (not
            # only those of the day's first batch: the inline sealing reads ``pk`` directly)
            self._periods()
            today = max(d for d, _k in self.periods.values())
            for sk in out.values():
                if sk.day != today and sk.cipher is not None:
                    sk.refresh()
        if not wanted:
            return out
        found = self.store.get_many(list(wanted))
        new = {}
        for id in wanted:
            if id not in found:
                link = LINK_PREFIX + _b64(os.urandom(16))
                new[id] = Stored(link, self.root.wrap(os.urandom(32), _dk_context(id, link)), ROOT_VERSION)
        if new:
            found.update(self.store.create_many(new))
        for id, keys in wanted.items():
            sk = self._material(id, found[id])
            for key in keys:
                cache[key] = (sk, now + self.ttl_s)
                cache.move_to_end(key)
                out[key] = sk
        while len(cache) > self.size:
            cache.popitem(last=False)
        return out

    def _material(self, id: str, item: Stored | Tombstone) -> SubjectKey:
        if isinstance(item, Tombstone):
            return FORGOTTEN
        if item.root_version != ROOT_VERSION:
            raise TokenError("unknown_version")
        return SubjectKey(item.link, self.root.unwrap(item.wrapped, _dk_context(id, item.link)), self.periods)

    def _periods(self) -> bool:
        """Today's period key of each retention policy (created by the first writer); True if
        one changed (a new day)."""
        day = int(self.clock() // DAY_S)
        changed = False
        for days in self.retention_days:
            held = self.periods.get(days)
            if held is not None and held[0] == day:
                continue
            changed = True
            expires = (day + 1 + days) * DAY_S
            new = PeriodKey(self.root.wrap(os.urandom(32), _period_context(days, day)), expires)
            pk = self.store.period(days, day, new)
            self.periods[days] = (day, self.root.unwrap(pk.wrapped, _period_context(days, day)))
        return changed


class Opener:
    """Opens tokens for a reader (export, reveal): finds a subject's key by its key link, and a
    period key by its day, refusing one past its own expiry time (DynamoDB's TTL deletes late)."""

    def __init__(self, store: KeyStore, clock: Callable[[], float] = time.time):
        self.store = store
        self.clock = clock
        self._root: Root | None = None
        self._subjects: dict[str, tuple[bytes, Cipher] | None] = {}
        self._periods: dict[tuple[int, int], PeriodKey | None] = {}

    @property
    def root(self) -> Root:
        if self._root is None:
            self._root = Root(self.store.root(ROOT_VERSION), ROOT_VERSION)
        return self._root

    def subject(self, link: str) -> tuple[bytes, Cipher] | None:
        if link not in self._subjects:
            found = self.store.by_link(link) if type(link) is str and link.startswith(LINK_PREFIX) else None
            if found is None:
                self._subjects[link] = None
            else:
                id, item = found
                key = self.root.unwrap(item.wrapped, _dk_context(id, item.link))
                self._subjects[link] = (key, Cipher(key))
        return self._subjects[link]

    def open(self, token: str, site: Site, link: Any) -> Any:
        """The value, or TokenError (malformed, tampered, forgotten, expired, no_key)."""
        parsed = parse(token)
        if type(link) is not str or not link.startswith(LINK_PREFIX):
            raise TokenError("tampered")  # the record's subject is no key link: it was altered
        held = self.subject(link)
        if held is None:
            raise TokenError("forgotten")
        key, cipher = held
        if parsed.period is not None:
            if site.retention_days is None:
                raise TokenError("tampered")
            pk = self._period(site.retention_days, parsed.period)
            # the period's end as the token's own day and the contract say, whatever the item's
            # stored ``expires`` holds (an attribute anyone who writes the table could raise)
            ends = (parsed.period + 1 + site.retention_days) * DAY_S
            if ends <= self.clock() or pk is not None and pk.expires <= self.clock():
                raise TokenError("expired")
            if pk is None:  # a day whose period has not ended has its key: this one's day was altered
                raise TokenError("tampered")
            cipher = Cipher(period_data_key(key, self.root.unwrap(pk.wrapped, _period_context(site.retention_days, parsed.period))))
        elif site.retention_days is not None:
            raise TokenError("tampered")
        return cipher.open(token, site, link.encode())

    def _period(self, days: int, day: int) -> PeriodKey | None:
        if (days, day) not in self._periods:
            self._periods[(days, day)] = self.store.period(days, day)
        return self._periods[(days, day)]
