"""``python -m twin push``: a JSON-lines file read into producer requests within Lambda's limit,
bad lines refused by number and reason with nothing of their content."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.lambdas import LAMBDA_PAYLOAD_LIMIT, PayloadTooLarge, invoke
from twin.push import ENVELOPE_BYTES, read_events, split_payloads


def test_each_line_is_an_event_or_refused_by_number_and_reason(tmp_path):
    secret = "123-45-6789"
    f = tmp_path / "in.jsonl"
    f.write_bytes(b"\n".join([
        b'\xef\xbb\xbf{"a": 1}',  # a byte order mark on the first line is not part of the JSON
        f'{{"ssn": "{secret}"'.encode(),  # truncated
        b"",
        f'["{secret}"]'.encode(),
        b"   ",
        f'"{secret}"'.encode(),
        b"42",
        b"null",
        b"\xff\xfe" + secret.encode(),
        b'{"b": {"c": [1, 2.5, null, true]}}\r',
        b'{"x": NaN}',
        '{"é": x}'.encode(),
    ]) + b"\n")
    got = read_events(f)
    assert got.lines == 12 and got.blank == 2
    assert [orjson.loads(e) for e in got.events] == [{"a": 1}, {"b": {"c": [1, 2.5, None, True]}}]
    assert got.line_of == [1, 10]
    assert got.refused == [
        (2, "not JSON (column 22)"),
        (4, "not a JSON object (it is an array)"),
        (6, "not a JSON object (it is a string)"),
        (7, "not a JSON object (it is a number)"),
        (8, "not a JSON object (it is null)"),
        (9, "not UTF-8 text"),
        (11, "not JSON (column 7)"),
        (12, "not JSON (column 7)"),  # counted in characters
    ]
    assert secret not in repr(got.refused)


def test_an_event_larger_than_a_request_is_refused_on_its_own(tmp_path):
    f = tmp_path / "in.jsonl"
    f.write_text(json.dumps({"n": "x" * 100}) + "\n" + json.dumps({"n": "y"}) + "\n")
    got = read_events(f, limit=100)
    assert got.refused == [(1, "larger than one Lambda request (0 MB) on its own")] and got.line_of == [2]


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(0, 120), max_size=60), limit=st.integers(ENVELOPE_BYTES + 130, 900))
def test_requests_hold_every_event_once_in_order_within_the_limit(sizes, limit):
    events = [orjson.dumps({"i": i, "p": "x" * n}) for i, n in enumerate(sizes)]
    events = [e for e in events if ENVELOPE_BYTES + len(e) <= limit]
    chunks = split_payloads(events, limit)
    assert all(len(body) <= limit for _, _, body in chunks)
    assert [e for _, _, body in chunks for e in map(orjson.dumps, json.loads(body)["events"])] == events
    assert [(a, b) for a, b, _ in chunks] == list(zip([0] + [b for _, b, _ in chunks][:-1], [b for _, b, _ in chunks], strict=False))
    # as few requests as fit: no two neighbours could have been one
    for (_, _, x), (_, _, y) in zip(chunks, chunks[1:], strict=False):
        assert len(x) + len(y) - ENVELOPE_BYTES + 1 > limit


def test_a_file_over_6_mb_becomes_several_requests_each_within_lambdas_limit():
    events = [orjson.dumps({"event_id": i, "note": "z" * 700}) for i in range(9000)]
    assert sum(map(len, events)) > LAMBDA_PAYLOAD_LIMIT
    chunks = split_payloads(events)
    assert len(chunks) == 2 and all(len(body) <= LAMBDA_PAYLOAD_LIMIT for _, _, body in chunks)
    assert len(chunks[0][2]) > LAMBDA_PAYLOAD_LIMIT - 800  # the first is filled


def test_the_twin_invokes_within_lambdas_synchronous_limits():
    seen = []
    assert invoke(lambda ev, ctx: seen.append(ev) or {"ok": 1}, b'{"events": []}', None) == {"ok": 1}
    assert seen == [{"events": []}]  # across a JSON boundary
    with pytest.raises(PayloadTooLarge, match="request payload of 6,291,457 bytes"):
        invoke(lambda ev, ctx: {}, b"[" + b" " * (LAMBDA_PAYLOAD_LIMIT - 1) + b"]", None)
    with pytest.raises(PayloadTooLarge, match="response payload"):
        invoke(lambda ev, ctx: {"x": "y" * LAMBDA_PAYLOAD_LIMIT}, b"{}", None)


def test_requests_hold_at_most_as_many_events_as_the_producer_takes():
    from producer.handler import MAX_COUNT
    from twin.push import MAX_EVENTS

    assert MAX_EVENTS == MAX_COUNT
    chunks = split_payloads([b"{}"] * 7, max_events=3)
    assert [(a, b) for a, b, _ in chunks] == [(0, 3), (3, 6), (6, 7)]


def test_lines_the_scrubber_could_not_judge_are_refused_not_collapsed(tmp_path):
    """A key written twice (consent, say) would reach the producer as one value: a parser keeps the
    last. Such a line is refused, as is one nested beyond what the producer re-encodes."""
    good = json.dumps({"event_type": "customer_signed_up", "data_share_consent": False})
    lines = [good,
             good[:-1] + ', "data_share_consent": true}',
             '{"order": {"items": [{"qty": 1, "qty": 2}]}}',
             '{"x": ' + "[" * 300 + '"a@b.co"' + "]" * 300 + "}",
             '{"x": ' + "[" * 2000 + '"a@b.co"' + "]" * 2000 + "}"]
    path = tmp_path / "e.jsonl"
    path.write_text("\n".join(lines) + "\n")
    got = read_events(path)
    assert got.line_of == [1]
    assert got.refused == [(2, "a key appears twice in one object (which value holds is ambiguous)"),
                           (3, "a key appears twice in one object (which value holds is ambiguous)"),
                           (4, "nested too deep to send (events are re-encoded, at most 255 levels deep)"),
                           (5, "nested too deep to read (more than 1,024 levels)")]


def test_a_fifo_is_refused_not_waited_on(tmp_path):
    import os

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        read_events(fifo)


def test_direct_push_refuses_an_event_over_the_kinesis_record_limit_and_sends_nothing(tmp_path, capsys):
    """It used to be left unsent, with `counts add up yes` and exit 0."""
    import twin.__main__ as cli

    f = tmp_path / "big.jsonl"
    f.write_text('{"ok": 1}\n{"note": "' + "Q" * (1024 * 1024) + '"}\n')
    code = cli.main(["push", "--direct", str(f), "--out", str(tmp_path / "out"), "--state-dir", str(tmp_path / "state")])
    err = capsys.readouterr().err
    assert code == 2 and "line 2: too_large" in err and "nothing was sent" in err and "QQQ" not in err
    assert not (tmp_path / "state").exists()  # refused before the local cloud is touched
