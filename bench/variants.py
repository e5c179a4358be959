"""Contenders beside the shipped handler, for comparison in the same run (never shipped):

* the handler with the same contracts but nothing encrypted (``always: encrypt`` removed: with
  consent a field is kept in clear, as before issue 11), so what sealing costs is measured as a
  ratio on the same batches rather than estimated;
* the handler with its subjects' AEADs replaced by one that returns the plaintext and a zero tag
  (``without_aead``): every token is still built (nonce, associated data, base64, header), so the
  gap between it and ``plain`` is what the token path costs besides the cipher itself;
* the handler's core building its response with Powertools' Firehose response data classes.
"""

from __future__ import annotations

import copy
import os
import tempfile
from pathlib import Path


def _without_encryption(raw: dict) -> dict:
    doc = copy.deepcopy(raw)
    doc.pop("retention_days", None)
    for spec in (doc.get("fields") or {}).values():
        pii = spec.get("pii") if isinstance(spec, dict) else None
        if isinstance(pii, dict) and pii.get("always") == "encrypt":
            pii.pop("always")
            pii.pop("encrypt", None)
    return doc


def plain_handler(keyring: str, contracts_config):
    """The deployed handler over the shipped contracts with their encryption removed."""
    from privacy.contract import bundle_json, parse_contract
    from privacy.memory_store import MemoryKeyStore
    from scrubber.handler import make_handler
    from scrubber.settings import Settings
    from stacks.config import load_contracts

    plain = [parse_contract(_without_encryption(c.raw), c.source) for c in load_contracts(contracts_config)]
    assert not any(f.pii is not None and "encrypt" in (f.pii.action, f.pii.always) for c in plain for f in c.fields)
    bundle = Path(tempfile.gettempdir()) / f"pii-scrub-bench-plain-contracts.{os.getpid()}.json"
    bundle.write_text(bundle_json(plain), encoding="utf-8")
    settings = Settings(env={**os.environ, "CONTRACTS_FILE": str(bundle)}, secret=lambda: keyring, store=MemoryKeyStore())
    return make_handler(settings=settings), settings


_TAG = bytes(16)


class _NoGcm:
    """AES-GCM's shape, no cipher: the plaintext and a zero tag (measurement only)."""

    __slots__ = ()

    def encrypt(self, _nonce: bytes, data: bytes, _aad: bytes) -> bytes:
        return data + _TAG


class _NoSiv:
    """AES-SIV's shape, no cipher (measurement only)."""

    __slots__ = ()

    def encrypt(self, data: bytes, _aad: list) -> bytes:
        return data + _TAG


def without_aead(resolved) -> None:
    """Replace the AEADs of resolved subjects' keys (``SubjectKeys.resolve``'s answer) by ones
    that do not encrypt: every inline and slow-path seal still builds its whole token."""
    gcm, siv = _NoGcm(), _NoSiv()
    for sk in resolved.values():
        if sk.cipher is None:
            continue
        sk.gcm, sk.siv = gcm, siv
        sk.cipher.gcm, sk.cipher._siv = gcm, siv
        sk.pk = {days: (*held[:4], gcm, siv, *held[6:]) for days, held in sk.pk.items()}
        for _day, cipher in sk._by_day.values():
            cipher.gcm, cipher._siv = gcm, siv
        sk._heads.clear()


def powertools_response_variant(settings):
    """The handler core with Powertools' response data classes, to measure what they cost."""
    from aws_lambda_powertools.utilities.data_classes.kinesis_firehose_event import (
        KinesisFirehoseDataTransformationRecord,
        KinesisFirehoseDataTransformationResponse,
    )

    from scrubber.batch import process_records
    from scrubber.handler import utc_now

    def run(event, _ctx=None):
        res = process_records(event["records"], settings.scrubber(), utc_now())
        resp = KinesisFirehoseDataTransformationResponse()
        for r in res.records:
            resp.add_record(KinesisFirehoseDataTransformationRecord(record_id=r["recordId"], result=r["result"], data=r["data"]))
        return resp.asdict()

    return run
