"""Firehose's Kinesis source, emulated: every shard read from where the last delivery stopped.

``positions`` maps a shard to the last sequence number already delivered; a shard without one is
read from its start (TRIM_HORIZON), others after that number (AFTER_SEQUENCE_NUMBER), as Firehose
resumes from its checkpoints. After a read, ``positions`` holds the last sequence number read per
shard: the caller records them once what was read is delivered, so the next command delivers only
what came after. Reads stay within GetRecords' limits (10,000 records and 10 MiB per call).
"""

from __future__ import annotations

from dataclasses import dataclass

GET_RECORDS_MAX_RECORDS = 10_000
GET_RECORDS_MAX_BYTES = 10 * 1024 * 1024


@dataclass
class SourceRecord:
    data: bytes
    partition_key: str
    sequence_number: str
    shard_id: str
    arrival_ms: int


class KinesisSource:
    def __init__(self, kinesis, stream_name: str, positions: dict[str, str] | None = None):
        self.kinesis = kinesis
        self.stream_name = stream_name
        self.positions = dict(positions or {})
        self.get_records_calls = 0

    def _iterator(self, shard_id: str, after: str | None) -> str:
        if after is None:
            return self.kinesis.get_shard_iterator(
                StreamName=self.stream_name, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        return self.kinesis.get_shard_iterator(
            StreamName=self.stream_name, ShardId=shard_id, ShardIteratorType="AFTER_SEQUENCE_NUMBER",
            StartingSequenceNumber=after)["ShardIterator"]

    def read_shard(self, shard_id: str) -> list[SourceRecord]:
        it = self._iterator(shard_id, self.positions.get(shard_id))
        out: list[SourceRecord] = []
        while it:
            resp = self.kinesis.get_records(ShardIterator=it, Limit=GET_RECORDS_MAX_RECORDS)
            self.get_records_calls += 1
            recs = resp["Records"]
            # GetRecords returns at most 10 MiB; moto does not cap it, so we do, and resume after
            # the last record we kept.
            size, kept = 0, []
            for r in recs:
                size += len(r["Data"])
                if kept and size > GET_RECORDS_MAX_BYTES:
                    break
                kept.append(r)
            for r in kept:
                out.append(SourceRecord(
                    data=r["Data"],
                    partition_key=r["PartitionKey"],
                    sequence_number=r["SequenceNumber"],
                    shard_id=shard_id,
                    arrival_ms=int(r["ApproximateArrivalTimestamp"].timestamp() * 1000),
                ))
            if len(kept) < len(recs):
                it = self._iterator(shard_id, kept[-1]["SequenceNumber"])
                continue
            if not recs and resp.get("MillisBehindLatest", 0) == 0:
                break
            it = resp.get("NextShardIterator")
        if out:
            self.positions[shard_id] = out[-1].sequence_number
        return out

    def read_all(self) -> list[SourceRecord]:
        """Every record after ``positions``, interleaved by arrival time as Firehose consumes
        shards concurrently; ``positions`` advances to the last record read."""
        records: list[SourceRecord] = []
        for s in self.kinesis.list_shards(StreamName=self.stream_name)["Shards"]:
            records.extend(self.read_shard(s["ShardId"]))
        records.sort(key=lambda r: (r.arrival_ms, r.shard_id, int(r.sequence_number)))
        return records

    def count_pending(self) -> int:
        """How many records wait after ``positions`` (read, not delivered; positions unchanged)."""
        peek = KinesisSource(self.kinesis, self.stream_name, self.positions)
        return len(peek.read_all())
