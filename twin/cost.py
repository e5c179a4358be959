"""What a million events cost on AWS, from what a twin command measured: a pure function of the
counts (``Usage``), the configuration (``Deployment``) and the price table (``twin.prices``).

Every quantity is measured over the command's records and scaled to a million events (an event:
a record that went through, delivered or quarantined; a record the scrubber put back on the
stream and Firehose read again counts once as an event, twice in what the services bill). The
billing rules, each from the AWS pricing page its price cites:

* Kinesis, on-demand: data in and data out per GB, each record rounded up to 1 KB ("multiplied by
  the size of each record rounded up to the nearest 1 KB"; out is read by Firehose once per
  record), and a stream-hour per hour. Provisioned: shard-hours, and a PUT payload unit per 25 KB
  of each record. Hours depend on the rate, which the twin cannot measure: ``events_per_second``
  is an assumption, printed with the estimate.
* Firehose: ingestion per GB, each record rounded up to 5 KB (5,120 bytes). The pricing page
  states it for "Direct PUT and KDS as a source"; only MSK and vended-logs sources are billed
  without it. No format conversion, VPC delivery or dynamic partitioning: none is configured.
* Lambda (the scrubber): a request per invocation and GB-seconds (configured memory times billed
  duration, each invocation rounded up to 1 ms). Invocations are the batches Firehose makes at
  the configured processor buffer (size or interval, whichever fills first, records of the
  measured average size arriving at ``events_per_second``; a batch whose request would exceed
  Lambda's 6 MB split in halves), not the twin's own batches, whose records all arrive within
  seconds: so many per million events whatever the command's size. Durations are measured on
  this machine, where the handler has a whole core; a Lambda function has a share of a vCPU in
  proportion to its memory, a whole one at 1,769 MB: the handler's own time per record is scaled
  by ``max(1, 1769 / memory_mb)`` (it is single-threaded and CPU-bound; the machine's core taken
  as one vCPU). The time per record is measured over the warm invocations only (all but the
  command's first, which is a cold start), and only when they held ``MIN_TIMED_RECORDS``: fewer
  are too small a sample (a command of a few events is one cold invocation), and the duration is
  then left out of the estimate, saying so, rather than a cold start's time spread over a few
  records and scaled to a million. Its waits on the key store are not its own time, and the
  local cloud's are not AWS's (moto copies the whole key table for each transaction): they are
  taken out, and each key-store call counted as ``KEYSTORE_CALL_MS`` instead (DynamoDB's
  "single-digit milliseconds", rounded up). A cold start costs what the first invocation took
  beyond its records' share at the warm rate, and its key-store calls beyond theirs (the KMS
  call for the root among them); assumed once every ``COLD_START_EVERY_S`` (Firehose invokes the
  function about once a buffer interval, which keeps it warm; Lambda replaces environments
  after some hours). The producer is not priced: your applications put events.
* DynamoDB (on-demand): the read and write request units the key store counted
  (``keystore.dynamo``: strongly consistent reads, transactional writes twice, the by-link index
  once more), and the bytes its new items store, per month kept.
* KMS: the requests the key store made (a Decrypt of the root per cold start, a GenerateDataKey
  when the root is created): the twin runs one container per command, so its count is a cold
  start's, amortised at one cold start every ``COLD_START_EVERY_S``.
* S3: a PUT per object Firehose writes (data: the larger of the delivered bytes over the
  buffering size and the time over the buffering interval; quarantine: at most one object per
  interval that has failures), the GZIP bytes of the data per month kept, and the quarantine's for
  its days of expiry.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from twin.prices import PriceTable

GB = 2**30  # AWS's GB in pricing
MIB = 2**20
KINESIS_RECORD_ROUNDING = 1024  # on-demand data in and out: each record rounded up to 1 KB
PUT_PAYLOAD_UNIT = 25 * 1024  # provisioned: a PUT payload unit per 25 KB of a record
FIREHOSE_RECORD_ROUNDING = 5 * 1024  # Direct PUT and KDS sources: each record rounded up to 5 KB
LAMBDA_FULL_VCPU_MB = 1769  # Lambda: one vCPU at 1,769 MB, a share in proportion below
LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024
MIN_TIMED_RECORDS = 1000  # warm records needed to time a record: fewer and the duration is not estimated
COLD_START_EVERY_S = 3600  # assumed: a cold start an hour (one container, kept warm by an invocation a buffer interval)
KEYSTORE_CALL_MS = 10.0  # assumed: a DynamoDB or KMS call of the key store, as the scrubber waits for it on AWS
SHARD_BYTES_PER_S = 1024 * 1024  # a provisioned shard takes 1 MB/s or 1,000 records/s
SHARD_RECORDS_PER_S = 1000
DAYS_PER_MONTH = 365 / 12
MILLION = 1_000_000


@dataclass(frozen=True)
class Deployment:
    """What of the configuration the bill depends on."""

    stream_mode: str = "ON_DEMAND"
    shard_count: int = 1
    retention_hours: int = 24
    scrubber_memory_mb: int = 1024
    architecture: str = "x86_64"
    processor_buffer_bytes: int = 2 * MIB
    processor_interval_s: int = 60
    buffering_bytes: int = 64 * MIB
    buffering_interval_s: int = 300
    quarantine_days: int = 7
    pitr: bool = False

    @classmethod
    def of(cls, config) -> Deployment:
        """From a ``stacks.config.PipelineConfig``."""
        d = config.delivery
        return cls(
            stream_mode=config.stream.mode, shard_count=config.stream.shard_count,
            retention_hours=config.stream.retention_hours, scrubber_memory_mb=config.scrubber.memory_mb,
            architecture=config.lambda_architecture, processor_buffer_bytes=d.processor_buffer_size_mib * MIB,
            processor_interval_s=d.processor_buffer_interval_seconds, buffering_bytes=d.buffering_size_mib * MIB,
            buffering_interval_s=d.buffering_interval_seconds,
            quarantine_days=config.storage.quarantine_expiration_days,
            pitr=config.subject_keys.point_in_time_recovery_days > 0,
        )


@dataclass(frozen=True)
class Timing:
    """Some of the scrubber's invocations: how many, their records, the handler's time on this
    machine, and the key store's calls in them with the ms waited for them on the local cloud."""

    invocations: int = 0
    records: int = 0
    handler_ms: float = 0.0
    keystore_calls: int = 0
    keystore_wait_ms: float = 0.0


def split_timings(handler_ms: Sequence[float], records: Sequence[int],
                  keystore: Sequence[tuple[int, float]]) -> tuple[Timing, Timing]:
    """Per-invocation measurements (in order) as the cold start's (the first) and the warm ones'."""
    def total(a: int, b: int | None) -> Timing:
        calls = keystore[a:b]
        return Timing(len(handler_ms[a:b]), sum(records[a:b]), sum(handler_ms[a:b]),
                      sum(c for c, _ in calls), sum(w for _, w in calls))
    return total(0, 1), total(1, None)


@dataclass(frozen=True)
class Usage:
    """What one twin command measured."""

    events: int  # records that went through: delivered or quarantined, each once
    record_sizes: Sequence[int]  # bytes of every record Firehose read, in order (re-reads included)
    cold: Timing = Timing()  # the command's first invocation: a cold start
    warm: Timing = Timing()  # the others
    request_overhead_bytes: int = 0  # of their requests, the bytes that are not base64 record data
    delivered_bytes: int = 0  # data delivered, uncompressed
    data_bytes_gz: int = 0  # GZIP objects written: data
    quarantined: int = 0
    error_bytes_gz: int = 0  # and quarantine
    kms_requests: int = 0  # the command's: one container's, made at its cold start
    read_request_units: int = 0
    write_request_units: int = 0
    key_bytes_stored: int = 0  # by the key store's new items (table and index)


@dataclass(frozen=True)
class Line:
    service: str
    item: str
    quantity: float  # per million events
    unit: str
    usd: float
    monthly: bool = False  # dollars per month the data is kept, not once


@dataclass(frozen=True)
class Estimate:
    lines: tuple[Line, ...]
    events_per_second: float
    invocations: float  # per million events
    cpu_factor: float
    ms_per_record: float | None  # the handler's own time, measured on this machine (key-store waits taken out);
    # None: too few warm records to time one, and the Lambda duration is not in the estimate
    cold_starts: float = 0.0  # per million events
    notes: tuple[str, ...] = ()

    @property
    def total(self) -> float:
        """Dollars per million events, once (storage for its first month excluded)."""
        return sum(line.usd for line in self.lines if not line.monthly)

    @property
    def monthly(self) -> float:
        """Dollars per month that a million events' data and keys are kept."""
        return sum(line.usd for line in self.lines if line.monthly)

    def as_dict(self) -> dict:
        return {**asdict(self), "total_usd": self.total, "monthly_usd": self.monthly}


def rounded_bytes(sizes: Sequence[int], increment: int) -> int:
    """The bytes billed when each record is rounded up to ``increment`` (at least one)."""
    return sum(max(1, -(-s // increment)) for s in sizes) * increment


def cpu_factor(memory_mb: int) -> float:
    """How much longer a CPU-bound, single-threaded handler runs on Lambda at ``memory_mb`` than
    on a whole core."""
    return max(1.0, LAMBDA_FULL_VCPU_MB / memory_mb)


def batch_records(mean_size: float, limit_bytes: int, interval_s: float, records_per_second: float,
                  overhead_per_record: float = 0.0) -> float:
    """Records in each Lambda invocation Firehose makes, records of ``mean_size`` bytes arriving
    at ``records_per_second``: a batch closes when the next record would take it over
    ``limit_bytes`` or ``interval_s`` has passed since its first; a batch whose request (base64
    data and ``overhead_per_record``) would exceed Lambda's 6 MB is split in halves."""
    n = float(max(1, math.floor(limit_bytes / mean_size)) if mean_size > 0 else MILLION)
    n = min(n, max(1, math.ceil(interval_s * records_per_second - 1e-9)))
    request = 4 * math.ceil(mean_size / 3) + overhead_per_record
    while n > 1 and n * request > LAMBDA_PAYLOAD_LIMIT:
        n /= 2
    return n


def estimate(usage: Usage, deployment: Deployment, prices: PriceTable, events_per_second: float) -> Estimate:
    """Dollars per million events: one ``Line`` per item, with its quantity per million events."""
    if usage.events <= 0 or not usage.record_sizes:
        raise ValueError("no events went through: nothing to scale to a million")
    if not events_per_second > 0:
        raise ValueError("events_per_second must be more than 0")
    k = MILLION / usage.events  # from this command's records to a million events
    d, p = deployment, prices
    sizes = usage.record_sizes
    hours = MILLION / events_per_second / 3600
    lines: list[Line] = []

    def line(service, item, key, quantity, unit, monthly=False, factor=1.0):
        lines.append(Line(service, item, quantity, unit, p.dollars(key, quantity * factor), monthly))

    if d.stream_mode == "PROVISIONED":
        line("Kinesis (provisioned)", "shard-hours", "kinesis_provisioned_shard_hour", d.shard_count * hours,
             f"h x {d.shard_count} shard{'s' if d.shard_count > 1 else ''}")
        line("Kinesis (provisioned)", "PUT payload", "kinesis_provisioned_put_payload_units",
             sum(max(1, -(-s // PUT_PAYLOAD_UNIT)) for s in sizes) * k, "units (25 KB)")
    else:
        rounded = rounded_bytes(sizes, KINESIS_RECORD_ROUNDING)
        billed, unit = rounded * k / GB, f"GB ({_kb(rounded / len(sizes))} KB a record)"
        line("Kinesis (on-demand)", "data in", "kinesis_on_demand_data_in", billed, unit)
        line("Kinesis (on-demand)", "data out", "kinesis_on_demand_data_out", billed, unit)
        line("Kinesis (on-demand)", "stream-hours", "kinesis_on_demand_stream_hour", hours, "h")
    rounded = rounded_bytes(sizes, FIREHOSE_RECORD_ROUNDING)
    line("Firehose", "ingestion", "firehose_ingestion", rounded * k / GB, f"GB ({_kb(rounded / len(sizes))} KB a record)")

    reads = len(sizes) / usage.events  # records Firehose reads an event (one put back is read twice)
    mean = sum(sizes) / len(sizes)
    cold, warm = usage.cold, usage.warm
    invoked = cold.records + warm.records
    overhead = usage.request_overhead_bytes / invoked if invoked else 0.0
    per_batch = batch_records(mean, d.processor_buffer_bytes, d.processor_interval_s, events_per_second * reads, overhead)
    invocations = MILLION * reads / per_batch
    cold_starts = hours * 3600 / COLD_START_EVERY_S
    factor = cpu_factor(d.scrubber_memory_mb)
    line("Lambda (scrubber)", "requests", "lambda_requests", invocations, "invocations")
    ms_per_record = None
    if warm.records >= MIN_TIMED_RECORDS:
        ms_per_record = max(0.0, warm.handler_ms - warm.keystore_wait_ms) / warm.records
        calls_per_record = warm.keystore_calls / warm.records
        per_invocation = math.ceil(per_batch * (ms_per_record * factor + calls_per_record * KEYSTORE_CALL_MS))
        cold_own = max(0.0, cold.handler_ms - cold.keystore_wait_ms - ms_per_record * cold.records)
        cold_calls = max(0.0, cold.keystore_calls - calls_per_record * cold.records)
        billed_ms = invocations * per_invocation + cold_starts * (cold_own * factor + cold_calls * KEYSTORE_CALL_MS)
        line("Lambda (scrubber)", "duration", f"lambda_duration_{d.architecture}",
             billed_ms / 1000 * d.scrubber_memory_mb / 1024, "GB-s")

    line("DynamoDB (keys)", "reads", "dynamodb_read_request_units", usage.read_request_units * k, "RRU")
    line("DynamoDB (keys)", "writes", "dynamodb_write_request_units", usage.write_request_units * k, "WRU")
    line("KMS", "requests", "kms_requests", usage.kms_requests * cold_starts, "requests")
    duration_s = MILLION / events_per_second
    intervals = math.ceil(duration_s / d.buffering_interval_s) if d.buffering_interval_s else invocations
    data_objects = max(math.ceil(usage.delivered_bytes * k / d.buffering_bytes), intervals)
    error_objects = min(usage.quarantined * k, intervals)
    line("S3", "PUT requests", "s3_put_requests", data_objects + error_objects, "objects")
    line("S3", "quarantine", "s3_standard_storage", usage.error_bytes_gz * k / GB, f"GB for {d.quarantine_days} days",
         factor=d.quarantine_days / DAYS_PER_MONTH)
    line("S3", "lake", "s3_standard_storage", usage.data_bytes_gz * k / GB, "GB GZIP", monthly=True)
    line("DynamoDB (keys)", "storage", "dynamodb_storage", usage.key_bytes_stored * k / GB, "GB", monthly=True)
    if d.pitr:
        line("DynamoDB (keys)", "backups", "dynamodb_pitr", usage.key_bytes_stored * k / GB, "GB (PITR)", monthly=True)

    notes = [
        f"Lambda: {per_batch:,.0f} records an invocation, Firehose's batches of {d.processor_buffer_bytes / MIB:g} MiB "
        f"or {d.processor_interval_s} s at {events_per_second:,g} events/s of {mean:,.0f} bytes on average",
    ]
    if ms_per_record is None:
        notes.append(f"Lambda duration: NOT ESTIMATED (not in the total): {warm.records:,} records in warm invocations, "
                     f"fewer than the {MIN_TIMED_RECORDS:,} needed to time a record (the first invocation is a cold "
                     "start, not a sample); a larger command (make run) measures it")
    else:
        notes.append(
            f"Lambda duration: {ms_per_record * 1000:,.0f} us of handler time a record, over {warm.records:,} records in "
            f"{warm.invocations:,} warm invocations on this machine, x {factor:.2f} ({d.scrubber_memory_mb:,} MB is "
            f"{min(1.0, 1 / factor):.2f} vCPU), + {KEYSTORE_CALL_MS:g} ms a key-store call ({warm.keystore_calls:,} calls; "
            f"{warm.keystore_wait_ms:,.0f} ms waited on the local cloud, not counted)")
    notes.append(f"cold starts: one every {COLD_START_EVERY_S / 60:g} min assumed, {cold_starts:.2f} per 1M events at "
                 f"{events_per_second:,g} events/s; each {usage.kms_requests:,} KMS request(s) (measured at this command's)"
                 + ("" if ms_per_record is None else f" and {cold_own:,.0f} ms beyond its records' share (measured)"))
    notes.append("Kinesis bills each record rounded up to a whole KB, Firehose to a multiple of 5 KB: the KB a record "
                 "above are those averages")
    if d.retention_hours > 24:
        notes.append(f"Kinesis retention of {d.retention_hours} h: the hours beyond 24 are billed extra, not included")
    if d.stream_mode == "PROVISIONED":
        mean = sum(sizes) / len(sizes)
        needed = math.ceil(max(events_per_second * mean / SHARD_BYTES_PER_S, events_per_second / SHARD_RECORDS_PER_S))
        if needed > d.shard_count:
            notes.append(f"at {events_per_second:,g} events/s of {mean:,.0f} bytes the stream needs {needed} shards, "
                         f"not {d.shard_count}: it would throttle")
    return Estimate(tuple(lines), events_per_second, invocations, factor, ms_per_record, cold_starts, tuple(notes))


def _kb(average_bytes: float) -> str:
    """An average of whole KB: "1" when every record is billed one, "1.75" when a quarter of them two."""
    return f"{average_bytes / 1024:.2f}".rstrip("0").rstrip(".")


def render(est: Estimate, prices: PriceTable) -> list[str]:
    """The table the twin's summary ends with: per item, its quantity and dollars per million events."""
    out = [f"  cost per 1M events  {prices.region} prices of {prices.as_of.isoformat()} ({prices.path}), "
           f"at {est.events_per_second:,g} events/s (make RATE=, --rate)"]
    service = None
    for ln in est.lines:
        if not ln.monthly:
            out.append(_row(ln, ln.service if ln.service != service else ""))
            service = ln.service
    out.append(f"    {'total':<36}{'':>13}  {'':<22}${est.total:>8.4f}  (the producer, logs and metrics"
               + ("" if est.ms_per_record is not None else ", and the Lambda duration (see below)") + ": not included)")
    out.append("    kept, per month")
    out += [_row(ln, ln.service) for ln in est.lines if ln.monthly]
    out.append(f"    {'':<36}{'':>13}  {'':<22}${est.monthly:>8.4f}  a month, for as long as they are kept")
    out += [f"    {n}" for n in est.notes]
    return out


def _row(ln: Line, service: str) -> str:
    return f"    {service:<22}{ln.item:<14}{_qty(ln.quantity):>13}  {ln.unit:<22}${ln.usd:>8.4f}"


def _qty(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:,.3g}" if x >= 0.001 else f"{x:.2e}" if x else "0"
