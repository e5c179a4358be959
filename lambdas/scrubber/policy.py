"""Consent policy: which profile applies to an event, and what a profile does without consent.

Pure domain code: no AWS, no logging. The rules, all fail-closed:

* A record keeps its personal data only if its consent field is the JSON value ``true``. Absent,
  ``null``, ``false``, ``"true"``, ``1``, a list: all are no consent.
* Without consent every sensitive field that is present becomes the redaction token, whatever its
  type, and ``data_redacted: true`` and a UTC ``redacted_at`` are added.
* Consent must also be unambiguous: if the consent key appears more than once at the top level
  (``{"c": false, "c": true}``), parsers disagree on its value, so it is no consent.
* An event whose type field names no profile, or whose type field is not a string, cannot be
  scrubbed safely and is rejected (it goes to quarantine, never through as plaintext).
* A profile may list every field its events can carry (``known_fields``); an event with any other
  top-level field is rejected. The default profile for untyped events does, so a typed event that
  lost its type field cannot slip through under the weaker legacy rules.
* Sensitive field names match case-insensitively (``EMAIL`` is redacted like ``email``): Athena and
  Glue read JSON keys case-insensitively, so a variant spelling would land in the same column.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

UNKNOWN_EVENT_TYPE = "unknown_event_type"
UNDECLARED_FIELD = "undeclared_field"
INVALID_EVENT_TYPE = "invalid_event_type"
MISSING_EVENT_TYPE = "missing_event_type"


class PolicyRejection(Exception):
    __slots__ = ("reason",)

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _top_level_key_count(raw: bytes, key: str) -> int:
    """How many times ``key`` occurs among the top-level keys of the JSON object in ``raw``.

    The slow, exact path (stdlib parser, pairs hook): only for the rare record whose bytes do not
    prove by inspection that the consent key occurs once.
    """
    depth_counts: list[int] = []

    def hook(pairs):
        depth_counts.append(sum(1 for k, _ in pairs if k == key))
        return None

    try:
        json.loads(raw, object_pairs_hook=hook)
    except RecursionError:
        return 2  # deeper than the stdlib parser goes: cannot prove it unambiguous, so it is not
    return depth_counts[-1]  # the outermost object is completed last


@dataclass(frozen=True)
class Profile:
    name: str
    consent_field: str
    sensitive_fields: tuple[str, ...]
    known_fields: frozenset | None = None
    consent_literal: bytes = field(init=False, repr=False, compare=False)
    _folded: frozenset = field(init=False, repr=False, compare=False)
    _memo: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "consent_literal", json.dumps(self.consent_field).encode("utf-8"))
        object.__setattr__(self, "_folded", frozenset(f.casefold() for f in self.sensitive_fields))
        object.__setattr__(self, "_memo", {})

    def consents(self, event: dict, raw: bytes) -> bool:
        """True only if the consent field is the JSON value true, and unambiguously so."""
        if event.get(self.consent_field) is not True:
            return False
        # Without escapes the key can only be spelt one way, and a literal inside a string value
        # would have its quotes escaped; so exactly one literal occurrence means one key.
        if b"\\u" not in raw and raw.count(self.consent_literal) == 1:
            return True
        return _top_level_key_count(raw, self.consent_field) == 1

    def apply(self, event: dict, token: str, redacted_at: str, raw: bytes | None = None) -> bool:
        """Scrub ``event`` in place. Returns True when it was redacted."""
        if self.known_fields is not None and not event.keys() <= self.known_fields:
            raise PolicyRejection(UNDECLARED_FIELD)
        if self.consents(event, raw if raw is not None else json.dumps(event).encode()):
            return False
        memo = self._memo
        for k in event:
            hit = memo.get(k)
            if hit is None:
                hit = k.casefold() in self._folded
                if len(memo) < 4096:  # field names repeat; bound the memo against hostile keys
                    memo[k] = hit
            if hit:
                event[k] = token
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
            known = rp.get("known_fields")
            p = Profile(
                rp["name"],
                rp["consent_field"],
                tuple(rp["sensitive_fields"]),
                frozenset(known) | {rp["consent_field"]} | set(rp["sensitive_fields"]) if known else None,
            )
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

    def scrub(self, event: dict, redacted_at: str, raw: bytes | None = None) -> bool:
        """Scrub ``event`` (parsed from ``raw``) in place; True when redacted. Raises PolicyRejection."""
        return self.resolve(event).apply(event, self.token, redacted_at, raw)


_MISSING = object()
