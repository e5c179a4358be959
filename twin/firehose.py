"""A Firehose delivery stream (Kinesis source, Lambda processor, S3 destination), emulated.

moto's Firehose neither reads Kinesis nor invokes processors, so this does both, to the contract:

1. Reads every shard with GetShardIterator/GetRecords, within GetRecords' documented limits
   (at most 10,000 records and 10 MiB per call), from where the last delivery stopped
   (``twin.source``: ``positions`` in, ``checkpoint`` out).
2. Buffers records for the processor by the configured size and interval hints. Time is the
   records' ``ApproximateArrivalTimestamp``, so runs are deterministic; when the source is drained
   the open buffer is flushed, as the interval would eventually do.
3. Builds the exact transformation event (``invocationId``, ``deliveryStreamArn``,
   ``sourceKinesisStreamArn``, ``region``, and per record ``recordId``,
   ``approximateArrivalTimestamp``, base64 ``data``, ``kinesisRecordMetadata``), passes it through
   a JSON round trip as Lambda would, and refuses requests and responses over Lambda's 6 MB.
4. Invokes the real handler, validates the response as Firehose does (each recordId exactly once,
   a valid result, base64 data), retries a failed invocation ``processor_retries`` times, and
   then fails the whole batch.
5. Buffers ``Ok`` data by the S3 buffering hints and writes GZIP objects under the rendered data
   prefix with Firehose's key layout; writes failed records, raw, in Firehose's error-record format
   under the rendered quarantine prefix (error-output-type ``processing-failed``).

For the cost estimate (``twin.cost``), ``DeliveryStats`` also keeps the size of every record read,
in order, each invocation's handler time and records, the request bytes that are not record data
(Firehose's metadata), and the GZIP bytes written.
"""

from __future__ import annotations

import base64
import gzip
import json
import random
import string
import time
import uuid
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from twin.source import KinesisSource, SourceRecord

LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024
MIB = 1024 * 1024
VALID_RESULTS = {"Ok", "Dropped", "ProcessingFailed"}


class ContractViolation(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class DeliveryStats:
    records_read: int = 0
    get_records_calls: int = 0
    invocations: int = 0
    invocation_retries: int = 0
    ok: int = 0
    dropped: int = 0
    failed: int = 0
    data_objects: list[str] = field(default_factory=list)
    error_objects: list[str] = field(default_factory=list)
    bytes_delivered: int = 0
    max_request_bytes: int = 0
    max_response_bytes: int = 0
    # for the cost estimate
    record_sizes: array = field(default_factory=lambda: array("L"))  # every record read, in order
    handler_ms: list[float] = field(default_factory=list)  # each invocation's handler time, on this machine
    invocation_records: list[int] = field(default_factory=list)  # and its records (retries included)
    invocation_keystore: list[tuple[int, float]] = field(default_factory=list)  # and its key-store calls, ms waited
    records_invoked: int = 0  # records in the invocations that returned (retries not counted)
    request_overhead_bytes: int = 0  # request bytes that are not base64 record data, over those invocations
    data_bytes_gz: int = 0  # GZIP objects written (data)
    error_bytes_gz: int = 0  # and quarantine


_TS_TOKENS = (("yyyy", "%Y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"), ("ss", "%S"))


def render_prefix(prefix: str, when: datetime, error_type: str | None = None, rng: random.Random | None = None) -> str:
    """Evaluate Firehose's !{timestamp:...}, !{firehose:error-output-type} and !{firehose:random-string}."""
    out, i = [], 0
    while i < len(prefix):
        j = prefix.find("!{", i)
        if j < 0:
            out.append(prefix[i:])
            break
        out.append(prefix[i:j])
        k = prefix.index("}", j)
        expr = prefix[j + 2 : k]
        if expr.startswith("timestamp:"):
            fmt = expr[len("timestamp:") :]
            for java, py in _TS_TOKENS:
                fmt = fmt.replace(java, py)
            out.append(when.strftime(fmt))
        elif expr == "firehose:error-output-type":
            if error_type is None:
                raise ValueError("error-output-type is only valid in the error prefix")
            out.append(error_type)
        elif expr == "firehose:random-string":
            out.append("".join((rng or random).choices(string.ascii_lowercase + string.digits, k=11)))
        else:
            raise ValueError(f"unsupported prefix expression !{{{expr}}}")
        i = k + 1
    return "".join(out)


class FirehoseEmulator:
    def __init__(
        self,
        *,
        kinesis,
        s3,
        config,
        handler: Callable[[dict, object], dict],
        context_factory: Callable[[], object],
        bucket: str,
        kms_key_arn: str,
        region: str,
        account: str,
        lambda_arn: str,
        positions: dict[str, str] | None = None,
        keystore_probe: Callable[[], tuple[int, float]] | None = None,
    ):
        """``positions``: per shard, the last sequence number an earlier delivery took (None:
        everything in the stream is pending). ``keystore_probe``: the key store's calls and ms
        waited so far, read around each invocation to tell them apart (the first one's are the
        cold start's)."""
        self.kinesis = kinesis
        self.s3 = s3
        self.config = config
        self.handler = handler
        self.context_factory = context_factory
        self.keystore_probe = keystore_probe or (lambda: (0, 0.0))
        self.bucket = bucket
        self.kms_key_arn = kms_key_arn
        self.region = region
        self.stream_arn = f"arn:aws:kinesis:{region}:{account}:stream/{config.stream_name}"
        self.delivery_arn = f"arn:aws:firehose:{region}:{account}:deliverystream/{config.delivery_stream_name}"
        self.lambda_arn = lambda_arn
        self.stats = DeliveryStats()
        self.source = KinesisSource(kinesis, config.stream_name, positions)
        # Invocation ids and object names are drawn from a stream seeded by where the delivery
        # starts: a delivery redone from the same positions (after a crash) writes the same keys.
        self.rng = random.Random(json.dumps(sorted(self.source.positions.items())))
        self._out: list[bytes] = []
        self._out_bytes = 0
        self._out_first_ms: int | None = None
        self._errors: list[bytes] = []
        self._errors_first_ms: int | None = None

    # -- source ----------------------------------------------------------------------------

    @property
    def checkpoint(self) -> dict[str, str]:
        """Per shard, the last sequence number read (delivered, once ``run`` has returned)."""
        return dict(self.source.positions)

    def read_all(self) -> list[SourceRecord]:
        records = self.source.read_all()
        self.stats.records_read += len(records)
        self.stats.record_sizes.extend(len(r.data) for r in records)
        self.stats.get_records_calls = self.source.get_records_calls
        return records

    # -- processor -------------------------------------------------------------------------

    def processor_batches(self, records: list[SourceRecord]):
        limit = self.config.delivery.processor_buffer_size_mib * MIB
        interval_ms = self.config.delivery.processor_buffer_interval_seconds * 1000
        batch: list[SourceRecord] = []
        size = 0
        for r in records:
            if batch and (size + len(r.data) > limit or r.arrival_ms - batch[0].arrival_ms >= interval_ms):
                yield batch
                batch, size = [], 0
            batch.append(r)
            size += len(r.data)
        if batch:
            yield batch

    def build_event(self, batch: list[SourceRecord]) -> tuple[dict, dict[str, SourceRecord]]:
        by_id: dict[str, SourceRecord] = {}
        recs = []
        for i, r in enumerate(batch):
            rid = f"{r.sequence_number}{i:06d}"
            by_id[rid] = r
            recs.append(
                {
                    "recordId": rid,
                    "approximateArrivalTimestamp": r.arrival_ms,
                    "data": base64.b64encode(r.data).decode("ascii"),
                    "kinesisRecordMetadata": {
                        "sequenceNumber": r.sequence_number,
                        "subsequenceNumber": "",
                        "partitionKey": r.partition_key,
                        "shardId": r.shard_id,
                        "approximateArrivalTimestamp": r.arrival_ms,
                    },
                }
            )
        event = {
            "invocationId": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "deliveryStreamArn": self.delivery_arn,
            "sourceKinesisStreamArn": self.stream_arn,
            "region": self.region,
            "records": recs,
        }
        return event, by_id

    def _invoke(self, event_json: bytes, records: int) -> dict:
        """One Lambda invocation across a JSON boundary, with Lambda's payload limits."""
        event, context = json.loads(event_json), self.context_factory()
        calls, waited = self.keystore_probe()
        started = time.perf_counter()
        try:
            resp = self.handler(event, context)
        finally:  # a failed invocation is billed too
            self.stats.handler_ms.append((time.perf_counter() - started) * 1000)
            self.stats.invocation_records.append(records)
            calls_after, waited_after = self.keystore_probe()
            self.stats.invocation_keystore.append((calls_after - calls, waited_after - waited))
        out = json.dumps(resp).encode("utf-8")
        self.stats.max_response_bytes = max(self.stats.max_response_bytes, len(out))
        if len(out) > LAMBDA_PAYLOAD_LIMIT:
            raise ContractViolation("Lambda.FunctionError", "Response payload size exceeded maximum allowed payload size (6291456 bytes).")
        return json.loads(out)

    @staticmethod
    def validate_response(resp: dict, ids: list[str]) -> list[dict]:
        if not isinstance(resp, dict) or not isinstance(resp.get("records"), list):
            raise ContractViolation("Lambda.JsonProcessingException", "The response has no records list")
        seen: set[str] = set()
        expected = set(ids)
        for r in resp["records"]:
            rid = r.get("recordId") if isinstance(r, dict) else None
            if rid not in expected:
                raise ContractViolation("Lambda.InvalidRecordId", "A record id in the response was not in the request")
            if rid in seen:
                raise ContractViolation("Lambda.DuplicatedRecordId", "Multiple records were returned with the same record id")
            seen.add(rid)
            if r.get("result") not in VALID_RESULTS:
                raise ContractViolation("Lambda.InvalidRecordResult", "A record has an invalid result")
            if r["result"] == "Ok":
                try:
                    base64.b64decode(r.get("data", ""), validate=True)
                except (ValueError, TypeError):  # binascii.Error is a ValueError
                    raise ContractViolation("Lambda.JsonProcessingException", "A record's data is not base64") from None
        if len(seen) != len(expected):
            raise ContractViolation("Lambda.MissingRecordId", "One or more record ids were not returned")
        return resp["records"]

    def process_batch(self, batch: list[SourceRecord]) -> None:
        event, by_id = self.build_event(batch)
        event_json = json.dumps(event).encode("utf-8")
        if len(event_json) > LAMBDA_PAYLOAD_LIMIT:
            # Firehose never sends Lambda more than it accepts: split the buffer.
            mid = len(batch) // 2
            self.process_batch(batch[:mid])
            self.process_batch(batch[mid:])
            return
        self.stats.max_request_bytes = max(self.stats.max_request_bytes, len(event_json))
        ids = [r["recordId"] for r in event["records"]]
        attempts = 0
        last: ContractViolation | None = None
        records = None
        for attempts in range(1, self.config.delivery.processor_retries + 2):  # noqa: B007 - read after the loop
            self.stats.invocations += 1
            try:
                records = self.validate_response(self._invoke(event_json, len(batch)), ids)
                break
            except ContractViolation as exc:
                last = exc
            except Exception as exc:  # noqa: BLE001 - the function raised, whatever it was: Lambda reports a function error
                last = ContractViolation("Lambda.FunctionError", f"The Lambda function failed ({type(exc).__name__})")
            self.stats.invocation_retries += 1
        now_ms = int(time.time() * 1000)
        self.stats.records_invoked += len(batch)
        self.stats.request_overhead_bytes += len(event_json) - sum(len(r["data"]) for r in event["records"])
        if records is None:
            for rid in ids:
                self._fail(by_id[rid], attempts, last.code, last.message, now_ms)
            return
        for r in records:
            src = by_id[r["recordId"]]
            if r["result"] == "Ok":
                self._deliver(base64.b64decode(r["data"]), src.arrival_ms)
                self.stats.ok += 1
            elif r["result"] == "Dropped":
                self.stats.dropped += 1
            else:
                self._fail(src, attempts, "Lambda.ProcessingFailedStatus", "ProcessingFailed status set for record", now_ms)

    # -- destination -----------------------------------------------------------------------

    def _deliver(self, data: bytes, arrival_ms: int) -> None:
        d = self.config.delivery
        if self._out and (
            self._out_bytes + len(data) > d.buffering_size_mib * MIB
            or arrival_ms - self._out_first_ms >= d.buffering_interval_seconds * 1000
        ):
            self._flush_data()
        if not self._out:
            self._out_first_ms = arrival_ms
        self._out.append(data)
        self._out_bytes += len(data)

    def _fail(self, src: SourceRecord, attempts: int, code: str, message: str, now_ms: int) -> None:
        self.stats.failed += 1
        if not self._errors:
            self._errors_first_ms = src.arrival_ms
        rec = {
            "attemptsMade": attempts,
            "arrivalTimestamp": src.arrival_ms,
            "errorCode": code,
            "errorMessage": message,
            "attemptEndingTimestamp": now_ms,
            "rawData": base64.b64encode(src.data).decode("ascii"),
            "lambdaArn": self.lambda_arn,
        }
        self._errors.append(json.dumps(rec, separators=(",", ":")).encode() + b"\n")

    def _object_key(self, prefix: str, first_ms: int, error_type: str | None = None) -> str:
        when = datetime.fromtimestamp(first_ms / 1000, tz=UTC)
        rendered = render_prefix(prefix, when, error_type, self.rng)
        stamp = when.strftime("%Y-%m-%d-%H-%M-%S")
        return f"{rendered}{self.config.delivery_stream_name}-1-{stamp}-{uuid.UUID(int=self.rng.getrandbits(128), version=4)}.gz"

    def _put(self, key: str, lines: list[bytes]) -> int:
        """Write one GZIP object; returns its size."""
        body = gzip.compress(b"".join(lines), compresslevel=6, mtime=0)
        self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=self.kms_key_arn,
            BucketKeyEnabled=True,
        )
        return len(body)

    def _flush_data(self) -> None:
        if not self._out:
            return
        key = self._object_key(self.config.delivery.data_prefix, self._out_first_ms)
        self.stats.data_bytes_gz += self._put(key, self._out)
        self.stats.data_objects.append(key)
        self.stats.bytes_delivered += self._out_bytes
        self._out, self._out_bytes, self._out_first_ms = [], 0, None

    def _flush_errors(self) -> None:
        if not self._errors:
            return
        key = self._object_key(self.config.delivery.quarantine_prefix, self._errors_first_ms, "processing-failed")
        self.stats.error_bytes_gz += self._put(key, self._errors)
        self.stats.error_objects.append(key)
        self._errors, self._errors_first_ms = [], None

    def run(self, max_rounds: int = 20) -> DeliveryStats:
        """Deliver everything pending, and what the scrubber puts back on the stream meanwhile (the
        records its response had no room for, answered Dropped): Firehose reads them again."""
        records = self.read_all()
        for _round in range(max_rounds):
            dropped = self.stats.dropped
            for batch in self.processor_batches(records):
                self.process_batch(batch)
            if self.stats.dropped == dropped:
                break
            records = self.read_all()
        self._flush_data()
        self._flush_errors()
        return self.stats
