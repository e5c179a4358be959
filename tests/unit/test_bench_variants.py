"""The benchmark's comparison contenders measure what they say: the shipped handler seals, the
no-AEAD variant builds the same tokens without a cipher, the plain variant seals nothing."""

from __future__ import annotations

import base64
import json
import os

import pytest

import bench.__main__ as bench
from bench.variants import plain_handler, without_aead
from privacy.tokens import is_token


@pytest.fixture(autouse=True)
def _environment():
    """The benchmark sets the scrubber's environment in os.environ: put it back after."""
    saved = dict(os.environ)
    bench._prepare_scrubber_env()
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="module")
def event():
    return bench.build_event(batch_bytes=60_000, seed=7)


def _outputs(handler, event):
    with bench.stdout_to_devnull():
        resp = handler(event, bench.Ctx())
    assert [r["recordId"] for r in resp["records"]] == [r["recordId"] for r in event["records"]]
    assert {r["result"] for r in resp["records"]} == {"Ok"}
    return [json.loads(base64.b64decode(r["data"])) for r in resp["records"]]


def _tokens(records):
    out = []
    for rec in records:
        for value in (rec.get("name"), rec.get("ssn"), rec.get("phone"), (rec.get("address") or {}).get("street")):
            if is_token(value):
                out.append(value)
    return out


def _body(token: str) -> bytes:
    body = token.rpartition(".")[2]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))


def test_the_shipped_handler_seals_and_the_no_aead_variant_only_shapes_tokens(event):
    inputs = [json.loads(base64.b64decode(r["data"])) for r in event["records"]]
    names = {i["name"].encode() for i in inputs if i.get("name")}
    handler, settings = bench._handler()
    bench.warm_keys(settings, event)
    sealed = _tokens(_outputs(handler, event))
    no_aead, no_settings = bench._handler()
    without_aead(bench.warm_keys(no_settings, event))
    shaped = _tokens(_outputs(no_aead, event))
    assert sealed and len(sealed) == len(shaped)
    # same token shapes: header and length, so the same output size
    assert [(t.rpartition(".")[0], len(t)) for t in sealed] == [(t.rpartition(".")[0], len(t)) for t in shaped]
    # the no-op's bodies are nonce + plaintext + zero tag; the real ones hold no plaintext
    assert any(_body(t)[12:-16] in names for t in shaped)
    assert not any(_body(t)[12:-16] in names for t in sealed)
    assert all(_body(t).endswith(bytes(16)) for t in shaped)


def test_the_plain_variant_seals_nothing(event):
    handler, settings = plain_handler(bench.BENCH_KEYRING, bench.CONFIG.contracts)
    bench.warm_keys(settings, event)
    assert _tokens(_outputs(handler, event)) == []
