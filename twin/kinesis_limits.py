"""Kinesis Data Streams limits that moto does not enforce, installed on a boto3 client.

* PutRecords: at most 500 records, 5 MiB per call (data + partition keys), 1 MiB per record,
  partition keys of 1..256 characters. A violation fails the whole call, as on AWS
  (``InvalidArgumentException``).
* Per-shard write throughput: 1,000 records/s and 1 MiB/s. Records over a shard's budget come back
  as per-entry ``ProvisionedThroughputExceededException``, exactly like a partially failed
  PutRecords on AWS, so the producer's retry path runs offline too.

The hooks use botocore's event system: ``before-parameter-build`` validates and removes throttled
entries, ``before-call`` short-circuits a call whose entries were all throttled, and
``after-call`` re-inserts the throttled entries at their positions in the response.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

MAX_RECORDS_PER_CALL = 500
MAX_BYTES_PER_CALL = 5 * 1024 * 1024
MAX_RECORD_BYTES = 1024 * 1024
SHARD_RECORDS_PER_S = 1000
SHARD_BYTES_PER_S = 1024 * 1024

_THROTTLED = "ProvisionedThroughputExceededException"


@dataclass
class _Bucket:
    records: float = SHARD_RECORDS_PER_S
    bytes: float = SHARD_BYTES_PER_S
    at: float = 0.0


@dataclass
class LimitStats:
    calls: int = 0
    throttled_entries: int = 0
    rejected_calls: int = 0
    per_shard_accepted: dict = field(default_factory=dict)


def _invalid(message: str) -> ClientError:
    return ClientError({"Error": {"Code": "InvalidArgumentException", "Message": message}}, "PutRecords")


class KinesisLimits:
    def __init__(self, shards: list[dict], clock: Callable[[], float] = time.monotonic, throughput: bool = True):
        # shards: ListShards output entries (ShardId and HashKeyRange).
        self.ranges = sorted(
            (int(s["HashKeyRange"]["StartingHashKey"]), int(s["HashKeyRange"]["EndingHashKey"]), s["ShardId"]) for s in shards
        )
        self.clock = clock
        self.throughput = throughput
        self.buckets: dict[str, _Bucket] = {}
        self.stats = LimitStats()
        self._lock = threading.Lock()

    def shard_for(self, partition_key: str) -> str:
        h = int.from_bytes(hashlib.md5(partition_key.encode("utf-8")).digest(), "big")
        for start, end, sid in self.ranges:
            if start <= h <= end:
                return sid
        raise AssertionError("hash key ranges do not cover the key space")

    def install(self, client) -> None:
        ev = client.meta.events
        ev.register("before-parameter-build.kinesis.PutRecords", self._before_params)
        ev.register("before-call.kinesis.PutRecords", self._before_call)
        ev.register("after-call.kinesis.PutRecords", self._after_call)

    # -- hooks -----------------------------------------------------------------------------

    def _validate(self, records: list[dict]) -> None:
        if not 1 <= len(records) <= MAX_RECORDS_PER_CALL:
            raise _invalid(f"Records must contain 1 to {MAX_RECORDS_PER_CALL} entries, got {len(records)}")
        total = 0
        for i, r in enumerate(records):
            pk = r.get("PartitionKey", "")
            data = r.get("Data", b"")
            if isinstance(data, str):
                data = data.encode("utf-8")
            if not 1 <= len(pk) <= 256:
                raise _invalid(f"Records[{i}].PartitionKey must be 1 to 256 characters")
            size = len(data) + len(pk.encode("utf-8"))
            if size > MAX_RECORD_BYTES:
                raise _invalid(f"Records[{i}] is {size} bytes; the limit is {MAX_RECORD_BYTES}")
            total += size
        if total > MAX_BYTES_PER_CALL:
            raise _invalid(f"The request is {total} bytes; the PutRecords limit is {MAX_BYTES_PER_CALL}")

    def _take(self, shard: str, size: int, now: float) -> bool:
        b = self.buckets.get(shard)
        if b is None:
            b = self.buckets[shard] = _Bucket(at=now)
        elapsed = max(0.0, now - b.at)
        b.records = min(SHARD_RECORDS_PER_S, b.records + elapsed * SHARD_RECORDS_PER_S)
        b.bytes = min(SHARD_BYTES_PER_S, b.bytes + elapsed * SHARD_BYTES_PER_S)
        b.at = now
        if b.records >= 1 and b.bytes >= size:
            b.records -= 1
            b.bytes -= size
            return True
        return False

    def _before_params(self, params: dict, context: dict, **_kw) -> None:
        records = params.get("Records", [])
        with self._lock:
            self.stats.calls += 1
            try:
                self._validate(records)
            except ClientError:
                self.stats.rejected_calls += 1
                raise
            if not self.throughput:
                return
            now = self.clock()
            keep, throttled = [], []
            for i, r in enumerate(records):
                data = r["Data"] if isinstance(r["Data"], bytes) else r["Data"].encode("utf-8")
                shard = self.shard_for(r["PartitionKey"])
                if self._take(shard, len(data) + len(r["PartitionKey"]), now):
                    keep.append(r)
                    self.stats.per_shard_accepted[shard] = self.stats.per_shard_accepted.get(shard, 0) + 1
                else:
                    throttled.append(i)
            self.stats.throttled_entries += len(throttled)
        if throttled:
            context["twin_throttled"] = throttled
            context["twin_total"] = len(records)
            if keep:
                params["Records"] = keep
            # else: leave params valid; before-call answers without sending anything

    def _before_call(self, context: dict, **_kw):
        if context.get("twin_throttled") and len(context["twin_throttled"]) == context["twin_total"]:
            return AWSResponse("https://kinesis.twin/", 200, {}, None), {"FailedRecordCount": 0, "Records": []}
        return None

    def _after_call(self, parsed: dict, context: dict, **_kw) -> None:
        throttled = context.get("twin_throttled")
        if not throttled or "Records" not in parsed:
            return
        accepted = iter(parsed["Records"])
        tset = set(throttled)
        merged = []
        for i in range(context["twin_total"]):
            if i in tset:
                merged.append({"ErrorCode": _THROTTLED, "ErrorMessage": "Rate exceeded for shard (twin: 1,000 records/s or 1 MiB/s)"})
            else:
                merged.append(next(accepted))
        parsed["Records"] = merged
        parsed["FailedRecordCount"] = parsed.get("FailedRecordCount", 0) + len(throttled)
