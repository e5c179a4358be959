"""Where a contract seals values: its encrypted fields, as token sites (names only, no keys)."""

from __future__ import annotations

from .contract import Contract
from .tokens import Site, site


def sites(contract: Contract) -> dict[str, Site]:
    """path -> Site of every field the contract encrypts (with or without consent)."""
    out = {}
    for f in contract.fields:
        p = f.pii
        if p is not None and "encrypt" in (p.action, p.always):
            out[f.path] = site(contract.type, f.path, p.encrypt == "deterministic", contract.retention_days)
    return out
