"""The key table's items as DynamoDB attribute maps, and what a cancelled transaction says about them.

Schema (README "Per-subject keys"; the CDK stack and the offline twin create the same table):

* subject ``s#<lookup id>``: ``link`` (S), ``dk`` (B, the data key wrapped under the root), ``rv``
  (N, the root version);
* tombstone, same id: ``tomb`` (BOOL true), ``receipt`` (S), ``at`` (S, ISO time), no link or key;
* root ``root#<version>``: ``blob`` (B, KMS ciphertext of the 64-byte root secret);
* period ``p#<retention days>#<day>``: ``pk`` (B, wrapped), ``expires`` and ``ttl`` (N, epoch s).

Nothing here puts an id, a link or a key into an exception message: they name attributes and
counts only (lookup ids are HMACs of subject ids, still not for logs).
"""

from __future__ import annotations

import re
from typing import Any

from privacy.subjects import PeriodKey, Stored, Tombstone

GSI_BY_LINK = "by-link"
TTL_ATTRIBUTE = "ttl"
ROOT_PURPOSE = "pii-subject-keys-root"
ROOT_BYTES = 64
# Every expression names its attributes through placeholders: no reserved word can break one.
NAMES_ID = {"#id": "id"}
ABSENT = "attribute_not_exists(#id)"

# TransactWriteItems cancellation reasons (per item, in request order). "None": that item was fine
# but not written because another one failed; these are retried. ConditionalCheckFailed: an item
# exists (another writer's, or a tombstone). Anything else (ValidationError,
# ItemCollectionSizeLimitExceeded, codes added later) fails the call.
EXISTS = "ConditionalCheckFailed"
RETRIED_REASONS = frozenset({"None", "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded",
                             "RequestLimitExceeded"})
CONTENDED_REASONS = RETRIED_REASONS - {"None"}  # these back off before the retry
_REASONS_IN_MESSAGE = re.compile(r"\[([A-Za-z, ]*)\]\s*$")


class KeyStoreError(RuntimeError):
    """The key store cannot give an answer (retries exhausted, an item it cannot read). The
    message names operations, attributes and counts: never an id, a link or a key."""


class RootMissing(KeyStoreError):
    """A reader asked for a root secret that no scrubber has created yet."""

    def __init__(self, version: int):
        super().__init__(f"the key table holds no root secret of version {version} (the scrubber creates it "
                         "with its first batch of subjects); nothing can have been sealed under it")
        self.version = version


def root_id(version: int) -> str:
    return f"root#{version}"


# Written with the first root of a version: the table has keyed subjects under a root. A root missing while it is
# there was deleted, not never made, and a new root would change every lookup id at once, so every
# tombstone would stop fencing its subject: the scrubber refuses to make one (RootLost).
def keyed_id(version: int) -> str:
    return f"meta#keyed#{version}"


class RootLost(KeyStoreError):
    def __init__(self, version: int):
        super().__init__(f"the key table lost its root secret of version {version} (its subjects and tombstones are "
                         "keyed under it): refusing to create a new one, which would let every forgotten subject be "
                         "keyed again; restore the root item from a backup")
        self.version = version


def period_id(days: int, day: int) -> str:
    return f"p#{days}#{day}"


def root_context(version: int) -> dict[str, str]:
    """The KMS encryption context of a root secret: its ciphertext opens for this version only."""
    return {"purpose": ROOT_PURPOSE, "version": str(version)}


def key(id: str) -> dict[str, dict[str, str]]:
    return {"id": {"S": id}}


def subject_item(id: str, stored: Stored) -> dict[str, dict[str, Any]]:
    return {"id": {"S": id}, "link": {"S": stored.link}, "dk": {"B": stored.wrapped}, "rv": {"N": str(stored.root_version)}}


def period_item(id: str, pk: PeriodKey) -> dict[str, dict[str, Any]]:
    expires = {"N": str(int(pk.expires))}
    return {"id": {"S": id}, "pk": {"B": pk.wrapped}, "expires": expires, TTL_ATTRIBUTE: expires}


def subject(item: dict[str, Any]) -> Stored | Tombstone:
    """A subject's item as the port knows it; an item that is neither fails (never guessed at)."""
    tomb = item.get("tomb")
    if tomb is not None and tomb.get("BOOL") is True:
        return Tombstone(item.get("receipt", {}).get("S", ""), item.get("at", {}).get("S", ""))
    try:
        return Stored(item["link"]["S"], bytes(item["dk"]["B"]), int(item["rv"]["N"]))
    except (KeyError, TypeError, ValueError):
        raise KeyStoreError("a subject item of the key table has neither a tombstone nor link, dk and rv") from None


def stored(item: dict[str, Any]) -> Stored | None:
    """The Stored of an item found by its link (None if it is no longer one: forgotten)."""
    found = subject(item)
    return found if isinstance(found, Stored) else None


def period_key(item: dict[str, Any]) -> PeriodKey:
    try:
        return PeriodKey(bytes(item["pk"]["B"]), int(item["expires"]["N"]))
    except (KeyError, TypeError, ValueError):
        raise KeyStoreError("a period item of the key table lacks pk or expires") from None


def cancellation_reasons(response: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """One reason per item of a cancelled transaction. DynamoDB returns them in the error's
    ``CancellationReasons`` (botocore keeps them in the response, moto 5 too, with the item of a
    failed condition when ReturnValuesOnConditionCheckFailure is ALL_OLD); the codes are also in
    the message ("... specific reasons [None, ConditionalCheckFailed]"), the fallback."""
    reasons = response.get("CancellationReasons")
    if isinstance(reasons, list) and len(reasons) == count:
        return reasons
    match = _REASONS_IN_MESSAGE.search(response.get("Error", {}).get("Message", "") or "")
    codes = [c.strip() for c in match.group(1).split(",")] if match else []
    if len(codes) != count:
        raise KeyStoreError(f"TransactWriteItems was cancelled without a reason for each of its {count} items")
    return [{"Code": c} for c in codes]


# On-demand request units (the cost estimate, ``twin.cost``): a strongly consistent read takes one
# read unit per 4 KB of the item, a missing item one; a write one write unit per 1 KB, twice that
# in a transaction. Each stored item carries 100 bytes of overhead, in the table and in an index.
READ_UNIT_BYTES = 4096
WRITE_UNIT_BYTES = 1024
ITEM_OVERHEAD_BYTES = 100


def item_bytes(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB bills it: each attribute's name (UTF-8) and value; a number
    takes 1 byte per two significant digits and 1 more. The key table's types only (S, B, N,
    BOOL, NULL): another fails, named by its attribute."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        (kind, v), = value.items()
        if kind == "S":
            size += len(v.encode())
        elif kind == "B":
            size += len(v)
        elif kind == "N":
            digits = v.lstrip("-").replace(".", "").strip("0") or "0"
            size += (len(digits) + 1) // 2 + 1
        elif kind in ("BOOL", "NULL"):
            size += 1
        else:
            raise KeyStoreError(f"attribute {name} has type {kind}, which the key table never holds")
    return size


def units(size: int, unit: int) -> int:
    """Request units of an item of ``size`` bytes (at least one)."""
    return max(1, -(-size // unit))


def error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return response.get("Error", {}).get("Code", "")


def retry_attempts(response: dict[str, Any] | None) -> int:
    """The retries botocore made before this response (0 for a fake client's answer)."""
    if not response:
        return 0
    attempts = response.get("ResponseMetadata", {}).get("RetryAttempts", 0)
    return attempts if type(attempts) is int else 0
