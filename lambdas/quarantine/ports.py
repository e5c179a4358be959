"""What the redrive needs from the world: the lake's objects and the source stream.

The adapters on S3 and Kinesis are in ``quarantine.aws``; the tests give in-memory ones.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol


class ObjectStore(Protocol):
    def keys(self, prefix: str) -> Iterator[str]:
        """Every key under ``prefix``."""

    def read(self, key: str) -> bytes:
        """The object's body, as stored."""

    def put(self, key: str, body: bytes) -> None:
        """Write an object (encrypted as the bucket's default says)."""

    def copy(self, source: str, target: str) -> None:
        """A copy of ``source`` at ``target``."""

    def delete(self, key: str) -> None:
        """Remove the object (a versioned bucket keeps its version until the lifecycle expires it)."""


class Stream(Protocol):
    def put(self, entries: Sequence[tuple[str, bytes]]) -> list[int]:
        """Put (partition key, data) entries on the stream, retrying only the entries it refused,
        a bounded number of times; returns the positions of the entries still not put. The
        partition keys of one call are distinct."""
