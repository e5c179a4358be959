"""Strict decoding of one record's bytes into a JSON object.

orjson is RFC 8259 strict: it rejects invalid UTF-8 (lone surrogates included), NaN and Infinity
literals, numbers that overflow a double, trailing content after the document, and nesting deeper
than 1024 levels. We only classify its failures into stable reason codes; we never carry the
parser's message or document anywhere, since both can hold personal data.
"""

from __future__ import annotations

import json

import orjson

INVALID_UTF8 = "invalid_utf8"
INVALID_JSON = "invalid_json"
TOO_DEEP = "too_deep"
NOT_AN_OBJECT = "not_an_object"


class DecodeFailure(Exception):
    """A record could not be decoded. ``reason`` is one of the module's reason codes."""

    __slots__ = ("reason",)

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _classify(data: bytes, exc: orjson.JSONDecodeError) -> str:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return INVALID_UTF8
    # orjson words its depth error "recursion limit"/"depth limit" depending on version.
    msg = exc.msg if isinstance(getattr(exc, "msg", None), str) else ""
    if "depth" in msg or "recursion" in msg:
        return TOO_DEEP
    return INVALID_JSON


# orjson reads integers beyond 64 bits as floats. The contract engine notices such a float in a
# declared field (privacy.engine.NeedsExactNumbers) and has the record re-read exactly; encode_line
# falls back to the stdlib for the integers orjson cannot write.


def decode_object(data: bytes) -> dict:
    """Parse ``data`` as one JSON object, or raise DecodeFailure."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise DecodeFailure(_classify(data, exc)) from None
    if type(obj) is not dict:
        raise DecodeFailure(NOT_AN_OBJECT)
    return obj


def encode_line(obj: dict) -> bytes:
    """One JSON object as a newline-terminated line (the JSON-lines layout Athena and Glue read)."""
    try:
        return orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:  # an integer beyond 64 bits (read exactly by decode_object)
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
