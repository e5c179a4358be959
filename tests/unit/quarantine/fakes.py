"""In-memory stand-ins for the redrive's ports, and Firehose error objects to feed them."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from quarantine.records import write_error_object

PREFIX = "quarantine/!{firehose:error-output-type}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/"


class Fault(Exception):
    """What an AWS call raises in these tests: botocore's ClientError shape (a response with a code)."""

    def __init__(self, code: str):
        super().__init__("a message that must not be reported")
        self.response = {"Error": {"Code": code, "Message": "secret detail"}}


class MemoryStore:
    """A bucket as a dict. ``fail`` maps (operation, key) to the error code that operation raises,
    once; ``ops`` records every write."""

    def __init__(self, objects: dict[str, bytes] | None = None):
        self.objects = dict(objects or {})
        self.fail: dict[tuple[str, str], str] = {}
        self.ops: list[tuple[str, str]] = []

    def _maybe_fail(self, op: str, key: str) -> None:
        code = self.fail.pop((op, key), None)
        if code is not None:
            raise Fault(code)

    def keys(self, prefix: str):
        return iter(sorted(k for k in self.objects if k.startswith(prefix)))

    def read(self, key: str) -> bytes:
        self._maybe_fail("read", key)
        return self.objects[key]

    def put(self, key: str, body: bytes) -> None:
        self._maybe_fail("put", key)
        self.ops.append(("put", key))
        self.objects[key] = body

    def copy(self, source: str, target: str) -> None:
        self._maybe_fail("copy", source)
        self.ops.append(("copy", target))
        self.objects[target] = self.objects[source]

    def delete(self, key: str) -> None:
        self._maybe_fail("delete", key)
        self.ops.append(("delete", key))
        del self.objects[key]


class MemoryStream:
    """A stream that takes every entry but those whose data is in ``refuse`` (refused for good)."""

    def __init__(self, refuse: set[bytes] | None = None):
        self.refuse = set(refuse or ())
        self.records: list[tuple[str, bytes]] = []
        self.calls = 0

    def put(self, entries: Sequence[tuple[str, bytes]]) -> list[int]:
        self.calls += 1
        assert len({pk for pk, _ in entries}) == len(entries), "partition keys of one put must be distinct"
        failed = []
        for i, (pk, data) in enumerate(entries):
            if data in self.refuse:
                failed.append(i)
            else:
                self.records.append((pk, data))
        return failed


def error_line(raw: bytes, arrival_ms: int = 1_768_469_400_000, code: str = "Lambda.ProcessingFailedStatus") -> bytes:
    return json.dumps({
        "attemptsMade": 1, "arrivalTimestamp": arrival_ms, "errorCode": code,
        "errorMessage": "ProcessingFailed status set for record", "attemptEndingTimestamp": arrival_ms + 5,
        "rawData": base64.b64encode(raw).decode("ascii"),
        "lambdaArn": "arn:aws:lambda:us-east-1:123456789012:function:pii-scrub-scrubber",
    }, separators=(",", ":")).encode()


def error_key(when: datetime, n: int = 0, stream: str = "pii-scrub-delivery") -> str:
    """A key as Firehose names an error object of the default prefix, for records that arrived ``when``."""
    u = uuid.UUID(int=n, version=4)
    return (f"quarantine/processing-failed/year={when:%Y}/month={when:%m}/day={when:%d}/"
            f"{stream}-1-{when:%Y-%m-%d-%H-%M-%S}-{u}.gz")


def error_object(raws: list[bytes]) -> bytes:
    return write_error_object(error_line(r) for r in raws)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)
