"""Firehose's error records, read from an error object and written back.

An error object holds one JSON document per line, each a record the processor failed, in Firehose's
documented format (Amazon Data Firehose developer guide, "Handle failure in data transformation"):
``attemptsMade``, ``arrivalTimestamp``, ``errorCode``, ``errorMessage``, ``attemptEndingTimestamp``,
``rawData`` (the record as the stream carried it, base64) and ``lambdaArn``. Nothing else: no
sequence number and no partition key (see ``quarantine.redrive`` for the key a redrive chooses).

An object is read whole or not at all: if any line is not such a record (not JSON, no ``rawData``,
``rawData`` not base64), or the object is not readable GZIP, it is ``Unreadable``, with a reason
code and the line's number, never its content, and the redrive leaves it untouched. Firehose
never writes such an object; one that is there was written by something else, and is not ours to
move or delete.
"""

from __future__ import annotations

import binascii
import gzip
import json
import zlib
from dataclasses import dataclass

MAX_OBJECT_BYTES = 256 * 1024 * 1024  # decompressed; Firehose buffers at most 128 MiB per object
_GZIP_MAGIC = b"\x1f\x8b"


class Unreadable(ValueError):
    """Not an object of Firehose error records. ``reason`` is a code; the message adds a line number."""

    def __init__(self, reason: str, line: int | None = None):
        super().__init__(reason if line is None else f"line {line}: {reason}")
        self.reason = reason
        self.line = line


@dataclass(frozen=True)
class ErrorObject:
    lines: tuple[bytes, ...]  # each error record as stored (its JSON text, without the newline)
    raw: tuple[bytes, ...]  # each one's rawData, decoded: the record as the stream carried it


def _gunzip(body: bytes) -> bytes:
    """Every member of a GZIP body, within ``MAX_OBJECT_BYTES``."""
    out, size = [], 0
    while body:
        d = zlib.decompressobj(wbits=31)
        try:
            chunk = d.decompress(body, MAX_OBJECT_BYTES - size + 1)
        except zlib.error:
            raise Unreadable("not_gzip") from None
        size += len(chunk)
        if size > MAX_OBJECT_BYTES or d.unconsumed_tail:
            raise Unreadable("too_large")
        if not d.eof:
            raise Unreadable("truncated_gzip")
        out.append(chunk)
        body = d.unused_data
    return b"".join(out)


def read_error_object(body: bytes) -> ErrorObject:
    """The error records of an object (GZIP or plain JSON lines); raises ``Unreadable``."""
    text = _gunzip(body) if body[:2] == _GZIP_MAGIC else body
    if len(text) > MAX_OBJECT_BYTES:
        raise Unreadable("too_large")
    lines, raw = [], []
    for n, line in enumerate(text.split(b"\n"), start=1):
        if not line.strip():
            continue  # the final newline (and any blank line: it holds no record)
        try:
            doc = json.loads(line)
        except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            raise Unreadable("not_json", n) from None
        data = doc.get("rawData") if isinstance(doc, dict) else None
        if not isinstance(data, str):
            raise Unreadable("no_raw_data", n)
        try:
            raw.append(binascii.a2b_base64(data, strict_mode=True))
        except (binascii.Error, ValueError):
            raise Unreadable("raw_data_not_base64", n) from None
        lines.append(line)
    return ErrorObject(tuple(lines), tuple(raw))


def write_error_object(lines) -> bytes:
    """Error records as Firehose writes them: one per line, GZIP (reproducible: no timestamp)."""
    return gzip.compress(b"".join(line + b"\n" for line in lines), compresslevel=6, mtime=0)
