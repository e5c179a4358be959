"""One historic object backfilled: read, scrubbed by the stream's ``Scrubber``, written to the lake.

The object is read as lines (``lines.LineReader``) in chunks of at most ``CHUNK`` lines and
``CHUNK_BYTES`` bytes, and each chunk is one batch of the scrubber, as the stream and ``make scrub``
run it: every line decoded and its subject read (``prepare_all``), every subject's key looked up or
created at once (``resolve``), then each line transformed (``finish``). A line that cannot be
scrubbed goes to the object's quarantine file, raw, in Firehose's error-record format; the others
are spooled, per lake partition (``layout``), to files under ``/tmp``. Memory holds one chunk.

Nothing reaches the lake until the whole object is read and scrubbed: a failure before (the key
store down, the object unreadable or too large, time running out) leaves the lake as it was, and
the failure goes back to S3 Batch Operations. Then each partition's spool is GZIP-compressed as it
is uploaded (a multipart upload for large ones), and the quarantine object last. A failure during
the uploads leaves some of the object's keys written; a retry writes the same keys again.
"""

from __future__ import annotations

import base64
import errno
import gzip
import io
import json
import tempfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import msgspec

from privacy.codec import DecodeFailure
from privacy.common import Rejection
from privacy.scrub import Scrubber

from .layout import Layout, parse_time, source_id
from .lines import BLOCK, LineReader, SourceTooLarge, SourceUnreadable

CHUNK = 1000  # lines per scrubber batch: their subjects are resolved at once (as make scrub does)
CHUNK_BYTES = 8 << 20  # and at most this many bytes of them
TOO_LARGE = "too_large"  # a line over Kinesis' record limit
INTERNAL_ERROR = "internal_error"
ERROR_CODE = "Backfill.ProcessingFailed"  # the error records' errorCode (errorMessage: the reason code)
# Time kept back for compressing and uploading what is spooled: a fixed part, and the spool at a
# conservative 10 MB/s (GZIP level 6 and the upload).
RESERVE_MS = 15_000
SPOOL_BYTES_PER_MS = 10_000
TRANSFER = {"multipart_threshold": 64 << 20, "multipart_chunksize": 16 << 20, "max_concurrency": 4}


class Source(NamedTuple):
    bucket: str
    key: str
    version_id: str | None = None


class Failure(Exception):
    """The object cannot be backfilled now (``temporary``: S3 Batch Operations retries it) or at
    all. ``reason`` is a code; the message names sizes and limits, never content."""

    def __init__(self, reason: str, message: str, *, temporary: bool = False):
        super().__init__(message)
        self.reason = reason
        self.temporary = temporary


@dataclass
class Outcome:
    """What one object gave. ``records_in`` (non-blank lines) = ``delivered`` + ``quarantined``."""

    source_id: str = ""
    lines: int = 0
    blank: int = 0
    records_in: int = 0
    delivered: int = 0
    redacted: int = 0
    quarantined: int = 0
    reasons: Counter = field(default_factory=Counter)
    bytes_in: int = 0
    compressed: bool = False
    reference_path: int = 0
    data_keys: list[str] = field(default_factory=list)
    quarantine_key: str = ""

    def report(self) -> dict:
        """The completion report's result string (counts, reason codes, the keys' shape): no content."""
        return {"source_id": self.source_id, "lines": self.lines, "blank": self.blank, "records_in": self.records_in,
                "delivered": self.delivered, "redacted": self.redacted, "quarantined": self.quarantined,
                "reasons": dict(sorted(self.reasons.items())), "data_objects": len(self.data_keys),
                "quarantine_object": self.quarantine_key}


def time_reader(name: str) -> Callable[[bytes], datetime | None]:
    """Reads one top-level field of a scrubbed line as a time (msgspec skips the other fields)."""
    head = msgspec.defstruct("Head", [("t", object, None)], rename={"t": name})
    decode = msgspec.json.Decoder(head).decode

    def read(line: bytes) -> datetime | None:
        try:
            return parse_time(decode(line).t)
        except msgspec.DecodeError:
            return None

    return read


class Spool:
    """The scrubbed lines of each partition, appended to a file of their own (uncompressed)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.files: dict[str, Path] = {}
        self.bytes = 0

    def add(self, groups: dict[str, list[bytes]]) -> None:
        for key, lines in groups.items():
            path = self.files.get(key)
            if path is None:
                path = self.files[key] = self.folder / f"{len(self.files)}.jsonl"
            data = b"".join(lines)
            with open(path, "ab") as fh:
                fh.write(data)
            self.bytes += len(data)


class Gzipped(io.RawIOBase):
    """A file's bytes, GZIP-compressed as they are read (header time 0: the same input gives the same bytes)."""

    def __init__(self, src):
        self._src = src
        self._z = zlib.compressobj(6, zlib.DEFLATED, 31)
        self._buf = bytearray()
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while len(self._buf) < len(b) and not self._done:
            block = self._src.read(BLOCK)
            if block:
                self._buf += self._z.compress(block)
            else:
                self._buf += self._z.flush()
                self._done = True
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        del self._buf[:n]
        return n


def _chunks(reader: LineReader) -> Iterator[list[tuple[int, bytes | None]]]:
    chunk: list[tuple[int, bytes | None]] = []
    size = 0
    for item in reader:
        chunk.append(item)
        size += len(item[1] or b"")
        if len(chunk) >= CHUNK or size >= CHUNK_BYTES:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


class ObjectBackfill:
    """One source object through the scrubber into ``lake`` (bucket name), under the lake's data
    and quarantine prefixes (Firehose templates), partitioned by ``time_field``."""

    def __init__(self, s3, scrubber: Scrubber, *, lake: str, data_prefix: str, quarantine_prefix: str,
                 lake_key: str | None, time_field: str, max_bytes: int, redacted_at: str, now_ms: int,
                 remaining_ms: Callable[[], int], lambda_arn: str = "", tmp_dir: str | None = None):
        self.s3 = s3
        self.scrubber = scrubber
        self.lake = lake
        self.data_prefix = data_prefix
        self.quarantine_prefix = quarantine_prefix
        # (the bucket's own setting keeps its S3 Bucket Key on: upload_fileobj takes no BucketKeyEnabled)
        self.sse = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": lake_key} if lake_key else {}
        self.time_of = time_reader(time_field)
        self.max_bytes = max_bytes
        self.redacted_at = redacted_at
        self.now_ms = now_ms
        self.remaining_ms = remaining_ms
        self.lambda_arn = lambda_arn
        self.tmp_dir = tmp_dir

    def run(self, source: Source) -> Outcome:
        got = self.s3.get_object(Bucket=source.bucket, Key=source.key,
                                 **({"VersionId": source.version_id} if source.version_id else {}))
        body = got["Body"]
        try:
            if got.get("ContentLength", 0) > self.max_bytes:
                raise Failure("object_too_large", f"the object is {got['ContentLength']:,} bytes; the limit is "
                              f"{self.max_bytes:,} uncompressed (backfill.max_object_mib): split it")
            sid = source_id(source.bucket, source.key, got["ETag"])
            layout = Layout(self.data_prefix, self.quarantine_prefix, sid, got["LastModified"])
            out = Outcome(source_id=sid, quarantine_key=layout.quarantine_key)
            arrival_ms = int(got["LastModified"].timestamp() * 1000)
            try:
                with tempfile.TemporaryDirectory(prefix="backfill-", dir=self.tmp_dir) as tmp:
                    self._scrub_and_write(source, body, layout, out, Path(tmp), arrival_ms)
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    raise Failure("out_of_space", "the scrubbed output does not fit in the function's /tmp "
                                  "(backfill.ephemeral_storage_mib): split the object") from None
                raise
            return out
        finally:
            body.close()

    def _scrub_and_write(self, source: Source, body, layout: Layout, out: Outcome, tmp: Path, arrival_ms: int) -> None:
        spool = Spool(tmp)
        quarantine = tmp / "quarantine.json.gz"
        reader = LineReader(body, self.max_bytes)
        with open(quarantine, "wb") as qfile, gzip.GzipFile(filename="", mode="wb", fileobj=qfile, mtime=0) as q:
            try:
                for chunk in _chunks(reader):
                    if self.remaining_ms() < RESERVE_MS + spool.bytes // SPOOL_BYTES_PER_MS:
                        raise Failure("out_of_time", f"{reader.lines:,} lines read when the function's time ran "
                                      "short (backfill.timeout_seconds): split the object")
                    self._chunk(chunk, source, layout, out, spool, q, arrival_ms)
            except SourceTooLarge as exc:
                raise Failure("object_too_large", f"{exc} (backfill.max_object_mib): split it") from None
            except SourceUnreadable as exc:
                raise Failure("not_gzip", str(exc)) from None
        out.lines, out.blank, out.bytes_in, out.compressed = reader.lines, reader.blank, reader.bytes, reader.compressed
        # only now, with every line scrubbed, does anything reach the lake
        for key in sorted(spool.files):
            self._upload(spool.files[key], key, compress=True)
            out.data_keys.append(key)
        self._upload(quarantine, layout.quarantine_key, compress=False)

    def _chunk(self, chunk, source: Source, layout: Layout, out: Outcome, spool: Spool, q, arrival_ms: int) -> None:
        scrub = self.scrubber.batch(self.redacted_at)
        scrub.prepare_all([raw for _, raw in chunk])
        scrub.resolve()  # every subject's key, at once; raises (nothing written) if the key store is down
        finish, partition, time_of = scrub.finish, layout.partition, self.time_of
        groups: dict[str, list[bytes]] = {}
        for lineno, raw in chunk:
            if raw is None:
                reason = TOO_LARGE
            else:
                try:
                    line, redacted = finish(raw)
                except (DecodeFailure, Rejection) as exc:
                    reason = exc.reason
                except Exception:  # noqa: BLE001 - fail closed, as the stream does: quarantined, never passed through
                    reason = INTERNAL_ERROR
                else:
                    groups.setdefault(partition(time_of(line)), []).append(line)
                    out.delivered += 1
                    out.redacted += redacted
                    continue
            q.write(self._error_record(source, lineno, raw, reason, arrival_ms))
            out.quarantined += 1
            out.reasons[reason] += 1
        out.records_in += len(chunk)
        out.reference_path += scrub.handed
        spool.add(groups)

    def _error_record(self, source: Source, lineno: int, raw: bytes | None, reason: str, arrival_ms: int) -> bytes:
        """Firehose's error-record format (what ``make query``'s quarantine view and a triager read),
        with the raw line as sent (base64; none for a line over the limit: find it by its number)."""
        rec = {"attemptsMade": 1, "arrivalTimestamp": arrival_ms, "errorCode": ERROR_CODE, "errorMessage": reason,
               "attemptEndingTimestamp": self.now_ms, "rawData": None if raw is None else base64.b64encode(raw).decode("ascii"),
               "lambdaArn": self.lambda_arn,
               "source": {"bucket": source.bucket, "key": source.key, "versionId": source.version_id, "line": lineno}}
        return json.dumps(rec, separators=(",", ":")).encode() + b"\n"

    def _upload(self, path: Path, key: str, *, compress: bool) -> None:
        from boto3.s3.transfer import TransferConfig

        with open(path, "rb") as src:
            stream = io.BufferedReader(Gzipped(src), BLOCK) if compress else src
            self.s3.upload_fileobj(stream, self.lake, key, ExtraArgs=dict(self.sse), Config=TransferConfig(**TRANSFER))

