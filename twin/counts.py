"""Counts of the twin's summary, read from what landed in S3.

"With consent" means: the event's subject consented to every purpose of the event's contract,
under that contract's consent model (a flag, or a list of purposes, granular or cumulative). It
is decided by the engine's own consent reader (``privacy.engine``), on each delivered line, for
the contract the line's provenance names; no consent rule is restated here.

The delivered line is what the scrubber wrote, so one more check guards against reading consent
from a value the scrubber did not act on (a consent key that appeared twice in the input, for
instance, comes out once): an event whose provenance records an action the engine takes only for
lack of consent, or a redacted consent value, is not counted as consented, whatever its consent
value says.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import orjson

META_FIELD = "_privacy"


@dataclass
class DeliveredCounts:
    delivered: int = 0
    redacted: int = 0
    consented: int = 0
    unreadable: int = 0  # lines that are not an object with provenance naming a known contract


class _Judge:
    """Per contract: its consent reader, and the provenance entries that mean "no consent"."""

    def __init__(self, compiled):
        self.consent = compiled.consent
        contract = compiled.contract
        self.consent_path = contract.consent.path
        # an action differing from the field's ``always`` action is only applied without consent
        self.lack_only = {
            f.path: f.pii.action for f in contract.fields if f.pii is not None and f.pii.action != f.pii.always
        }

    def consented_to_all(self, event: dict, line: bytes) -> bool:
        if self.consent.consented(event, line) != self.consent.all:
            return False
        applied = event[META_FIELD].get("applied")
        if not isinstance(applied, dict):
            return False
        for path, action in applied.items():
            if path == self.consent_path:
                return False  # a malformed consent value, redacted
            if type(action) is str and self.lack_only.get(path) == action.partition("+")[0]:
                return False
        return True


def count_delivered(bodies: Iterable[bytes], contract_set) -> DeliveredCounts:
    """Count delivered lines, redacted ones, and those whose subject consented to every purpose.

    ``contract_set``: a ``privacy.engine.ContractSet`` of the contracts the scrubber ran."""
    judges: dict[str, _Judge | None] = {}
    counts = DeliveredCounts()
    for body in bodies:
        for line in body.splitlines():
            counts.delivered += 1
            try:
                event = orjson.loads(line)
                ref = event[META_FIELD]["contract"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                ref = None
            if type(ref) is not str:
                counts.unreadable += 1
                continue
            if event.get("data_redacted") is True:
                counts.redacted += 1
            if ref not in judges:
                t, _, v = ref.partition("/")
                compiled = contract_set.compiled.get((t, v))
                judges[ref] = _Judge(compiled) if compiled is not None else None
            judge = judges[ref]
            if judge is None:
                counts.unreadable += 1
            elif judge.consented_to_all(event, line):
                counts.consented += 1
    return counts
