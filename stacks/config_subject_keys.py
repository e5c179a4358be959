"""The ``subject_keys`` block of the typed configuration: per-subject keys (crypto-shredding)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .config_contracts import _Reader


@dataclass(frozen=True)
class SubjectKeysConfig:
    """Per-subject keys (crypto-shredding): the key table and its cache in the scrubber."""

    # the longest a key forgotten elsewhere stays usable in a warm scrubber (receipts state it)
    cache_ttl_seconds: int = 300
    cache_size: int = 100_000  # subjects per container
    # 0: off. Else DynamoDB point-in-time recovery of the key table, over this many days: deleted
    # keys stay restorable that long (the erasure receipt states the window)
    point_in_time_recovery_days: int = 0


def read_subject_keys(raw: Any, key: str) -> SubjectKeysConfig:
    sk = _Reader(raw, key)
    d = SubjectKeysConfig()
    out = SubjectKeysConfig(
        cache_ttl_seconds=sk.int_in("cache_ttl_seconds", d.cache_ttl_seconds, 0, 3600),
        cache_size=sk.int_in("cache_size", d.cache_size, 1000, 10_000_000),
        point_in_time_recovery_days=sk.int_in("point_in_time_recovery_days", d.point_in_time_recovery_days, 0, 35),
    )
    sk.done()
    return out
