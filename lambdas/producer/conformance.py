"""The producer's events must match their data contracts: the contracts are the source of truth.

At cold start every event type the producer emits must have a contract at the version it emits;
each generated event is then validated against it before it is sent (an event that does not
conform is counted as failed, never sent). The same compiled bundle ships with the scrubber.
"""

from __future__ import annotations

import os
from pathlib import Path

from privacy.contract import Contract, load_bundle, load_contract_dir
from privacy.engine import CompiledContract, Keyring, Rejection

from .events import EVENT_VERSIONS

_REPO_CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"


class NonConformingEvent(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def load_contracts() -> list[Contract]:
    path = os.environ.get("CONTRACTS_FILE")
    if path:
        return load_bundle(Path(path).read_text(encoding="utf-8"))
    return load_contract_dir(_REPO_CONTRACTS)  # running from the repository


class Conformance:
    def __init__(self, contracts: list[Contract]):
        by_ref = {(c.type, c.version): c for c in contracts}
        wanted = [(t, v) for t, versions in EVENT_VERSIONS.items() for v in versions]
        missing = [f"{t}/{v}" for t, v in wanted if (t, v) not in by_ref]
        if missing:
            raise RuntimeError(f"no contract for {', '.join(missing)}")
        # Validation only: the keyring is a throwaway (nothing is pseudonymised here).
        keyring = Keyring({"check": os.urandom(32)}, "check")
        self.compiled = {k: CompiledContract(by_ref[k], keyring=keyring) for k in wanted}

    def check(self, event: dict) -> None:
        """Raise NonConformingEvent unless ``event`` matches its contract exactly."""
        try:
            applied = self.compiled[(event["event_type"], event["schema_version"])].validate(event)
        except Rejection as exc:
            raise NonConformingEvent(exc.reason) from None
        if applied:  # the validator had to drop fields the contract does not declare
            raise NonConformingEvent("undeclared_field")
