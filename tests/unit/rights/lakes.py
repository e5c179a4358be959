"""Lake records as the engine will write them for contracts that encrypt, made here until it does
(issue 11): each encrypted field sealed under its subject's key (``SubjectKey.seal``), the subject
field holding the key link, ``_privacy`` appended; objects as GZIP JSON lines under the data prefix.

The encrypting contracts are the shipped ones, with the fields that identify the person directly
(name, ssn, email, phone, address.street, address.city, dob) encrypted when the subject consented
(``always: encrypt``, the usual action otherwise), plus a field of each contract (``gender``, for every
purpose) encrypted without consent to all of them (``action: encrypt``), so that reveal meets
tokens whose subject did not consent. Free text is left out of the events (``without_free_text``):
scanning it is the engine's business, not the readers'.
"""

from __future__ import annotations

import copy
import gzip
import json
from dataclasses import replace
from datetime import UTC, datetime
from functools import cache

import orjson

from privacy.common import _segments
from privacy.consent import _ConsentReader
from privacy.sealed import sites
from privacy.subjects import SubjectKeys
from rights.records import ContractView, walk
from tests.conftest import CONFIG

REDACTED = CONFIG.contracts.redaction_token
DIRECT = ("name", "ssn", "email", "phone", "address.street", "address.city", "dob")
ALWAYS_SEALED = {"customer_signed_up": "gender", "order_placed": "gender", "health_form_submitted": "gender",
                 "tax_form_submitted": "gender"}


def encrypting(contract, *, deterministic=(), retention_days=None, always_sealed=None):
    """The contract with its direct identifiers encrypted with consent (redacted, masked... without)."""
    fields = []
    extra = always_sealed if always_sealed is not None else ALWAYS_SEALED.get(contract.type)
    for f in contract.fields:
        if f.pii is not None and f.path in DIRECT:
            f = replace(f, pii=replace(f.pii, always="encrypt",
                                       encrypt="deterministic" if f.path in deterministic else None))
        elif f.path == extra and f.pii is None:
            f = replace(f, pii=replace_pii(contract.purposes, "encrypt"))
        fields.append(f)
    return replace(contract, fields=tuple(fields), retention_days=retention_days)


def replace_pii(purposes, action):
    from privacy.contract import Pii

    return Pii(purposes=tuple(purposes), action=action)


@cache
def shipped():
    from stacks.config import load_contracts

    return load_contracts(CONFIG.contracts)


def encrypting_contracts(**kw):
    return [encrypting(c, **kw) if c.type != "legacy_consent" else c for c in shipped()]


def without_free_text(events, contracts):
    """The events without their free-text fields (``scan: true``)."""
    by_ref = {c.ref: c for c in contracts}
    for e in events:
        c = by_ref[f"{e['event_type']}/{e['schema_version']}"]
        for f in c.fields:
            if f.scan:
                for parent, key, _ in list(walk(e, _segments(f.path))):
                    del parent[key]
    return events


def lake_record(event: dict, contract, keys: SubjectKeys) -> dict:
    """``event`` as the scrubber will store it under ``contract`` (its encrypted fields only: the
    other actions are the engine's, and do not matter to the readers)."""
    rec = copy.deepcopy(event)
    view = ContractView(contract)
    consented = _ConsentReader(contract).consented(rec, None)
    subject = view.subject(rec)
    sk = keys.resolve([subject]).of(subject)
    applied = {}
    pii = {f.path: f.pii for f in contract.fields}
    for path, site in sites(contract).items():
        p = pii[path]
        act = p.always if set(p.purposes) <= consented else p.action
        for c, k, _ in walk(rec, view.segs[path]):
            if act == "encrypt" and not sk.forgotten:
                c[k] = sk.seal(c[k], site)
            elif act != "encrypt" and act is not None:
                c[k] = REDACTED
            applied[path] = act or "keep"
    view.set_subject(rec, sk.link if not sk.forgotten else REDACTED)
    rec["_privacy"] = {"contract": contract.ref, "applied": applied}
    return rec


def _line(record: dict) -> bytes:
    try:
        return orjson.dumps(record) + b"\n"
    except TypeError:  # an integer beyond 64 bits: as the scrubber writes it
        return json.dumps(record, separators=(",", ":")).encode() + b"\n"


def lake_object(records: list[dict]) -> bytes:
    return gzip.compress(b"".join(_line(r) for r in records), mtime=0)


def data_key(when: datetime, n: int = 0) -> str:
    return f"data/year={when:%Y}/month={when:%m}/day={when:%d}/hour={when:%H}/pii-scrub-delivery-1-{when:%Y-%m-%d-%H-%M-%S}-{n:08d}.gz"


def at(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 1, day, hour, tzinfo=UTC)
