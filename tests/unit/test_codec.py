import pytest

from privacy.codec import (
    INVALID_JSON,
    INVALID_UTF8,
    NOT_AN_OBJECT,
    TOO_DEEP,
    DecodeFailure,
    decode_object,
    encode_line,
)


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"\xff\xfe{}", INVALID_UTF8),
        (b'{"a": "\xed\xa0\x80"}', INVALID_UTF8),  # UTF-8-encoded lone surrogate
        (b'{"a": "\xc3"}', INVALID_UTF8),  # truncated multi-byte sequence
        (b'{"a": NaN}', INVALID_JSON),
        (b'{"a": Infinity}', INVALID_JSON),
        (b'{"a": -Infinity}', INVALID_JSON),
        (b'{"a": 1e400}', INVALID_JSON),  # overflows a double
        (b'{"a": 1} {"b": 2}', INVALID_JSON),  # trailing document
        (b'{"a": 1} garbage', INVALID_JSON),
        (b'{"a": 1', INVALID_JSON),
        (b"", INVALID_JSON),
        (b"   ", INVALID_JSON),
        (b'{"a": "\\ud800"}', INVALID_JSON),  # escaped lone surrogate
        (b"{'a': 1}", INVALID_JSON),
        (b"[" * 5000 + b"]" * 5000, TOO_DEEP),
        (b'{"a":' * 3000 + b"1" + b"}" * 3000, TOO_DEEP),
        (b"[1, 2]", NOT_AN_OBJECT),
        (b'"a string"', NOT_AN_OBJECT),
        (b"42", NOT_AN_OBJECT),
        (b"null", NOT_AN_OBJECT),
        (b"true", NOT_AN_OBJECT),
    ],
)
def test_rejects_with_reason(data, reason):
    with pytest.raises(DecodeFailure) as exc:
        decode_object(data)
    assert exc.value.reason == reason


def test_failure_never_carries_the_document():
    secret = b'{"ssn": "123-45-6789", "x": NaN}'
    with pytest.raises(DecodeFailure) as exc:
        decode_object(secret)
    assert "123-45-6789" not in str(exc.value) and "123-45-6789" not in repr(exc.value)
    assert exc.value.__cause__ is None and exc.value.__suppress_context__


def test_accepts_objects_with_whitespace_and_unicode():
    assert decode_object(b' \n{"name": "Zo\xc3\xab \xf0\x9f\x99\x82", "n": [1, 2.5, null]}\n ') == {
        "name": "Zoë 🙂",
        "n": [1, 2.5, None],
    }


def test_encode_line_is_one_newline_terminated_line():
    line = encode_line({"note": "a\nb", "x": 1})
    assert line.endswith(b"\n") and line.count(b"\n") == 1
