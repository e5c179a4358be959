"""The scrubber: the one place that decides, record by record, between the fast path and the
reference engine. The stream's batch handler and the batch command both use it.

The fast path (``privacy.fast``) takes the records it can prove acceptable; every other record is
the reference engine's (``privacy.engine``), on the same bytes, which rejects it with its precise
reason or applies its own handling. Keys come through the contract set's key port, handed to each
call: rotating a key (``rotate``) swaps the port and recompiles nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from .codec import decode_object, encode_line
from .engine import CompiledContract, ContractSet
from .fast_select import FastContracts, Tails
from .keys import KeyPort


class Scrubber:
    def __init__(self, contracts: ContractSet):
        self.contracts = contracts
        self.fast = FastContracts(contracts)
        self._forced: dict[tuple[str, str], object] = {}

    @property
    def keys(self) -> KeyPort | None:
        return self.contracts.keys

    def rotate(self, keys: KeyPort) -> None:
        """Use ``keys`` from the next record on: no plan is recompiled."""
        self.contracts.keys = keys

    def forget(self) -> None:
        """Drop what is remembered between records (pseudonyms, masked values): outputs do not
        change, only the next batch's speed."""
        self.contracts.forget()
        self.fast.forget()

    def batch(self, redacted_at: str, forced: CompiledContract | None = None) -> Callable[[bytes], tuple[bytes, bool]]:
        """The scrub of one batch's records (redacted at ``redacted_at``, with the key port of the
        moment): ``scrub(raw) -> (line, redacted)``, raising ``DecodeFailure`` or ``Rejection`` for
        a record to quarantine; ``scrub.handed[0]`` counts the records the fast path handed to the
        reference engine. ``forced``: apply that contract to every record, whatever it names. A
        closure: it runs once per record, its constants at hand."""
        tails = Tails(redacted_at)
        keys = self.contracts.keys
        pseudonyms = keys.pseudonyms if keys is not None else None
        if forced is None:
            fast = self.fast.scrub
        else:
            plan = self.fast.plans.get((forced.contract.type, forced.contract.version))
            fast = plan.scrub if plan is not None else None
        apply = self.contracts.apply
        handed = [0]

        def scrub(raw: bytes) -> tuple[bytes, bool]:
            if fast is not None:
                try:
                    return fast(raw, tails, pseudonyms)
                except Exception:  # noqa: BLE001 - not for the fast path: the reference engine decides
                    pass  # (and its errors do not chain the fast path's, which may quote the record)
            handed[0] += 1
            event = decode_object(raw)
            redacted = apply(event, raw, redacted_at, contract=forced).redacted
            return encode_line(event), redacted

        scrub.handed = handed  # type: ignore[attr-defined]
        return scrub
