"""PutRecords within Kinesis's documented limits, retrying only the entries Kinesis rejected.

Limits (Kinesis Data Streams API reference, PutRecords):
* at most 500 records per call;
* at most 5 MiB per call, counting each record's data *and* partition key;
* at most 1 MiB per record (data + partition key);
* partition keys of 1 to 256 Unicode characters.

A record that breaks a per-record limit is never sent and counts as failed. A record counts as sent
only when Kinesis returned a SequenceNumber for it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from botocore.exceptions import BotoCoreError, ClientError

MAX_RECORDS_PER_CALL = 500
MAX_BYTES_PER_CALL = 5 * 1024 * 1024
MAX_RECORD_BYTES = 1024 * 1024
MAX_PARTITION_KEY_CHARS = 256

# Errors where retrying the same call cannot help.
_FATAL_CODES = frozenset(
    {
        "AccessDeniedException",
        "ResourceNotFoundException",
        "ValidationException",
        "InvalidArgumentException",
        "KMSAccessDeniedException",
        "KMSDisabledException",
        "KMSNotFoundException",
        "KMSInvalidStateException",
    }
)


@dataclass
class SendResult:
    sent: int = 0
    failed: int = 0
    batches: int = 0
    retried: int = 0
    rejected_too_large: int = 0
    # the records not sent (given up on, or never sendable), as given: a caller that must know
    # which ones (the quarantine redrive) reads them; not part of the counts
    unsent: list[tuple[str, bytes]] = field(default_factory=list, compare=False, repr=False)

    def as_dict(self) -> dict:
        return {"sent": self.sent, "failed": self.failed, "batches": self.batches, "retried": self.retried}

    def add(self, other: SendResult) -> None:
        self.sent += other.sent
        self.failed += other.failed
        self.batches += other.batches
        self.retried += other.retried
        self.rejected_too_large += other.rejected_too_large
        self.unsent.extend(other.unsent)


def record_size(partition_key: str, data: bytes) -> int:
    return len(data) + len(partition_key.encode("utf-8"))


def plan_batches(records: Iterable[tuple[str, bytes]], result: SendResult) -> Iterator[list[tuple[str, bytes]]]:
    """Group records into PutRecords calls that respect the count and size limits.

    Records that can never be sent (too large, bad partition key) are counted as failed here.
    """
    batch: list[tuple[str, bytes]] = []
    size = 0
    for pk, data in records:
        if not 1 <= len(pk) <= MAX_PARTITION_KEY_CHARS:
            result.failed += 1
            result.unsent.append((pk, data))
            continue
        rs = record_size(pk, data)
        if rs > MAX_RECORD_BYTES:
            result.failed += 1
            result.rejected_too_large += 1
            result.unsent.append((pk, data))
            continue
        if batch and (len(batch) == MAX_RECORDS_PER_CALL or size + rs > MAX_BYTES_PER_CALL):
            yield batch
            batch, size = [], 0
        batch.append((pk, data))
        size += rs
    if batch:
        yield batch


class KinesisSink:
    def __init__(
        self,
        client,
        stream_name: str,
        max_attempts: int = 8,
        base_delay: float = 0.05,
        max_delay: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ):
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.client = client
        self.stream_name = stream_name
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.sleep = sleep
        self.jitter = jitter

    def _backoff(self, attempt: int) -> None:
        # Full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter").
        cap = min(self.max_delay, self.base_delay * (2**attempt))
        self.sleep(cap * self.jitter())

    def _put_batch(self, batch: Sequence[tuple[str, bytes]], result: SendResult) -> None:
        pending = list(batch)
        for attempt in range(self.max_attempts):
            if attempt:
                result.retried += len(pending)
                self._backoff(attempt)
            result.batches += 1
            try:
                resp = self.client.put_records(
                    StreamName=self.stream_name,
                    Records=[{"Data": d, "PartitionKey": pk} for pk, d in pending],
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in _FATAL_CODES:
                    break
                continue  # whole call failed after botocore's own retries: try again
            except BotoCoreError:
                continue
            entries = resp.get("Records", [])
            if len(entries) != len(pending):
                # Kinesis answers one entry per record, in order. Anything else: trust nothing.
                continue
            still = []
            for rec, entry in zip(pending, entries, strict=True):
                if entry.get("SequenceNumber") and not entry.get("ErrorCode"):
                    result.sent += 1
                else:
                    still.append(rec)
            pending = still
            if not pending:
                return
        result.failed += len(pending)
        result.unsent.extend(pending)

    def send(self, records: Iterable[tuple[str, bytes]]) -> SendResult:
        result = SendResult()
        for batch in plan_batches(records, result):
            self._put_batch(batch, result)
        return result
