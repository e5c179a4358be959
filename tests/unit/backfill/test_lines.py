"""Reading an object as lines in bounded memory: the same lines, numbers and blanks as splitting the
whole text, whatever the block size, compressed or not; long lines never held whole."""

from __future__ import annotations

import gzip
import io
import tracemalloc

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from backfill.lines import GZIP_MAGIC, LineReader, SourceTooLarge, SourceUnreadable


def reference(data: bytes, max_line: int) -> tuple[list[tuple[int, bytes | None]], int, int]:
    """(non-blank lines with their numbers, None for a long one; blank lines; lines) of the whole text."""
    parts = data.split(b"\n")
    if parts[-1] == b"":
        parts.pop()  # a final newline ends the last line; it does not start another
    out, blank = [], 0
    for n, part in enumerate(parts, 1):
        if len(part) > max_line:
            out.append((n, None))
        elif part.strip():
            out.append((n, part.strip()))
        else:
            blank += 1
    return out, blank, len(parts)


_lines = st.lists(st.one_of(st.binary(max_size=12), st.sampled_from([b"", b" ", b"\r", b"x" * 40, b'{"a": 1}\r'])), max_size=40)


@settings(max_examples=300, deadline=None)
@given(lines=_lines.map(lambda ls: [x.replace(b"\n", b"") for x in ls]), final=st.booleans(), gz=st.booleans(),
       block=st.integers(1, 64), max_line=st.integers(1, 30))
def test_lines_are_those_of_the_whole_text_whatever_the_blocks(lines, final, gz, block, max_line):
    data = b"\n".join(lines) + (b"\n" if final and lines else b"")
    assume(gz or not data.startswith(GZIP_MAGIC))  # GZIP is told by its magic bytes (below)
    reader = LineReader(io.BytesIO(gzip.compress(data) if gz else data), max_bytes=1 << 30, max_line=max_line, block=block)
    got = list(reader)
    want, blank, count = reference(data, max_line)
    assert got == want
    assert (reader.lines, reader.blank, reader.bytes, reader.compressed) == (count, blank, len(data), gz)


def test_the_uncompressed_limit_stops_reading():
    data = b'{"a": 1}\n' * 1000
    with pytest.raises(SourceTooLarge):
        list(LineReader(io.BytesIO(gzip.compress(data)), max_bytes=len(data) - 1, block=64))
    assert len(list(LineReader(io.BytesIO(data), max_bytes=len(data), block=64))) == 1000


@pytest.mark.parametrize("damage", ["cut", "corrupt"])
def test_broken_gzip_is_unreadable_not_a_short_object(damage):
    body = bytearray(gzip.compress(b'{"a": 1}\n' * 5000))
    if damage == "cut":
        body = body[: len(body) // 2]
    else:
        body[len(body) // 2] ^= 0xFF
    with pytest.raises(SourceUnreadable):
        list(LineReader(io.BytesIO(bytes(body)), max_bytes=1 << 30, block=512))


def test_an_object_is_gzip_by_its_magic_bytes_not_its_name():
    """A plain object that starts like GZIP is refused whole (never read as lines of garbage)."""
    with pytest.raises(SourceUnreadable):
        list(LineReader(io.BytesIO(GZIP_MAGIC + b'{"a": 1}\n'), max_bytes=1 << 30))
    assert list(LineReader(io.BytesIO(gzip.compress(b'{"a": 1}')), max_bytes=1 << 30)) == [(1, b'{"a": 1}')]


def test_a_long_line_is_never_held_whole():
    """A 20 MB line costs no more memory than a block, and is reported by its number."""
    block = 1 << 16
    data = b'{"a": 1}\n' + b"x" * (20 << 20) + b"\n" + b'{"b": 2}\n'
    reader = LineReader(io.BytesIO(data), max_bytes=1 << 30, max_line=1 << 20, block=block)
    tracemalloc.start()
    try:
        got = list(reader)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got == [(1, b'{"a": 1}'), (2, None), (3, b'{"b": 2}')]
    assert peak < 4 * (1 << 20)  # the line limit and a few blocks, not 20 MB
