"""A source object read as JSON lines, in bounded memory, whatever its size.

The body is read in blocks of ``BLOCK`` bytes; a GZIP object (recognised by its magic bytes, not its
name) is decompressed as it is read. Lines are split on ``\\n`` and stripped of surrounding
whitespace (``\\r\\n`` endings too), as ``make scrub`` reads a file. Blank lines are counted and
skipped. A line longer than ``max_line`` bytes (the largest record Kinesis takes: such a line never
reaches the stream either) is never held whole: it is yielded as None, to be quarantined by its
line number. Reading stops with ``SourceTooLarge`` once the uncompressed bytes pass ``max_bytes``,
and with ``SourceUnreadable`` when the GZIP stream is corrupt or cut short.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator

GZIP_MAGIC = b"\x1f\x8b"
BLOCK = 1 << 20
MAX_LINE_BYTES = 1 << 20  # a Kinesis record's limit (1 MiB)


class SourceTooLarge(Exception):
    """The object's uncompressed bytes pass the per-object limit."""


class SourceUnreadable(Exception):
    """The object says it is GZIP and is not (corrupt, or cut short)."""


class _Joined(io.RawIOBase):
    """The block already read, then the rest of the body: a stream GzipFile can read."""

    def __init__(self, head: bytes, body):
        self._head = memoryview(head)
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._body.read(len(b))
        b[: len(data)] = data
        return len(data)


class LineReader:
    """Iterates ``(line number, stripped line or None)`` over the non-blank lines of ``body``
    (anything with ``read(n)``: an S3 StreamingBody, a file). ``lines``, ``blank`` and ``bytes``
    (uncompressed) count what was read."""

    def __init__(self, body, max_bytes: int, max_line: int = MAX_LINE_BYTES, block: int = BLOCK):
        self.body = body
        self.max_bytes = max_bytes
        self.max_line = max_line
        self.block = block
        self.lines = 0
        self.blank = 0
        self.bytes = 0
        self.compressed = False

    def _blocks(self) -> Iterator[bytes]:
        head = self.body.read(self.block)
        while 0 < len(head) < len(GZIP_MAGIC) and (more := self.body.read(self.block)):  # a short read
            head += more
        if head[:2] != GZIP_MAGIC:
            while head:
                yield head
                head = self.body.read(self.block)
            return
        self.compressed = True
        stream = gzip.GzipFile(fileobj=io.BufferedReader(_Joined(head, self.body), self.block), mode="rb")
        while True:
            try:
                block = stream.read(self.block)
            except (gzip.BadGzipFile, EOFError, zlib.error):  # never the body's own (network) errors
                raise SourceUnreadable(f"the object is not valid GZIP (after {self.lines:,} lines)") from None
            if not block:
                return
            yield block

    def __iter__(self) -> Iterator[tuple[int, bytes | None]]:
        rest = b""
        skipping = False  # inside a line over max_line: its bytes are dropped until its end
        for block in self._blocks():
            self.bytes += len(block)
            if self.bytes > self.max_bytes:
                raise SourceTooLarge(f"the object holds more than {self.max_bytes:,} bytes uncompressed")
            parts = block.split(b"\n")
            tail = parts.pop()  # the start of a line that ends in a later block (or b"")
            if parts:
                if skipping:
                    parts[0] = None
                    skipping = False
                elif rest:
                    parts[0] = rest + parts[0]
                rest = b""
                yield from self._emit(parts)
            if skipping:
                continue
            if len(rest) + len(tail) > self.max_line:
                skipping, rest = True, b""
            else:
                rest += tail
        if skipping or rest:
            yield from self._emit([None if skipping else rest])

    def _emit(self, parts: list[bytes | None]) -> Iterator[tuple[int, bytes | None]]:
        max_line = self.max_line
        for part in parts:
            self.lines += 1
            if part is None or len(part) > max_line:
                yield self.lines, None
                continue
            line = part.strip()
            if line:
                yield self.lines, line
            else:
                self.blank += 1
