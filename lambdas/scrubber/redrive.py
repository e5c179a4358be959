"""Adapter: records the response has no room for go back on the source stream (PutRecords, with
their partition keys, retrying only the entries Kinesis rejected)."""

from __future__ import annotations

import time
from collections.abc import Callable

# botocore's standard retry mode for the calls themselves; KinesisSink retries rejected entries.
# (boto3 is imported on first use: the Lambda runtime provides it, and most invocations never
# need it)
BOTO_RETRIES = {"retries": {"max_attempts": 5, "mode": "standard"}, "connect_timeout": 5, "read_timeout": 10}


class RedriveFailed(RuntimeError):
    """Some records could not be put back: the invocation must fail (Firehose retries it)."""


class StreamRedrive:
    """``redrive(entries)`` for one source stream; the client is made on first use."""

    def __init__(self, stream_arn: str, client=None, sleep: Callable[[float], None] = time.sleep):
        self.stream_name = stream_arn.rsplit("/", 1)[-1]
        self._client = client
        self._sleep = sleep  # between retries of rejected entries (tests pass a no-op)

    def __call__(self, entries: list[tuple[str, bytes]]) -> None:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client("kinesis", config=Config(**BOTO_RETRIES))
        from streams.kinesis_sink import KinesisSink

        result = KinesisSink(self._client, self.stream_name, sleep=self._sleep).send(entries)
        if result.failed or result.sent != len(entries):
            # counts only: never a record
            raise RedriveFailed(f"{len(entries) - result.sent} of {len(entries)} records could not be put back on the stream")


_REDRIVES: dict[str, StreamRedrive] = {}


def redrive_for(event: dict) -> StreamRedrive | None:
    """The redrive to the event's source stream (one per stream and container), or None for a
    Direct PUT source."""
    arn = event.get("sourceKinesisStreamArn")
    if not isinstance(arn, str) or ":stream/" not in arn:
        return None
    if arn not in _REDRIVES:
        _REDRIVES[arn] = StreamRedrive(arn)
    return _REDRIVES[arn]
