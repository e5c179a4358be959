"""The erasure receipt: what a forget did, what it destroyed, and how long anything else may still
open the subject's data. JSON, at ``receipts/<yyyy>/<mm>/<dd>/<receipt id>.json``.

It holds no identifier of the subject: not their id, not their lookup id (the HMAC the key table
is keyed by), not their key link (which their records in the lake still carry). Its id is random;
the tombstone left under the subject's lookup id names it, so a second forget of the same subject
finds it, and nobody holding only the receipt can find the subject.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

RECEIPTS_PREFIX = "receipts/"
FORGOTTEN = "forgotten"  # the subject had a key: destroyed now
NO_KEY = "no_key"  # nothing to destroy: no event of theirs was ever keyed
ALREADY = "already_forgotten"  # destroyed by an earlier forget (named)
DESTROYED = ("data key", "key link", "lookup mapping")


@dataclass(frozen=True)
class Retention:
    """How long a destroyed key can live on elsewhere, as configured (the receipt states it)."""

    cache_ttl_s: int = 300  # SUBJECT_KEYS_CACHE_TTL_S: a warm scrubber's key cache
    pitr_days: int = 0  # SUBJECT_KEYS_PITR_DAYS: point-in-time recovery of the key table (0: off)
    stream_retention_hours: int | None = None  # the source stream keeps raw events this long
    quarantine_days: int | None = None  # the lake's quarantine keeps raw records this long


def iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds").replace("+00:00", "Z")


def receipt_key(receipt_id: str, at: datetime) -> str:
    return f"{RECEIPTS_PREFIX}{at:%Y/%m/%d}/{receipt_id}.json"


def _caches(outcome: str, destroyed_at: datetime, r: Retention) -> dict:
    if outcome == NO_KEY:
        return {"ttl_seconds": r.cache_ttl_s, "until": None, "statement": "no key existed: no scrubber holds one"}
    until = destroyed_at + timedelta(seconds=r.cache_ttl_s)
    return {"ttl_seconds": r.cache_ttl_s, "until": iso(until),
            "statement": f"a warm scrubber may still hold the key for up to {r.cache_ttl_s} seconds after it was "
                         f"destroyed (until {iso(until)}) and seal the subject's new events under it, and a batch "
                         "that began by then runs to its end with it (at most the scrubber's timeout); "
                         "no scrubber holds it after that"}


def _backups(outcome: str, destroyed_at: datetime, r: Retention) -> dict:
    if outcome == NO_KEY:
        return {"point_in_time_recovery_days": r.pitr_days, "until": None,
                "statement": "no key existed: no backup of the key table holds one"}
    if r.pitr_days == 0:
        return {"point_in_time_recovery_days": 0, "until": None,
                "statement": "point-in-time recovery of the key table is off: no continuous backup of the key table holds "
                             "the key (on-demand backups are not made by the pipeline: any an operator made keep it "
                             "until they are deleted)"}
    until = destroyed_at + timedelta(days=r.pitr_days)
    return {"point_in_time_recovery_days": r.pitr_days, "until": iso(until),
            "statement": f"the key table's point-in-time recovery keeps the key restorable from backups until "
                         f"{iso(until)} ({r.pitr_days} days), after which no backup holds it"}


def _lake(outcome: str) -> dict:
    if outcome == NO_KEY:
        statement = ("no record in the lake was encrypted under a key of this subject; the lake's objects are not "
                     "rewritten")
    else:
        statement = ("the lake's objects are not rewritten: the subject's encrypted fields stay there, and in every "
                     "copy and backup of the lake, as ciphertext that no key opens; their records keep the key link as "
                     "a pseudonym that nothing ties to the subject's id any more, and every field the contracts did "
                     "not encrypt (kept in clear with consent, generalised, masked or redacted, or not personal data) "
                     "stays as it was written")
    return {"rewritten": False, "statement": statement}


def _elsewhere(r: Retention) -> list[str]:
    stream = (f"for up to {r.stream_retention_hours} hours" if r.stream_retention_hours is not None
              else "for its retention period")
    quarantine = f"for up to {r.quarantine_days} days" if r.quarantine_days is not None else "until they expire"
    return [
        f"raw events still in the source stream (kept there {stream}) are not encrypted under the subject's key and are "
        "not touched by this erasure",
        f"raw records the scrubber could not process are kept in the lake's quarantine prefix ({quarantine}), are not "
        "encrypted under the subject's key, and are not touched by this erasure",
        "exports made before this erasure hold the subject's data decrypted: one too large to return inline is kept "
        "under exports/ in the receipts bucket for up to 1 day, and copies the requester took are outside the pipeline; "
        "neither is touched by this erasure",
    ]


def erasure_receipt(receipt_id: str, at: datetime, outcome: str, retention: Retention, *,
                    earlier: dict | None = None) -> dict:
    """The receipt of one forget. ``earlier`` (for ALREADY): the earlier receipt's id, time, key
    and whether it is on file."""
    destroyed_at = at
    if outcome == FORGOTTEN:
        destroyed = list(DESTROYED)
        summary = ("destroyed the subject's data key, key link and lookup mapping; a tombstone under their lookup id "
                   "names this receipt, so their later events are never keyed again (what would be encrypted is "
                   "redacted, their id too)")
    elif outcome == NO_KEY:
        destroyed = []
        summary = ("nothing: the subject had no key (no event of theirs was ever encrypted); a tombstone under their "
                   "lookup id names this receipt, so their later events are never keyed")
    elif outcome == ALREADY and earlier is not None:
        destroyed = []
        destroyed_at = datetime.fromisoformat(earlier["at"])
        summary = (f"already forgotten: nothing more to destroy; the earlier receipt {earlier['id']} "
                   f"({earlier['at']}) records what was destroyed")
    else:
        raise ValueError(f"unknown outcome {outcome!r}")
    # the windows run from when the key was destroyed; if the earlier forget found no key, there was none
    windows = NO_KEY if earlier is not None and earlier.get("outcome") == NO_KEY else outcome
    doc = {
        "receipt": receipt_id,
        "type": "erasure",
        "version": 1,
        "at": iso(at),
        "outcome": outcome,
        "destroyed": destroyed,
        "summary": summary,
        "identifiers": "none: this receipt holds neither the subject's id, nor their lookup id, nor their key link",
        "caches": _caches(windows, destroyed_at, retention),
        "backups": _backups(windows, destroyed_at, retention),
        "lake": _lake(windows),
        "not_covered": _elsewhere(retention),
    }
    if earlier is not None:
        doc["earlier_receipt"] = earlier
    return doc
