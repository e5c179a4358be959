"""What one twin command did (``run``, ``push`` or ``redrive``), and what the local lake holds after it.

Counts are read back from what landed in S3. "Counts add up" checks this command's delivery:
every record read from the stream (those this command sent, and any an earlier command left
pending) was delivered, dropped or quarantined, and every event produced was sent or refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from twin.lambdas import LAMBDA_PAYLOAD_LIMIT

MAX_LINES_NAMED = 20  # refused lines listed by number in the printed summary (all are in summary.json)


def _n(count: int, what: str) -> str:
    return f"{count:,} {what}{'' if count == 1 else 's'}"


@dataclass
class Summary:
    command: str
    endpoint: str
    server_pid: int
    server_started: bool
    resources_created: list
    produced: int
    sent: int
    producer_failed: int
    producer_batches: int
    producer_retried: int
    producer_invocations: int
    max_producer_request_bytes: int
    nonconforming: int
    refused: dict  # by the producer: reason code -> count
    throttled_entries: int
    malformed_injected: int
    pending_before: int  # records an earlier command sent and did not deliver
    read: int
    invocations: int
    delivered: int
    redacted: int
    consented: int
    dropped: int
    quarantined: int
    objects_written: int
    quarantine_objects: int
    max_lambda_request_bytes: int
    max_lambda_response_bytes: int
    elapsed_seconds: float
    lake: dict  # bucket, data_objects, quarantine_objects, events, quarantined
    out_dir: str | None = None
    out_holds: str | None = None
    unreadable_delivered: int = 0  # delivered lines without readable provenance (never expected)
    counts_add_up: bool = False
    data_keys: list = field(default_factory=list)  # written by this command
    quarantine_keys: list = field(default_factory=list)
    input: dict | None = None  # push: file, lines, events, blank, refused_lines [[line, reason]]
    seed: int | None = None  # run: the producer's seed
    cost: dict | None = None  # the cost estimate per million events (twin.cost); its printed table in "table"
    redrive: dict | None = None  # redrive: the redrive function's answer (twin.redrive); it stands for the producer
    direct: bool = False  # push --direct: the events were put on the stream as they are, no producer

    def check(self) -> None:
        self.counts_add_up = (
            # the scrubber answers Dropped only for a record it put back on the stream (no room in
            # its response), which Firehose then reads again: each is read twice, delivered once
            self.sent + self.pending_before + self.dropped == self.read == self.delivered + self.dropped + self.quarantined
            and self.produced == self.sent + self.producer_failed
        )

    def _input_lines(self) -> list[str]:
        if self.input is None:
            return []
        i = self.input
        refused = i["refused_lines"]
        lines = [f"  input               {i['lines']:>10,}  lines of {i['file']}: {i['events']:,} events, "
                 f"{len(refused):,} refused, {i['blank']:,} blank"]
        lines += [f"                      line {n}: {reason}" for n, reason in refused[:MAX_LINES_NAMED]]
        if len(refused) > MAX_LINES_NAMED:
            lines.append(f"                      ... and {len(refused) - MAX_LINES_NAMED:,} more (summary.json lists them)")
        return lines

    def _refused_lines(self) -> list[str]:
        if not self.nonconforming:
            return []
        reasons = ", ".join(f"{k} {v:,}" for k, v in sorted(self.refused.items()))
        lines = [f"  refused             {self.nonconforming:>10,}  by the producer, not sent: {reasons}"]
        named = (self.input or {}).get("producer_refused_lines", [])
        lines += [f"                      line {n}: {reason}" for n, reason in named[:MAX_LINES_NAMED]]
        if len(named) > MAX_LINES_NAMED:
            lines.append(f"                      ... and more (summary.json lists up to {len(named):,})")
        return lines

    def _source_lines(self) -> list[str]:
        """Where this command's records came from: the producer, or the redrive function."""
        if self.redrive is not None:
            from twin.redrive import report_lines

            return [*report_lines(self.redrive, self.lake["bucket"]),
                    f"  PutRecords          {self.producer_batches:>10,}  calls (retried {self.producer_retried:,}, "
                    f"throttled by shard limits {self.throttled_entries:,})"]
        refused, put_failed = self.nonconforming, self.producer_failed - self.nonconforming
        if self.direct:
            producer = "  producer                     -  none: the events were put on the stream as they are (--direct)"
        else:
            producer = (f"  producer            {self.producer_invocations:>10,}  "
                        f"invocation{'' if self.producer_invocations == 1 else 's'}"
                        + (f" (largest request {self.max_producer_request_bytes:,} bytes; Lambda takes at most "
                           f"{LAMBDA_PAYLOAD_LIMIT:,})" if self.producer_invocations else " (no events to send)"))
        return [
            f"  {'events given' if self.input is not None else 'produced':<20}{self.produced:>10,}  ("
            f"{'' if self.seed is None else f'seed {self.seed}, '}sent {self.sent:,}, "
            + (f"refused by the producer {refused:,}, " if refused else "")
            + f"failed to put {put_failed:,}, PutRecords calls {self.producer_batches:,}, "
            f"retried {self.producer_retried:,}, throttled by shard limits {self.throttled_entries:,})",
            producer,
            *self._refused_lines(),
        ]

    def report(self) -> str:
        what = {"run": "Offline pipeline run", "redrive": "Quarantined records redriven through the offline pipeline"}.get(
            self.command, "Events pushed through the offline pipeline")
        server = f"moto server pid {self.server_pid}, {'started by this command' if self.server_started else 'already running'}"
        pending = f", {self.pending_before:,} left pending by an earlier command" if self.pending_before else ""
        lake = self.lake
        lines = [
            f"{what} (local cloud {self.endpoint}, {server})",
            f"  resources           {'created: ' + ', '.join(self.resources_created) if self.resources_created else 'found and reused'}",
            *self._input_lines(),
            *self._source_lines(),
            f"  read by Firehose    {self.read:>10,}  in {self.invocations:,} "
            f"Lambda invocation{'' if self.invocations == 1 else 's'}{pending} "
            f"(largest request {self.max_lambda_request_bytes / 1e6:.2f} MB, response {self.max_lambda_response_bytes / 1e6:.2f} MB)",
            f"  delivered           {self.delivered:>10,}  ({self.consented:,} with consent to every purpose; "
            f"{self.redacted:,} redacted for lack of consent or for personal data in free text)",
            *([f"  UNREADABLE          {self.unreadable_delivered:>10,}  delivered lines that are not JSON objects "
               "with provenance naming a loaded contract"] if self.unreadable_delivered else []),
            f"  dropped             {self.dropped:>10,}"
            + ("  (put back on the stream by the scrubber, its response having no room for them; read again)"
               if self.dropped else ""),
            f"  quarantined         {self.quarantined:>10,}  "
            + ("(again)" if self.redrive is not None else f"({self.malformed_injected:,} malformed records injected)"),
            f"  objects written     {self.objects_written:>10,}  data + {self.quarantine_objects:,} quarantine",
            f"  elapsed             {self.elapsed_seconds:>10.2f} s",
            f"  counts add up       {'yes' if self.counts_add_up else 'NO'}  ({'put back' if self.redrive is not None else 'sent'} "
            f"{self.sent:,}"
            + (f" + pending {self.pending_before:,}" if self.pending_before else "")
            + (f" + put back {self.dropped:,} = read {self.read:,}" if self.dropped else
               (f" = read {self.read:,}" if self.pending_before else ""))
            + f" = delivered {self.delivered:,} + dropped {self.dropped:,} + quarantined {self.quarantined:,})",
            f"  local lake          s3://{lake['bucket']}/ holds {_n(lake['data_objects'], 'data object')} "
            f"({_n(lake['events'], 'event')}) and {_n(lake['quarantine_objects'], 'quarantine object')} "
            f"({_n(lake['quarantined'], 'record')}), from every command since the server started",
        ]
        if self.out_dir:
            lines.append(f"  output              {self.out_dir} holds {self.out_holds}")
        if self.cost:
            lines += self.cost["table"]
        return "\n".join(lines)
