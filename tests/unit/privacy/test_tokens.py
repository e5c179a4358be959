"""Tokens (privacy.tokens): any JSON value round-trips; a token moved to another field, event type
or subject, or altered in any byte, fails to open with a reason, never as a wrong plaintext; and
the overhead per value stays within 64 bytes for the values the contracts seal."""

from __future__ import annotations

import os
import statistics

import pytest
from faker import Faker
from hypothesis import given
from hypothesis import strategies as st

from privacy import tokens
from privacy.subjects import SubjectKey
from privacy.tokens import Cipher, TokenError, is_token, parse, site

KEY = os.urandom(32)
LINK, OTHER = b"k:AAAAAAAAAAAAAAAAAAAAAA", b"k:BBBBBBBBBBBBBBBBBBBBBB"
NAME = site("customer_signed_up", "name")
JSON = st.recursive(st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
                    | st.text(), lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
                    max_leaves=8)


@given(value=JSON, deterministic=st.booleans(), period=st.none() | st.integers(0, 99999))
def test_any_json_value_round_trips(value, deterministic, period):
    s = site("t", "f", deterministic, 30 if period is not None else None)
    token = Cipher(KEY).seal(value, s, LINK, period)
    assert is_token(token) and token.isascii() and '"' not in token and "\\" not in token
    assert Cipher(KEY).open(token, s, LINK) == value
    assert parse(token).period == period


@given(value=st.text(min_size=1), deterministic=st.booleans())
def test_a_token_moved_or_altered_fails_to_open(value, deterministic):
    s = site("customer_signed_up", "name", deterministic)
    token = Cipher(KEY).seal(value, s, LINK)
    c = Cipher(KEY)
    for other_site, link in ((site("customer_signed_up", "email", deterministic), LINK),  # another field
                             (site("order_placed", "name", deterministic), LINK),  # another event type
                             (s, OTHER)):  # another subject
        with pytest.raises(TokenError) as exc:
            c.open(token, other_site, link)
        assert exc.value.reason == "tampered"
    with pytest.raises(TokenError):
        Cipher(os.urandom(32)).open(token, s, LINK)  # another key (a forgotten one's successor)
    # every header character and a flipped body character
    for i in range(1, len(token)):
        for ch in ("g", "d", "s", "j", "2", ".", "A", "-"):
            if token[i] == ch:
                continue
            bad = token[:i] + ch + token[i + 1:]
            got_reason, got = _open(c, bad, s)
            if got_reason is None:  # only base64 that decodes to the same bytes (its last character's unused bits)
                assert got == value and i == len(token) - 1
            else:
                assert got_reason in ("malformed", "tampered", "unknown_version")


@pytest.mark.parametrize("header", ["~gs\u00b2.", "~gs1.\u00b2.", "~gs\u0661.", "~gs1." + "9" * 5000 + "."])
def test_a_header_with_digits_int_cannot_read_is_malformed_not_a_crash(header):
    token = Cipher(KEY).seal("Jane", NAME, LINK)
    with pytest.raises(TokenError) as exc:
        parse(header + token.rpartition(".")[2])
    assert exc.value.reason == "malformed"


def _open(c, token, s):
    """(reason, None) for a token that does not open, (None, value) for one that does."""
    try:
        return None, c.open(token, s, LINK)
    except TokenError as exc:
        return exc.reason, None


def test_subject_key_seal_is_cipher_seal():
    """The hot path's sealing (headers and associated data made once) gives tokens the plain
    Cipher opens, and the reverse."""
    sk = SubjectKey(LINK.decode(), KEY)
    for s in (NAME, site("t", "email", True)):
        for v in ("Jane Doe", 1990, None, {"a": [1, 2]}):
            assert Cipher(KEY).open(sk.seal(v, s), s, LINK) == v
            assert Cipher(KEY).open(Cipher(KEY).seal(v, s, LINK), s, LINK) == v
    assert sk.seal("x@y.z", site("t", "email", True)) == Cipher(KEY).seal("x@y.z", site("t", "email", True), LINK)


def test_the_overhead_per_value_is_at_most_64_bytes_for_the_sealed_fields():
    fake = Faker(["en_US", "en_GB", "de_DE", "fr_FR", "nl_NL"])
    fake.seed_instance(11)
    values = [v for _ in range(500) for v in (fake.name(), fake.ssn() if hasattr(fake, "ssn") else fake.bothify("###-##-####"),
                                              fake.email(), fake.phone_number(), fake.street_address(), fake.city(),
                                              fake.date_of_birth().isoformat())]
    c = Cipher(KEY)
    for s, period in ((NAME, None), (site("t", "email", True), None), (site("t", "name", False, 730), 20788)):
        overhead = [len(c.seal(v, s, LINK, period)) - len(v.encode()) for v in values]
        assert max(overhead) <= 64, (s, max(overhead))
        assert statistics.median(overhead) <= 56


@pytest.fixture
def real_nonces(monkeypatch):
    """The module's own nonce stream (test_fast fixes nonces for its byte-for-byte comparisons)."""
    monkeypatch.setattr(tokens, "_nonce", tokens._nonce_stream())


def test_nonces_are_fresh_and_never_repeat_across_pool_refills(real_nonces):
    drawn = [tokens._nonce() for _ in range(3 * tokens.NONCE_POOL + 7)]  # across three refills
    assert all(type(n) is bytes and len(n) == 12 for n in drawn)
    assert len(set(drawn)) == len(drawn)


def test_a_forked_child_never_reuses_the_nonces_its_parent_holds(real_nonces):
    tokens._nonce()  # the parent's pool is filled: its next nonces are in memory
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first nonces, to the parent
        try:
            os.write(w, b"".join(tokens._nonce() for _ in range(64)))
        finally:
            os._exit(0)
    os.close(w)
    child = b""
    while chunk := os.read(r, 4096):
        child += chunk
    os.close(r)
    os.waitpid(pid, 0)
    parent = {tokens._nonce() for _ in range(64)}
    assert len(child) == 64 * 12
    assert not parent & {child[i:i + 12] for i in range(0, len(child), 12)}
