"""The redrive: quarantined records back on the source stream, each error object once.

For a range [since, until) of the error objects' times (``quarantine.layout``), oldest first:

1. read the object; one that is not Firehose's error records (``quarantine.records``) is
   *skipped*: reported by key and reason code, left untouched;
2. put each record's raw data back on the source stream with PutRecords, within Kinesis's limits
   (500 entries, 5 MiB per call), retrying only the entries Kinesis refused, a bounded number of
   times (the ``Stream`` port, ``streams.kinesis_sink`` on AWS);
3. move the object aside (``quarantine.layout``): every record put back, it is copied to the
   redriven folder and deleted (*redriven*); none put back, it stays where it is (*kept*, redriven
   by a later run); some put back, it is *split*: the refused records are written back to the
   quarantine as ``<name>-r<n>``, those put back to the redriven folder, and the object deleted.

So a redrive never puts an error object's records on the stream twice, except after a crash (a
timeout, an AWS failure) between putting them and moving the object: the next run puts them again,
as Firehose itself delivers at least once. The writes are ordered so that a crash never loses a
record: the remainder is written before the redriven copy, and the object deleted last; an object
whose redriven copy exists already (a run stopped just before deleting it) is only deleted
(*finished*), its records not put again.

Partition keys. Firehose's error records carry no partition key (nor sequence number): the
original key is gone. The producer keys events by their subject id (and its malformed probes by
``malformed-<n>``); re-deriving that would mean parsing raw records, by a contract that may be the
very thing missing, and would put the subject id back into a key the redrive chose. Instead each
record gets an opaque key: 32 hex characters of SHA-256 over the error object's key and the
record's line, the same for the same record on every run (so a record redriven again after a crash
lands on the same shard), spread evenly over the shards, and holding nothing of the record. What
is lost is only the original key's grouping: records of one subject may go back on different
shards, so their relative order on the stream is not kept (the scrubber does not depend on it).

Counts: ``records_read == records_reput + records_failed`` and ``objects == objects_redriven +
objects_split + objects_kept + objects_skipped + objects_finished + objects_not_reached``. Nothing
here logs or returns a record's content: keys, counts and reason codes only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from .layout import Layout, iso
from .ports import ObjectStore, Stream
from .records import Unreadable, read_error_object, write_error_object

MAX_NAMED = 20  # skipped objects named in the answer (every one is logged)


def partition_key(object_key: str, line: int) -> str:
    """The opaque partition key of the record on ``line`` of an error object (see the module)."""
    return hashlib.sha256(f"{object_key}\n{line}".encode()).hexdigest()[:32]


@dataclass
class Counts:
    since: str | None = None
    until: str | None = None
    complete: bool = True  # False: stopped before the end of the range (time, or an AWS failure)
    objects: int = 0  # error objects in the range
    objects_redriven: int = 0  # every record put back; moved aside
    objects_split: int = 0  # some put back (moved aside), the rest written back to the quarantine
    objects_kept: int = 0  # none put back; left in place
    objects_skipped: int = 0  # not Firehose error records, or a name without a time: untouched
    objects_finished: int = 0  # moved aside by an earlier run that stopped before deleting them
    objects_not_reached: int = 0  # left for the next run (the time ran out, or an AWS failure)
    records_read: int = 0
    records_reput: int = 0
    records_failed: int = 0  # refused by the stream after the bounded attempts: still in quarantine
    skipped: list[dict] = field(default_factory=list)  # the first MAX_NAMED: {"key", "reason"}
    error: str | None = None  # the AWS failure that stopped the run: object key and error code

    def as_dict(self) -> dict:
        return asdict(self)

    def adds_up(self) -> bool:
        return (self.records_read == self.records_reput + self.records_failed and self.objects == (
            self.objects_redriven + self.objects_split + self.objects_kept + self.objects_skipped
            + self.objects_finished + self.objects_not_reached))


def _error_code(exc: Exception) -> str:
    """An AWS error's code (botocore's ClientError), else the exception's type: never its message."""
    response = getattr(exc, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return str(code) if isinstance(code, str) and code else type(exc).__name__


class Redrive:
    def __init__(self, store: ObjectStore, stream: Stream, layout: Layout, *,
                 on_object: Callable[[str, str, dict], None] | None = None):
        """``on_object(key, outcome, counts)``: called after each object (the handler logs it)."""
        self.store = store
        self.stream = stream
        self.layout = layout
        self.on_object = on_object or (lambda _key, _outcome, _counts: None)

    def select(self, since_ms: int | None, until_ms: int | None) -> tuple[list[str], list[str]]:
        """The error objects in [since, until), oldest first; and the objects under the prefix that
        Firehose never writes (outside its folders, e.g. a key with ``..``, or a name that carries
        no time), whatever the range: reported, never silently passed over."""
        timed, unnamed = [], []
        for key in self.store.keys(self.layout.listing):
            if key.startswith(self.layout.redriven_root):
                continue
            if not self.layout.is_error_object(key):
                unnamed.append(key)
                continue
            t = self.layout.object_time_ms(key)
            if t is None:
                unnamed.append(key)
            elif (since_ms is None or since_ms <= t) and (until_ms is None or t < until_ms):
                timed.append((t, key))
        return [k for _, k in sorted(timed)], sorted(unnamed)

    def run(self, since_ms: int | None = None, until_ms: int | None = None,
            stop: Callable[[], bool] | None = None) -> Counts:
        counts = Counts(since=iso(since_ms), until=iso(until_ms))
        keys, unnamed = self.select(since_ms, until_ms)
        counts.objects = len(keys) + len(unnamed)
        for key in unnamed:
            self._skip(counts, key, "not_a_firehose_name")
        done = set(self.store.keys(self.layout.redriven_listing)) if keys else set()
        for i, key in enumerate(keys):
            if stop is not None and stop():
                counts.complete = False
                counts.objects_not_reached += len(keys) - i
                break
            try:
                self._object(key, counts, self.layout.redriven_key(key) in done)
            except Exception as exc:  # noqa: BLE001 - an AWS failure mid-run: report what was done, and stop
                counts.complete = False
                counts.error = f"{key}: {_error_code(exc)}"
                counts.objects_not_reached += len(keys) - i
                self.on_object(key, "error", {"error": _error_code(exc)})
                break
        return counts

    def _skip(self, counts: Counts, key: str, reason: str) -> None:
        counts.objects_skipped += 1
        if len(counts.skipped) < MAX_NAMED:
            counts.skipped.append({"key": key, "reason": reason})
        self.on_object(key, "skipped", {"reason": reason})

    def _object(self, key: str, counts: Counts, moved_before: bool) -> None:
        redriven = self.layout.redriven_key(key)
        if moved_before:  # its records went back and it was copied: only the delete is left
            self.store.delete(key)
            counts.objects_finished += 1
            self.on_object(key, "finished", {})
            return
        try:
            errors = read_error_object(self.store.read(key))
        except Unreadable as exc:
            self._skip(counts, key, str(exc))
            return
        n = len(errors.raw)
        entries = [(partition_key(key, line), raw) for line, raw in enumerate(errors.raw)]
        refused = set(self.stream.put(entries)) if entries else set()
        if not refused <= set(range(n)):
            raise RuntimeError("the stream port named an entry it was not given")
        counts.records_read += n
        counts.records_failed += len(refused)
        counts.records_reput += n - len(refused)
        outcome = {"records": n, "reput": n - len(refused), "failed": len(refused)}
        remainder = self.layout.remainder_key(key) if refused else None
        if not refused:
            self.store.copy(key, redriven)
            self.store.delete(key)
            counts.objects_redriven += 1
            self.on_object(key, "redriven", outcome)
        elif len(refused) == n or remainder is None:
            counts.objects_kept += 1  # a later run puts back what is left (and again what was put, if split was impossible)
            self.on_object(key, "kept", outcome)
        else:
            self.store.put(remainder, write_error_object(errors.lines[i] for i in sorted(refused)))
            self.store.put(redriven, write_error_object(errors.lines[i] for i in range(n) if i not in refused))
            self.store.delete(key)
            counts.objects_split += 1
            self.on_object(key, "split", {**outcome, "remainder": remainder})
