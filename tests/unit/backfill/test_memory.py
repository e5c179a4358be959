"""A large object does not blow the function's memory: it is read, scrubbed and written in chunks,
so four times the lines cost no more memory (the output waits on disk, not in memory)."""

from __future__ import annotations

import io
import tracemalloc
import zlib
from datetime import UTC, datetime

from backfill.job import ObjectBackfill, Source
from privacy.scrub import Scrubber
from producer.events import EventFactory, encode
from tests.conftest import CONFIG, contract_set


class Streamed(io.RawIOBase):
    """An object body of ``n`` lines, made as it is read (never whole in memory)."""

    def __init__(self, lines: list[bytes], n: int):
        self.lines, self.n, self.i, self.buf = lines, n, 0, b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while len(self.buf) < size and self.i < self.n:
            self.buf += self.lines[self.i % len(self.lines)] + b"\n"
            self.i += 1
        out, self.buf = self.buf[:size], self.buf[size:]
        return out


class StreamingS3:
    """get_object streams the body; upload_fileobj reads what is uploaded in 1 MiB reads and keeps its line count."""

    def __init__(self, body):
        self.body = body
        self.lines: dict[str, int] = {}

    def get_object(self, **_):
        return {"Body": self.body, "ContentLength": 0, "ETag": '"e"', "LastModified": datetime(2024, 1, 1, tzinfo=UTC)}

    def upload_fileobj(self, stream, _bucket, key, **_):
        z, n = zlib.decompressobj(31), 0
        while block := stream.read(1 << 20):
            while block:  # in 64 KiB pieces: the harness must not hold more than the code it measures
                n += z.decompress(block, 1 << 16).count(b"\n")
                block = z.unconsumed_tail
        self.lines[key] = n


def _peak(lines: list[bytes], n: int, scrubber: Scrubber) -> tuple[int, int]:
    s3 = StreamingS3(Streamed(lines, n))
    d = CONFIG.delivery
    job = ObjectBackfill(s3, scrubber, lake="lake", data_prefix=d.data_prefix, quarantine_prefix=d.quarantine_prefix,
                         lake_key=None, time_field="event_time", max_bytes=1 << 34, redacted_at="2026-01-01T00:00:00.000Z",
                         now_ms=0, remaining_ms=lambda: 10**9)
    tracemalloc.start()
    try:
        out = job.run(Source("history", "big.jsonl"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.delivered == n and sum(s3.lines.values()) == n + 0  # every line written (the quarantine is empty)
    return peak, out.bytes_in


def test_memory_does_not_grow_with_the_object():
    factory = EventFactory(seed=2, subjects=100)
    lines = [encode(factory.next_event()) for _ in range(1500)]
    scrubber = Scrubber(contract_set())
    _peak(lines, 1500, scrubber)  # warm: compiled plans, the subjects' keys
    # past 4,000 lines the output is over a MiB compressed: the upload's buffers are at their size
    small, small_bytes = _peak(lines, 4000, scrubber)
    large, large_bytes = _peak(lines, 12000, scrubber)
    assert large_bytes > 8_000_000 and large_bytes >= 3 * small_bytes - 10
    assert large < small + (1 << 19)  # three times the object, not half a MiB more
    assert large < 12 << 20  # a chunk of lines and a few blocks of the reads and uploads
