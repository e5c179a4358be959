"""The ports of the subject-rights core, and their in-memory adapters (tests, tools).

* ``Lake``: the lake's data objects: their keys under a prefix, and one object's bytes
  (decompressed). Deployed: S3 (``rights.aws.S3Lake``).
* ``Receipts``: where erasure receipts (and large exports) are written. Deployed: S3.
* ``RootReader``: the key table's root secret of a version *if one exists*. The key store's own
  ``root`` creates one on first use (the scrubber needs that); a reader must not: a root created by
  a forget or an export would key nothing and prove nothing. ``None`` means no subject was ever
  keyed.

The key store itself is ``privacy.subjects.KeyStore`` (DynamoDB and KMS when deployed,
``MemoryKeyStore`` in tests). ``ReadOnlyStore`` hands the readers (export, reveal) a view of it
that can create nothing.
"""

from __future__ import annotations

import gzip
import zlib
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol

from privacy.memory_store import MemoryKeyStore
from privacy.subjects import KeyStore, PeriodKey, Stored, Tombstone


class Lake(Protocol):
    def keys(self, prefix: str) -> Iterator[str]:
        """The keys of the objects under ``prefix``, in key order."""

    def read(self, key: str) -> bytes:
        """One object's content, GZIP decompressed."""


class Receipts(Protocol):
    def put(self, key: str, body: bytes, content_type: str) -> None:
        """Write one object (a receipt's JSON, or an export's JSON lines)."""

    def get(self, key: str) -> bytes | None:
        """One object, or None if there is none under ``key``."""


class RootReader(Protocol):
    def __call__(self, version: int) -> bytes | None:
        """The 64-byte root secret of ``version``, or None if none was ever created (never creates one)."""


class UnreadableObject(ValueError):
    """A lake object that starts as GZIP but does not decompress (cut short, corrupted)."""


def gunzip(body: bytes) -> bytes:
    """A lake object's content: Firehose writes GZIP (the magic bytes say so); anything else as is."""
    if body[:2] != b"\x1f\x8b":
        return body
    try:
        return gzip.decompress(body)
    except (EOFError, OSError, zlib.error):  # gzip.BadGzipFile is an OSError
        raise UnreadableObject("GZIP that does not decompress") from None


class MemoryLake:
    """A lake in memory: key -> the object's bytes as stored (GZIP or not)."""

    def __init__(self, objects: Mapping[str, bytes] | None = None):
        self.objects: dict[str, bytes] = dict(objects or {})
        self.listed: list[str] = []  # the prefixes listed, in order (tests check the date ranges)
        self.reads = 0

    def keys(self, prefix: str) -> Iterator[str]:
        self.listed.append(prefix)
        return iter(sorted(k for k in self.objects if k.startswith(prefix)))

    def read(self, key: str) -> bytes:
        self.reads += 1
        return gunzip(self.objects[key])


class MemoryReceipts:
    def __init__(self):
        self.objects: dict[str, bytes] = {}
        self.content_types: dict[str, str] = {}

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.objects[key] = body
        self.content_types[key] = content_type

    def get(self, key: str) -> bytes | None:
        return self.objects.get(key)


def memory_root(store: MemoryKeyStore) -> RootReader:
    """The root reader of a ``MemoryKeyStore`` (its roots, never creating one)."""
    return lambda version: store.roots.get(version)


class ReadOnlyStore:
    """A key store for readers: the root they were given, reads passed through, and every write
    refused (readers never create a key, a period key or a tombstone).

    A key link is looked up in the table's ``by-link`` index, which lags the table (eventually
    consistent): just after a forget it may still hold the subject's data key. So what the index
    finds is confirmed by a consistent read of the item, and kept only if it still holds that link.
    ``known`` links (export: the subject's, just read) skip the index."""

    def __init__(self, store: KeyStore, version: int, root: bytes, known: Mapping[str, tuple[str, Stored]] | None = None):
        self._store = store
        self._version = version
        self._root = root
        self._known = dict(known or {})

    @property
    def calls(self) -> Counter:
        return self._store.calls

    def root(self, version: int) -> bytes:
        if version != self._version:
            raise LookupError(f"no root of version {version} was read")
        return self._root

    def get_many(self, ids: Sequence[str]) -> dict[str, Stored | Tombstone]:
        return self._store.get_many(ids)

    def create_many(self, items: Mapping[str, Stored]) -> dict[str, Stored | Tombstone]:  # noqa: ARG002 - the port's signature
        raise PermissionError("a reader creates no subject keys")

    def by_link(self, link: str) -> tuple[str, Stored] | None:
        if link in self._known:
            return self._known[link]
        found = self._store.by_link(link)
        if found is None:
            return None
        id = found[0]
        current = self._store.get_many([id]).get(id)
        return (id, current) if isinstance(current, Stored) and current.link == link else None

    def forget(self, id: str, tombstone: Tombstone) -> Stored | Tombstone | None:  # noqa: ARG002 - the port's signature
        raise PermissionError("a reader forgets no subject")

    def period(self, days: int, day: int, new: PeriodKey | None = None) -> PeriodKey | None:
        if new is not None:
            raise PermissionError("a reader creates no period keys")
        return self._store.period(days, day)
