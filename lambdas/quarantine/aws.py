"""Adapters: the lake bucket on S3 and the source stream on Kinesis.

Clients are passed in. S3 errors propagate (the redrive stops and reports where); Kinesis errors
are the sink's to retry (``streams.kinesis_sink``): an entry still refused after the bounded
attempts is reported as not put.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

from streams.kinesis_sink import KinesisSink, SendResult


class S3Store:
    def __init__(self, s3, bucket: str):
        self.s3 = s3
        self.bucket = bucket

    def keys(self, prefix: str) -> Iterator[str]:
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", ()):
                yield obj["Key"]

    def read(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def put(self, key: str, body: bytes) -> None:
        # encrypted by the bucket's default (SSE-KMS with the lake key, bucket key on), as Firehose writes
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)

    def copy(self, source: str, target: str) -> None:
        self.s3.copy_object(Bucket=self.bucket, Key=target, CopySource={"Bucket": self.bucket, "Key": source})

    def delete(self, key: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=key)


class KinesisStream:
    """PutRecords through ``KinesisSink``: within Kinesis's limits, only refused entries retried,
    at most ``max_attempts`` calls per batch. ``totals`` sums every call's counts."""

    def __init__(self, client, stream_name: str, max_attempts: int, sleep: Callable[[float], None] = time.sleep):
        self.sink = KinesisSink(client, stream_name, max_attempts=max_attempts, sleep=sleep)
        self.totals = SendResult()

    def put(self, entries: Sequence[tuple[str, bytes]]) -> list[int]:
        position = {pk: i for i, (pk, _) in enumerate(entries)}
        if len(position) != len(entries):
            raise ValueError("the partition keys of one put must be distinct")
        result = self.sink.send(entries)
        self.totals.add(result)
        return sorted(position[pk] for pk, _ in result.unsent)
