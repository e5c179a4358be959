"""``python -m twin push FILE``: a JSON-lines file of your own events, as producer payloads.

Each line is one event: a JSON object. A line that is not (not UTF-8, not JSON, a JSON value that
is not an object) is refused with its line number and the reason, and nothing of its content is
ever printed; blank lines are skipped. The events are sent as ``{"events": [...]}`` payloads of the
producer Lambda, split so that no request exceeds Lambda's 6 MB synchronous limit (the size
measured is that of the JSON sent); an event too large for a request on its own is refused.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from twin.lambdas import LAMBDA_PAYLOAD_LIMIT

_OPEN, _SEP, _CLOSE = b'{"events":[', b",", b"]}"
MAX_EVENTS = 1_000_000  # the producer's limit on the events of one request (producer.handler.MAX_COUNT)
ENVELOPE_BYTES = len(_OPEN) + len(_CLOSE)
_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean", type(None): "null"}


@dataclass
class InputFile:
    path: Path
    lines: int = 0
    blank: int = 0
    events: list[bytes] = field(default_factory=list)  # each event's JSON, as sent
    line_of: list[int] = field(default_factory=list)  # the line number of each event
    refused: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)


def read_events(path: str | Path, limit: int = LAMBDA_PAYLOAD_LIMIT) -> InputFile:
    """Read ``path``; raises OSError if it cannot be read (the message names the file only)."""
    out = InputFile(Path(path))
    if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO or a device would block, or never end
        raise IsADirectoryError(errno.EINVAL, "not a regular file", str(path))
    with open(path, "rb") as f:
        for n, line in enumerate(f, start=1):
            out.lines = n
            if n == 1 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]  # a UTF-8 byte order mark
            if not line.strip():
                out.blank += 1
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                out.refused.append((n, "not UTF-8 text"))
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                if str(exc).startswith("depth limit exceeded"):  # orjson's message: no data in it
                    out.refused.append((n, "nested too deep to read (more than 1,024 levels)"))
                    continue
                column = min(exc.pos, len(text.rstrip("\r\n"))) + 1  # pos: characters
                out.refused.append((n, f"not JSON (column {column})"))
                continue
            if type(value) is not dict:
                out.refused.append((n, f"not a JSON object (it is {_KINDS.get(type(value), 'another value')})"))
                continue
            if _repeats_a_key(line):
                # a JSON parser keeps one of the two values (the producer's, and Lambda's own, the
                # last): the scrubber would never see the ambiguity it refuses as no consent
                out.refused.append((n, "a key appears twice in one object (which value holds is ambiguous)"))
                continue
            try:
                data = orjson.dumps(value)
            except orjson.JSONEncodeError:  # orjson writes at most 255 levels of nesting
                out.refused.append((n, "nested too deep to send (events are re-encoded, at most 255 levels deep)"))
                continue
            if ENVELOPE_BYTES + len(data) > limit:
                out.refused.append((n, f"larger than one Lambda request ({limit / 1024 / 1024:.0f} MB) on its own"))
                continue
            out.events.append(data)
            out.line_of.append(n)
    return out


def _repeats_a_key(line: bytes) -> bool:
    """Does any object in the line hold a key twice (exact: the stdlib parser's pairs)?"""
    repeated = False

    def pairs(items):
        nonlocal repeated
        if not repeated:
            keys = [k for k, _ in items]
            repeated = len(keys) != len(set(keys))
        return dict(items)

    try:
        json.loads(line, object_pairs_hook=pairs)
    except (ValueError, RecursionError):
        return True  # orjson read it, the stdlib cannot: cannot prove it unambiguous
    return repeated


def too_large_for_direct(given: InputFile) -> str | None:
    """Why ``push --direct`` must refuse the file (nothing sent), or None: an event that, with its
    partition key (its line number), is over Kinesis's 1 MiB record limit can never be put."""
    from twin.kinesis_limits import MAX_RECORD_BYTES

    big = [(given.line_of[i], len(e)) for i, e in enumerate(given.events) if len(e) + len(str(i + 1)) > MAX_RECORD_BYTES]
    if not big:
        return None
    line, size = big[0]
    more = f" and {len(big) - 1:,} more" if len(big) > 1 else ""
    return (f"push --direct: line {line}: too_large ({size:,} bytes; a Kinesis record holds at most {MAX_RECORD_BYTES:,} "
            f"with its partition key){more}; nothing was sent")


def split_payloads(events: list[bytes], limit: int = LAMBDA_PAYLOAD_LIMIT,
                   max_events: int = MAX_EVENTS) -> list[tuple[int, int, bytes]]:
    """``{"events": [...]}`` requests of at most ``limit`` bytes and ``max_events`` events each,
    in order: (first index, end index, the request's JSON). Every event must fit in a request on
    its own."""
    out: list[tuple[int, int, bytes]] = []
    start, size = 0, ENVELOPE_BYTES
    for i, e in enumerate(events):
        if ENVELOPE_BYTES + len(e) > limit:
            raise ValueError(f"event {i} does not fit in one request")
        if i > start and (size + len(_SEP) + len(e) > limit or i - start == max_events):
            out.append((start, i, _OPEN + _SEP.join(events[start:i]) + _CLOSE))
            start, size = i, ENVELOPE_BYTES
        size += len(e) + (len(_SEP) if i > start else 0)
    if start < len(events):
        out.append((start, len(events), _OPEN + _SEP.join(events[start:]) + _CLOSE))
    return out
