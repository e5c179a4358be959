"""Firehose's error records: read whole or not at all, and never quoted in an error."""

from __future__ import annotations

import base64
import gzip
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quarantine import records
from quarantine.records import Unreadable, read_error_object, write_error_object
from tests.unit.quarantine.fakes import error_line

RAWS = st.lists(st.binary(max_size=300), max_size=20)


@settings(max_examples=200, deadline=None)
@given(raws=RAWS)
def test_written_error_records_read_back_as_the_records_they_hold(raws):
    lines = [error_line(r) for r in raws]
    for body in (write_error_object(lines), b"".join(line + b"\n" for line in lines)):  # GZIP, or plain JSON lines
        got = read_error_object(body)
        assert list(got.raw) == raws
        assert list(got.lines) == lines


def test_several_gzip_members_are_one_object():
    a, b = error_line(b"first"), error_line(b"second")
    body = gzip.compress(a + b"\n") + gzip.compress(b + b"\n")
    assert read_error_object(body).raw == (b"first", b"second")


def test_the_twins_firehose_error_records_are_read(tmp_path):
    """The format the twin's Firehose writes (twin/firehose.py), field for field."""
    line = json.dumps({"attemptsMade": 4, "arrivalTimestamp": 1, "errorCode": "Lambda.FunctionError",
                       "errorMessage": "The Lambda function failed (KeyError)", "attemptEndingTimestamp": 2,
                       "rawData": base64.b64encode(b'{"a": 1}').decode(), "lambdaArn": "arn:aws:lambda:::function:x"},
                      separators=(",", ":")).encode()
    assert read_error_object(gzip.compress(line + b"\n", mtime=0)).raw == (b'{"a": 1}',)


SECRET = b"ssn 123-45-6789 of Jane Doe"


@pytest.mark.parametrize("body, reason, line", [
    (b"\x1f\x8b" + SECRET, "not_gzip", None),
    (gzip.compress(error_line(SECRET) + b"\n")[:-12], "truncated_gzip", None),
    (error_line(SECRET) + b"\n" + SECRET + b"\n", "not_json", 2),
    (b'{"rawData": 7, "note": "' + SECRET + b'"}\n', "no_raw_data", 1),
    (b'["' + SECRET + b'"]\n', "no_raw_data", 1),
    (b'{"rawData": "' + SECRET + b'"}\n', "raw_data_not_base64", 1),
    (b'{"rawData": "\xc3\xa9"}\n', "raw_data_not_base64", 1),
    (b"\xff\xfe" + SECRET + b"\n", "not_json", 1),
    (b"[" * 100_000 + b"\n", "not_json", 1),
])
def test_an_object_that_is_not_firehose_error_records_is_unreadable_by_reason_and_line(body, reason, line):
    with pytest.raises(Unreadable) as exc:
        read_error_object(body)
    assert (exc.value.reason, exc.value.line) == (reason, line)
    for word in SECRET.decode().split():
        assert word not in str(exc.value)


@settings(max_examples=200, deadline=None)
@given(raws=RAWS, junk=st.binary(min_size=1, max_size=200), at=st.integers(0, 20))
def test_one_bad_line_makes_the_whole_object_unreadable(raws, junk, at):
    lines = [error_line(r) for r in raws]
    if junk.strip() == b"" or b"\n" in junk or (at == 0 or not raws) and junk.startswith(b"\x1f\x8b"):
        # (an object that starts with GZIP's magic bytes is read as GZIP: another reason, tested apart)
        junk = b"not json " + junk.replace(b"\n", b" ")
    lines.insert(min(at, len(lines)), junk)
    try:
        json.loads(junk)
        return  # junk that happens to be JSON without rawData is covered above
    except ValueError:
        pass
    with pytest.raises(Unreadable) as exc:
        read_error_object(b"\n".join(lines))
    assert exc.value.reason == "not_json" and exc.value.line == min(at, len(raws)) + 1


def test_an_object_over_the_size_bound_is_unreadable(monkeypatch):
    monkeypatch.setattr(records, "MAX_OBJECT_BYTES", 1000)
    body = write_error_object([error_line(b"x" * 900)])
    with pytest.raises(Unreadable) as exc:
        read_error_object(body)
    assert exc.value.reason == "too_large"
    with pytest.raises(Unreadable):
        read_error_object(gzip.decompress(body))


def test_an_empty_object_holds_no_record():
    assert read_error_object(b"").raw == ()
    assert read_error_object(write_error_object([])).raw == ()
