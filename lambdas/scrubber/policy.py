"""Consent policy: which profile applies to an event, and what a profile does without consent.

Pure domain code: no AWS, no logging. The rules, all fail-closed:

* A record keeps its personal data only if its consent field is the JSON value ``true``. Absent,
  ``null``, ``false``, ``"true"``, ``1``, a list: all are no consent.
* Without consent every sensitive field that is present becomes the redaction token, whatever its
  type, and ``data_redacted: true`` and a UTC ``redacted_at`` are added.
* An event whose type field names no profile, or whose type field is not a string, cannot be
  scrubbed safely and is rejected (it goes to quarantine, never through as plaintext).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

UNKNOWN_EVENT_TYPE = "unknown_event_type"
INVALID_EVENT_TYPE = "invalid_event_type"
MISSING_EVENT_TYPE = "missing_event_type"


class PolicyRejection(Exception):
    __slots__ = ("reason",)

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Profile:
    name: str
    consent_field: str
    sensitive_fields: tuple[str, ...]

    def apply(self, event: dict, token: str, redacted_at: str) -> bool:
        """Scrub ``event`` in place. Returns True when it was redacted."""
        if event.get(self.consent_field) is True:
            return False
        for f in self.sensitive_fields:
            if f in event:
                event[f] = token
        event["data_redacted"] = True
        event["redacted_at"] = redacted_at
        return True


class Policy:
    """Resolves an event to its Profile and applies it."""

    def __init__(
        self,
        profiles: list[Profile],
        by_type: Mapping[str, Profile],
        default: Profile | None,
        type_field: str,
        token: str,
    ):
        self.profiles = profiles
        self.by_type = dict(by_type)
        self.default = default
        self.type_field = type_field
        self.token = token

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "Policy":
        profiles: list[Profile] = []
        by_type: dict[str, Profile] = {}
        for rp in raw["profiles"]:
            p = Profile(rp["name"], rp["consent_field"], tuple(rp["sensitive_fields"]))
            profiles.append(p)
            for t in rp.get("event_types", ()):
                by_type[t] = p
        names = {p.name: p for p in profiles}
        default_name = raw.get("default_profile")
        default = names[default_name] if default_name is not None else None
        return cls(profiles, by_type, default, raw["type_field"], raw["redaction_token"])

    @classmethod
    def from_json(cls, text: str) -> "Policy":
        return cls.from_dict(json.loads(text))

    def resolve(self, event: dict) -> Profile:
        etype = event.get(self.type_field, _MISSING)
        if etype is _MISSING:
            if self.default is None:
                raise PolicyRejection(MISSING_EVENT_TYPE)
            return self.default
        if type(etype) is not str:
            raise PolicyRejection(INVALID_EVENT_TYPE)
        p = self.by_type.get(etype)
        if p is None:
            raise PolicyRejection(UNKNOWN_EVENT_TYPE)
        return p

    def scrub(self, event: dict, redacted_at: str) -> bool:
        """Scrub ``event`` in place; returns True when redacted. Raises PolicyRejection."""
        return self.resolve(event).apply(event, self.token, redacted_at)


_MISSING = object()
