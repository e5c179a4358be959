"""The scrubber: the one place that decides, record by record, between the fast path and the
reference engine. The stream's batch handler and the batch command both use it.

The fast path (``privacy.fast``) takes the records it can prove acceptable; every other record is
the reference engine's (``privacy.engine``), on the same bytes, which rejects it with its precise
reason or applies its own handling. Keys come through the contract set's key port, handed to each
call: rotating a key (``rotate``) swaps the port and recompiles nothing.

A batch runs in two phases (``Batch``): each record is decoded and its subject read
(``prepare``); the key port then resolves all the batch's subjects at once (``resolve``: one bulk
lookup, and the creation of keys for new subjects); only then is each record transformed
(``finish``). If the port fails (its store or KMS is down), ``resolve`` raises and no record of
the batch is transformed: nothing is emitted in clear.
"""

from __future__ import annotations

from .codec import decode_object, encode_line
from .engine import CompiledContract, ContractSet
from .fast_select import FastContracts, Tails
from .keys import NO_SUBJECTS, KeyPort, Resolved


def _none(_raw, _forced=None) -> None:
    return None


class Scrubber:
    def __init__(self, contracts: ContractSet):
        self.contracts = contracts
        self.fast = FastContracts(contracts)

    @property
    def keys(self) -> KeyPort | None:
        return self.contracts.keys

    def rotate(self, keys: KeyPort) -> None:
        """Use ``keys`` from the next batch on: no plan is recompiled."""
        self.contracts.keys = keys

    def forget(self) -> None:
        """Drop what is remembered between records (pseudonyms, masked values, subjects' keys):
        outputs do not change, only the next batch's speed."""
        self.contracts.forget()
        self.fast.forget()

    def batch(self, redacted_at: str, forced: CompiledContract | None = None) -> Batch:
        """A batch of records redacted at ``redacted_at``, with the key port of the moment.
        ``forced``: apply that contract to every record, whatever it names."""
        return Batch(self, redacted_at, forced)


class Batch:
    """One batch's two phases. ``prepare(raw)`` (or ``prepare_all``) for every record: its
    subject is read (a head decode: the type, the version and the subject field); then
    ``resolve()`` once; then ``finish(raw)`` for each: ``(line, redacted)``, or
    ``DecodeFailure`` / ``Rejection`` for a record to quarantine. Each record is decoded for good
    and transformed in one go in phase 2 (while it is in the CPU's caches), by the fast path or,
    for what it declines, the reference engine. ``batch(raw)`` runs all three for one record
    (tests, tools). ``handed`` counts the records the fast path handed to the reference engine."""

    def __init__(self, scrubber: Scrubber, redacted_at: str, forced: CompiledContract | None):
        cs = scrubber.contracts
        self.tails = Tails(redacted_at)
        self.redacted_at = redacted_at
        self.keys = cs.keys
        self.pseudonyms = self.keys.pseudonyms if self.keys is not None else None
        self.subjects: Resolved = NO_SUBJECTS
        self.handed = 0
        self._ids: list = []
        self._cs = cs
        self._forced = forced
        # (a port without per-subject keys, the HMAC keyring alone, has nothing to resolve)
        self._subject_of = scrubber.fast.subject_of if getattr(self.keys, "per_subject", False) else _none
        if forced is None:
            self._fast = scrubber.fast.scrub
        else:
            plan = scrubber.fast.plans.get((forced.contract.type, forced.contract.version))
            self._fast = plan.scrub if plan is not None else None

    def prepare(self, raw: bytes) -> bytes:
        """Phase 1: note the record's subject. Never raises: a record that cannot be read fails
        in ``finish``, with its reason."""
        subject = self._subject_of(raw, self._forced)
        if subject is not None:
            self._ids.append(subject)
        return raw

    def prepare_all(self, raws: list[bytes | None]) -> list[bytes | None]:
        """``prepare`` of each record (None, a record that could not be read, is left out)."""
        subject_of, forced, note = self._subject_of, self._forced, self._ids.append
        if subject_of is _none:
            return raws
        for raw in raws:
            if raw is not None and (subject := subject_of(raw, forced)) is not None:
                note(subject)
        return raws

    def resolve(self) -> None:
        """Between the phases: the key port looks up (or creates) every subject's key at once.
        Raises if it cannot: the batch then fails whole, and nothing is emitted."""
        if self.keys is not None and self._ids:
            self.subjects = self.keys.resolve(self._ids)
        self._ids = []

    def finish(self, raw: bytes) -> tuple[bytes, bool]:
        """Phase 2: transform one record."""
        if self._fast is not None:
            try:
                return self._fast(raw, self.tails, self.pseudonyms, self.subjects)
            except Exception:  # noqa: BLE001 - not for the fast path: the reference engine decides
                pass  # (and its errors do not chain the fast path's, which may quote the record)
        self.handed += 1
        event = decode_object(raw)
        redacted = self._cs.apply(event, raw, self.redacted_at, contract=self._forced, subjects=self.subjects).redacted
        return encode_line(event), redacted

    def __call__(self, raw: bytes) -> tuple[bytes, bool]:
        self.prepare(raw)
        self.resolve()
        return self.finish(raw)
