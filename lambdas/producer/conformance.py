"""The producer's events must match their data contracts: the contracts are the source of truth.

The producer generates events from the contracts (``events.py``). At cold start it loads them
(the same compiled bundle ships with the scrubber), and each generated event is then validated
against its contract before it is sent: an event that does not conform (a generator hint at odds
with the field's own validations) is counted as failed, never sent. Events given to the producer
(an ``events`` payload) are checked the same way, against any contract the scrubber knows.
"""

from __future__ import annotations

import os
from pathlib import Path

from privacy.common import Rejection
from privacy.contract import Contract, load_bundle
from privacy.engine import CompiledContract
from privacy.files import load_contract_dir
from privacy.keys import Keyring

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
    def __init__(self, contracts: list[Contract], *, every_contract: bool = False):
        """``every_contract``: check events of every contract (events given to the producer), not
        only of those the producer generates."""
        wanted = list(contracts) if every_contract else [c for c in contracts if c.producible]
        if not wanted:
            raise RuntimeError("no contract says how to generate its events (generate: hints)")
        # Validation only: the keyring is a throwaway (nothing is pseudonymised here).
        keyring = Keyring({"check": os.urandom(32)}, "check")
        self.compiled = {(c.type, c.version): CompiledContract(c, keyring=keyring) for c in wanted}

    def check(self, event: dict) -> Contract:
        """Raise NonConformingEvent unless ``event`` matches its contract exactly; return the contract."""
        try:
            compiled = self.compiled[(event["event_type"], event["schema_version"])]
        except (KeyError, TypeError):
            raise NonConformingEvent("unknown_contract") from None
        try:
            applied = compiled.validate(event)
        except Rejection as exc:
            raise NonConformingEvent(exc.reason) from None
        if applied:  # the validator had to drop fields the contract does not declare
            raise NonConformingEvent("undeclared_field")
        return compiled.contract


def offending_field(contract: Contract, event: dict) -> str | None:
    """The first declared field whose generated value breaks one of its own validations (used at
    synth time to name the hint to fix; the value itself is never reported)."""
    from privacy.patterns import compile_pattern

    def values(node, parts):
        if not parts:
            yield node
            return
        head, rest = parts[0], parts[1:]
        each = head.endswith("[*]")
        key = head[:-3] if each else head
        if not isinstance(node, dict) or key not in node:
            return
        child = node[key]
        if each:
            for item in child if isinstance(child, list) else ():
                yield from values(item, rest)
        else:
            yield from values(child, rest)

    kinds = {"string": str, "date": str, "datetime": str, "integer": int, "number": (int, float), "boolean": bool,
             "object": dict, "array": list}
    for f in contract.fields:
        for v in values(event, f.path.split(".")):
            t = kinds.get(f.type)
            bad = (
                (t is not None and (not isinstance(v, t) or (f.type in ("integer", "number") and isinstance(v, bool))))
                or (f.max_length is not None and isinstance(v, (str, list)) and len(v) > f.max_length)
                or (f.pattern is not None and isinstance(v, str) and compile_pattern(f.pattern).search(v) is None)
                or (f.enum is not None and v not in f.enum)
                or (f.minimum is not None and isinstance(v, (int, float)) and v < f.minimum)
                or (f.maximum is not None and isinstance(v, (int, float)) and v > f.maximum)
            )
            if bad:
                return f.path
    return None
