"""The key store in memory (tests, the benchmark, the batch command without AWS): the DynamoDB
adapter's semantics (``keystore.dynamo``), behind the same ``privacy.subjects.KeyStore`` port."""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Mapping, Sequence

from .subjects import PeriodKey, Stored, Tombstone


class MemoryKeyStore:
    """The key store in memory (tests, benchmark): the DynamoDB adapter's semantics, thread-safe,
    with the same call counts (one batch read per 100 ids, one write per 100 new ones)."""

    def __init__(self):
        self.items: dict[str, Stored | Tombstone] = {}
        self._links: dict[str, str] = {}  # link -> id (the DynamoDB table's by-link index)
        self.period_keys: dict[tuple[int, int], PeriodKey] = {}
        self.roots: dict[int, bytes] = {}
        self.calls: Counter = Counter()
        self._lock = threading.Lock()

    def root(self, version: int) -> bytes:
        with self._lock:
            self.calls["kms:Decrypt"] += 1
            return self.roots.setdefault(version, os.urandom(64))

    def get_many(self, ids: Sequence[str]) -> dict[str, Stored | Tombstone]:
        with self._lock:
            self.calls["BatchGetItem"] += -(-len(ids) // 100)
            return {i: self.items[i] for i in ids if i in self.items}

    def create_many(self, items: Mapping[str, Stored]) -> dict[str, Stored | Tombstone]:
        with self._lock:
            self.calls["TransactWriteItems"] += -(-len(items) // 100)
            for id, item in items.items():
                if id not in self.items:
                    self.items[id] = item
                    self._links[item.link] = id
            return {id: self.items[id] for id in items}

    def by_link(self, link: str) -> tuple[str, Stored] | None:
        with self._lock:
            self.calls["Query"] += 1
            id = self._links.get(link)
            item = self.items.get(id) if id is not None else None
            return (id, item) if isinstance(item, Stored) and item.link == link else None

    def forget(self, id: str, tombstone: Tombstone) -> Stored | Tombstone | None:
        with self._lock:
            self.calls["PutItem"] += 1
            before = self.items.get(id)
            if not isinstance(before, Tombstone):  # a tombstone is never rewritten (DynamoStore's condition)
                self.items[id] = tombstone
            return before

    def period(self, days: int, day: int, new: PeriodKey | None = None) -> PeriodKey | None:
        with self._lock:
            self.calls["GetItem"] += 1
            if new is not None:
                return self.period_keys.setdefault((days, day), new)
            return self.period_keys.get((days, day))
