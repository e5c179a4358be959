"""A field's personal-data declaration, as parsed: the action without consent, the action with
it, and the actions' parameters (``actions.REGISTRY`` says which action takes which)."""

from __future__ import annotations

from dataclasses import dataclass

MASKS = ("ssn", "email", "phone", "card", "last4")
GENERALISATIONS = ("year", "age_band", "prefix", "day")
ENCRYPTIONS = ("random", "deterministic")


@dataclass(frozen=True)
class Pii:
    purposes: tuple[str, ...]
    action: str  # applied without consent
    always: str | None = None  # applied even with consent (e.g. pseudonymise the user id)
    mask: str | None = None
    mask_regex: str | None = None
    mask_format: str | None = None
    generalise: str | None = None
    band: int = 10
    prefix: int = 3
    encrypt: str | None = None  # with an encrypt action: "random" (AES-GCM, the default) or "deterministic" (AES-SIV)
