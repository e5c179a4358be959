"""The Firehose data-transformation contract, as pure code.

Input: the ``records`` of a Firehose transformation event (``recordId``, base64 ``data``, and for
a Kinesis source ``approximateArrivalTimestamp`` and ``kinesisRecordMetadata``). Output: one
response record per input ``recordId``, exactly once and in input order, with ``result`` one of
``Ok``, ``Dropped`` or ``ProcessingFailed``.

Guarantees:

* Never ``Ok`` for a record we could not scrub: any failure, expected or not, is
  ``ProcessingFailed``, which Firehose writes (raw) to the quarantine prefix.
* Never raises because of a record's content.
* The serialised response stays under Lambda's 6 MB synchronous response limit. Every entry's
  envelope is reserved first. Output is larger than input (provenance, tokens; small events can
  grow by half or more), so a full processor buffer can produce more than fits: a valid record
  whose data would not fit in what is left is put back on the source stream (``redrive``: with its
  partition key, as AWS's Firehose blueprints do) and answered ``Dropped``; Firehose reads it
  again in a later batch. If it cannot be put back, ``redrive`` raises and the whole invocation
  fails, so Firehose retries the batch: no valid record is lost to the limit. Only without a
  source stream to return to (a Direct PUT source) is such a record failed, as ``response_budget``.
"""

from __future__ import annotations

import binascii
import gc
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from operator import itemgetter

import pybase64

from privacy.codec import DecodeFailure
from privacy.common import Rejection
from privacy.scrub import Scrubber

# base64 is half the per-record cost of the Firehose contract with CPython's binascii; pybase64
# (SIMD) is ~4x faster for both directions here (see bench/). It raises binascii.Error too.
_b64decode = pybase64.b64decode
_b64encode = pybase64.b64encode_as_string

_record_id = itemgetter("recordId")

OK = "Ok"
DROPPED = "Dropped"
FAILED = "ProcessingFailed"

INVALID_BASE64 = "invalid_base64"
RESPONSE_BUDGET = "response_budget"
INTERNAL_ERROR = "internal_error"

# Lambda: 6 MB (6,291,456 bytes) for a synchronous response. Keep headroom for the envelope.
LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024
RESPONSE_BUDGET_BYTES = LAMBDA_RESPONSE_LIMIT - 16 * 1024
# Bytes one entry adds to the response besides its id and data, as the Lambda runtime serialises
# it (json.dumps, default separators): {"recordId": "", "result": "ProcessingFailed", "data": ""},
_ENTRY_OVERHEAD = len(json.dumps({"recordId": "", "result": "ProcessingFailed", "data": ""})) + 2


@dataclass
class BatchResult:
    records: list[dict]
    records_in: int = 0
    ok: int = 0
    redacted: int = 0
    dropped: int = 0
    failed: Counter = field(default_factory=Counter)
    bytes_in: int = 0
    reference_path: int = 0  # records the fast path handed to the reference engine (privacy.fast)
    redriven: int = 0  # records put back on the source stream: the response had no room for them
    # each failed record's place in the stream and its reason (no content): (sequence number or the
    # record id, arrival time in ms, reason), so an operator can tell why a quarantined one failed
    failures: list = field(default_factory=list)

    @property
    def failed_total(self) -> int:
        return sum(self.failed.values())


# Puts (partition key, raw record) entries back on the source stream, or raises.
Redrive = Callable[[list[tuple[str, bytes]]], None]


def _sequence(rec: Mapping) -> str:
    """The record's Kinesis sequence number (a Direct PUT record has none: its record id)."""
    meta = rec.get("kinesisRecordMetadata")
    seq = meta.get("sequenceNumber") if isinstance(meta, Mapping) else None
    return seq if type(seq) is str else str(rec.get("recordId"))


def _partition_key(rec: Mapping) -> str | None:
    meta = rec.get("kinesisRecordMetadata")
    key = meta.get("partitionKey") if isinstance(meta, Mapping) else None
    return key if type(key) is str and key else None


def process_records(
    records: Iterable[Mapping],
    scrubber: Scrubber,
    redacted_at: str,
    budget: int = RESPONSE_BUDGET_BYTES,
    redrive: Redrive | None = None,
) -> BatchResult:
    """``_process_records`` with the cyclic garbage collector paused: a batch allocates tens of
    thousands of short-lived, acyclic objects (decoded records, output lines) while holding the
    batch's records between its two phases, and the collector's passes over them cost about a
    sixth of a batch's time for nothing to collect. Reference counting still frees everything; the
    collector runs again after the batch."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _process_records(records, scrubber, redacted_at, budget, redrive)
    finally:
        if enabled:
            gc.enable()


def _process_records(
    records: Iterable[Mapping],
    scrubber: Scrubber,
    redacted_at: str,
    budget: int = RESPONSE_BUDGET_BYTES,
    redrive: Redrive | None = None,
) -> BatchResult:
    out: list[dict] = []
    res = BatchResult(records=out)
    failed = res.failed
    append = out.append
    records = records if isinstance(records, list) else list(records)
    # Reserve every entry's envelope up front (as if all failed); data then spends what is left.
    used = len('{"records": []}') + sum(map(len, map(_record_id, records))) + _ENTRY_OVERHEAD * len(records)

    redacted = bytes_in = 0
    overflow: list[tuple[str, bytes]] = []
    scrub = scrubber.batch(redacted_at)  # the fast path, or the reference engine for what it declines
    # Phase 1: decode every record and read its subject; then the key port resolves the batch's
    # subjects at once (a failure there raises: the invocation fails, and nothing is emitted)
    raws: list[bytes | None] = []
    for rec in records:
        try:
            raw = _b64decode(rec.get("data"), validate=True)
        except (binascii.Error, ValueError, TypeError):
            raw = None
        else:
            bytes_in += len(raw)
        raws.append(raw)
    prepared = scrub.prepare_all(raws)
    del raws
    scrub.resolve()
    # Phase 2: transform each record, within the response's budget
    finish = scrub.finish
    for rec, item in zip(records, prepared, strict=True):
        if item is None:
            reason = INVALID_BASE64
        else:
            try:
                line, was_redacted = finish(item)  # (item: the record's bytes)
                data = _b64encode(line)
                if used + len(data) > budget:
                    key = _partition_key(rec) if redrive is not None else None
                    if key is None:
                        reason = RESPONSE_BUDGET
                    else:  # back to the stream, for a later batch (marked Dropped once it is there)
                        overflow.append((key, item))
                        append({"recordId": rec["recordId"], "result": DROPPED, "data": ""})
                        continue
                else:
                    used += len(data)
                    redacted += was_redacted
                    append({"recordId": rec["recordId"], "result": OK, "data": data})
                    continue
            except DecodeFailure as exc:
                reason = exc.reason
            except Rejection as exc:
                reason = exc.reason
            except Exception:  # noqa: BLE001 - fail closed on anything unforeseen, never pass through
                reason = INTERNAL_ERROR
        failed[reason] += 1
        res.failures.append((_sequence(rec), rec.get("approximateArrivalTimestamp"), reason))
        # Firehose writes the original record to the error prefix; echoing it back would only
        # spend response budget, so failed records carry empty data.
        append({"recordId": rec["recordId"], "result": FAILED, "data": ""})

    if overflow:
        redrive(overflow)  # raises unless every one is back on the stream: then Firehose retries the batch
    res.redacted, res.bytes_in = redacted, bytes_in
    res.dropped = res.redriven = len(overflow)
    res.ok = len(records) - sum(failed.values()) - len(overflow)
    res.reference_path = scrub.handed
    res.records_in = len(records)
    return res
