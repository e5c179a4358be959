"""Subject rights over the lake, as pure code over ports (``rights.ports``):

* ``forget(subject_id)``: crypto-shredding. The subject's item in the key table (key link and
  wrapped data key) is replaced by a tombstone naming a random receipt id, and the erasure receipt
  is written (``rights.receipt``). Every copy of their encrypted fields, wherever it is, becomes
  ciphertext that no key opens; the lake is not rewritten. A second forget destroys nothing more
  and names the first receipt.
* ``export(subject_id, start, end)``: the subject's records (Art. 15 and 20), their tokens opened,
  the subject field holding their id again. A forgotten subject: no data, the receipt named. With
  a ``finder`` (``rights.finder``: Athena deployed, DuckDB offline) only the objects it names are
  read; without one, every object of the range. Either way each record is checked the same way,
  so both return the same records.
* ``reveal(purpose, start, end)``: every record, with the tokens of the fields that serve
  ``purpose`` opened for the subjects who consented to it, as recorded in the event (a privacy
  stream, as a batch). Other tokens stay tokens.

The subject's id is used to compute their lookup id and nothing else: it is never logged, never
put in a receipt or an error. Readers never create anything in the key table (``ReadOnlyStore``);
if the table has no root, no subject was ever keyed.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from privacy.contract import Contract
from privacy.subjects import ROOT_VERSION, KeyStore, Opener, Root, Tombstone
from privacy.tokens import TokenError, is_token

from .finder import FinderError, LinkFinder
from .lake import READ_AHEAD, object_keys, partition_prefixes, read_objects
from .ports import Lake, ReadOnlyStore, Receipts, RootReader
from .receipt import ALREADY, FORGOTTEN, NO_KEY, Retention, erasure_receipt, iso, receipt_key
from .records import ContractView, Opened, Views, open_fields, parse_line, unknown_sealed, walk

Stop = Callable[[], bool]


class NoKeys(Exception):
    """The key table has no root: no subject was ever keyed, so there is nothing to forget."""


class UnknownPurpose(ValueError):
    """A purpose no contract declares."""


class ReceiptNotWritten(Exception):
    """The subject was forgotten (the tombstone is written) but the receipt could not be stored."""

    def __init__(self, receipt_id: str, key: str):
        super().__init__(f"the subject's key is destroyed (tombstone naming receipt {receipt_id}), but the receipt could "
                         f"not be written to {key}; forget again: it finds the tombstone and writes a receipt naming it")
        self.receipt_id = receipt_id
        self.key = key


@dataclass
class Scan:
    """What a scan read and returned: counts and reason codes only."""

    objects_total: int = 0
    objects: int = 0
    records: int = 0  # lines read
    returned: int = 0
    unreadable: int = 0  # lines that are not JSON objects (export: only those holding the subject's link)
    unknown_contract: int = 0  # records whose _privacy.contract the bundle does not hold
    opened: int = 0  # tokens opened
    left: int = 0  # reveal: tokens of the purpose, left as tokens for want of the subject's consent
    unopened: Counter = field(default_factory=Counter)  # tokens that did not open, by reason
    search: dict = field(default_factory=dict)  # export: how the objects were chosen (rights.finder.Found.report)
    unreadable_objects: list = field(default_factory=list)  # keys of objects that do not decompress
    withheld: int = 0  # export: records under the link whose sealed fields all fail to open (not theirs)
    export: bool = False  # an export: a line holding the link that is not JSON makes it incomplete

    @property
    def complete(self) -> bool:
        return not self.gaps()

    def gaps(self) -> list[str]:
        """Why the scan may have missed records (counts and object keys: no content)."""
        out = []
        if self.objects < self.objects_total:
            out.append(f"read {self.objects:,} of {self.objects_total:,} objects before the time limit: "
                       "narrow from/to and export the rest separately")
        if self.unreadable_objects:
            shown = ", ".join(self.unreadable_objects[:5]) + (", ..." if len(self.unreadable_objects) > 5 else "")
            out.append(f"{len(self.unreadable_objects):,} lake object(s) do not decompress ({shown})")
        if self.export and self.unreadable:
            out.append(f"{self.unreadable:,} line(s) holding the subject's key link are not JSON records")
        return out

    def report(self) -> dict:
        return {"complete": self.complete, "objects": self.objects, "objects_total": self.objects_total,
                "gaps": self.gaps(), "unreadable_objects": list(self.unreadable_objects), "withheld": self.withheld,
                "records_read": self.records, "records_returned": self.returned, "unreadable_lines": self.unreadable,
                "unknown_contract": self.unknown_contract, "tokens_opened": self.opened, "tokens_left": self.left,
                "tokens_unopened": dict(sorted(self.unopened.items())), **({"search": self.search} if self.search else {})}


@dataclass
class Forgotten:
    outcome: str  # receipt.FORGOTTEN, NO_KEY or ALREADY
    receipt_id: str
    receipt_key: str
    receipt: dict


@dataclass
class Export:
    """``status``: found (``records`` yields them), forgotten (``receipt`` names the erasure
    receipt), unknown (no key of this subject), no_keys (no subject was ever keyed)."""

    status: str
    records: Iterator[Opened]
    scan: Scan
    receipt: dict | None = None


@dataclass
class Reveal:
    records: Iterator[Opened]
    scan: Scan


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_receipt_id() -> str:
    return str(uuid.uuid4())


class _NoRoot:
    """The opener when the key table has no root: nothing opens."""

    def open(self, _token, _site, _link):
        raise TokenError("no_key")


class Rights:
    def __init__(self, store: KeyStore, root: RootReader, lake: Lake, receipts: Receipts, contracts: Iterable[Contract], *,
                 lake_prefix: str = "data/", retention: Retention | Callable[[], Retention] | None = None,
                 finder: LinkFinder | None = None, read_ahead: int = READ_AHEAD,
                 now: Callable[[], datetime] = utc_now, new_id: Callable[[], str] = new_receipt_id):
        self.store = store
        self.root_reader = root
        self.lake = lake
        self.receipts = receipts
        self.views = Views(contracts)
        self.lake_prefix = lake_prefix
        self.retention = retention or Retention()
        self.finder = finder
        self.read_ahead = read_ahead  # lake objects held at once (each read whole, then split)
        self.now = now
        self.new_id = new_id

    # -- keys -----------------------------------------------------------------------------------

    def _root(self) -> bytes | None:
        return self.root_reader(ROOT_VERSION)

    def _opener(self, root: bytes, known: dict | None = None) -> Opener:
        return Opener(ReadOnlyStore(self.store, ROOT_VERSION, root, known), clock=lambda: self.now().timestamp())

    # -- forget ---------------------------------------------------------------------------------

    def forget(self, subject_id: Any) -> Forgotten:
        root = self._root()
        if root is None:
            raise NoKeys("the key table has no root: no subject was ever keyed, there is nothing to forget; "
                         "nothing was recorded")
        # the backup window the receipt states, read before anything is destroyed (a live reading
        # of the table's point-in-time recovery, deployed; a failure to read it fails the forget)
        retention = self.retention() if callable(self.retention) else self.retention
        id = Root(root, ROOT_VERSION).lookup_id(subject_id)
        at = self.now()
        receipt_id = self.new_id()
        held = self.store.get_many([id]).get(id)
        # a tombstone stays as it is: it names the receipt of the forget that destroyed the key
        before = held if isinstance(held, Tombstone) else self.store.forget(id, Tombstone(receipt_id, iso(at)))
        earlier = None
        if isinstance(before, Tombstone):
            outcome, earlier = ALREADY, self._earlier(before)
        else:
            outcome = NO_KEY if before is None else FORGOTTEN
        doc = erasure_receipt(receipt_id, at, outcome, retention, earlier=earlier)
        key = receipt_key(receipt_id, at)
        try:
            self.receipts.put(key, json.dumps(doc, indent=2).encode("utf-8"), "application/json")
        except Exception as exc:  # any failure: say that the key is gone, and how to get the receipt
            raise ReceiptNotWritten(receipt_id, key) from exc
        return Forgotten(outcome, receipt_id, key, doc)

    def _earlier(self, t: Tombstone) -> dict:
        """The earlier receipt a tombstone names: its id, time, key, and whether it is on file."""
        out: dict[str, Any] = {"id": t.receipt, "at": t.at, "key": None, "on_file": False}
        try:
            out["key"] = receipt_key(t.receipt, datetime.fromisoformat(t.at))
        except (TypeError, ValueError):
            return out
        body = self.receipts.get(out["key"])
        if body is not None:
            out["on_file"] = True
            try:
                out["outcome"] = json.loads(body).get("outcome")
            except (ValueError, AttributeError):
                pass  # on file but not a receipt we can read: its outcome stays unknown
        return out

    # -- export ---------------------------------------------------------------------------------

    def export(self, subject_id: Any, start: date | None = None, end: date | None = None, stop: Stop | None = None) -> Export:
        prefixes = partition_prefixes(self.lake_prefix, start, end)  # a bad range is refused first
        scan = Scan()
        root = self._root()
        if root is None:
            return Export("no_keys", iter(()), scan)
        id = Root(root, ROOT_VERSION).lookup_id(subject_id)
        item = self.store.get_many([id]).get(id)
        if item is None:
            return Export("unknown", iter(()), scan)
        if isinstance(item, Tombstone):
            earlier = self._earlier(item)
            return Export("forgotten", iter(()), scan, {k: earlier[k] for k in ("id", "at", "key", "on_file")})
        keys = self._holding(item.link, start, end, prefixes, scan, stop)  # a failed search raises here
        records = self._export(subject_id, item.link, self._opener(root, {item.link: (id, item)}), keys, scan, stop)
        return Export("found", records, scan)

    def _holding(self, link: str, start: date | None, end: date | None, prefixes: list[str], scan: Scan, stop) -> list[str]:
        """The objects to read: those the finder names (each checked to be in the range's
        partitions), or every object of the range."""
        if self.finder is None:
            scan.search = {"finder": "scan"}
            return object_keys(self.lake, prefixes)
        found = self.finder.find(link, start, end, stop)
        outside = next((k for k in found.keys if not k.startswith(tuple(prefixes))), None)
        if outside is not None:
            raise FinderError(f"export: the search named {outside}, outside the requested partitions: nothing was exported")
        scan.search = found.report
        return found.keys

    def _export(self, subject_id, link: str, opener: Opener, keys: list[str], scan: Scan, stop) -> Iterator[Opened]:
        needle = link.encode()  # base64url and "k:": written as is in JSON
        scan.objects_total, scan.export = len(keys), True
        for key, body in read_objects(self.lake, keys, stop, self.read_ahead):
            scan.objects += 1
            if body is None:
                scan.unreadable_objects.append(key)
                continue
            for line in body.split(b"\n"):
                if not line.strip():
                    continue
                scan.records += 1
                if needle not in line:
                    continue
                record = parse_line(line)
                if record is None:
                    scan.unreadable += 1
                    continue
                view = self.views.of(record)
                if view is None:
                    scan.unknown_contract += 1
                    continue
                if view.subject(record) != link:
                    continue
                unopened: list[tuple[str, str]] = []
                opened = open_fields(record, view, view.sites, opener, link, unopened)
                if not opened and unopened and all(r == "tampered" for _, r in unopened):
                    # sealed fields, none of which opens under this subject's key: the record was
                    # moved to their link (or altered); its clear fields are no proof it is theirs
                    scan.withheld += 1
                    continue
                scan.opened += opened
                unknown_sealed(record, view, unopened)
                view.set_subject(record, subject_id)
                scan.unopened.update(reason for _, reason in unopened)
                scan.returned += 1
                yield Opened(key, record, unopened)

    # -- reveal ---------------------------------------------------------------------------------

    def reveal(self, purpose: str, start: date | None = None, end: date | None = None, stop: Stop | None = None) -> Reveal:
        known = self.views.purposes()
        if purpose not in known:
            raise UnknownPurpose(f"purpose: no contract declares it (declared: {', '.join(sorted(known))})")
        prefixes = partition_prefixes(self.lake_prefix, start, end)
        root = self._root()
        opener = self._opener(root) if root is not None else _NoRoot()
        scan = Scan()
        return Reveal(self._reveal(purpose, opener, prefixes, scan, stop), scan)

    def _reveal(self, purpose: str, opener, prefixes, scan: Scan, stop) -> Iterator[Opened]:
        keys = object_keys(self.lake, prefixes)
        scan.objects_total = len(keys)
        for key, body in read_objects(self.lake, keys, stop, self.read_ahead):
            scan.objects += 1
            if body is None:
                scan.unreadable_objects.append(key)
                continue
            for line in body.split(b"\n"):
                if not line.strip():
                    continue
                scan.records += 1
                record = parse_line(line)
                if record is None:
                    scan.unreadable += 1
                    continue
                unopened: list[tuple[str, str]] = []
                view = self.views.of(record)
                if view is None:
                    scan.unknown_contract += 1
                else:
                    self._reveal_record(record, view, purpose, opener, scan, unopened)
                scan.returned += 1
                yield Opened(key, record, unopened)

    @staticmethod
    def _reveal_record(record: dict, view: ContractView, purpose: str, opener, scan: Scan, unopened: list) -> None:
        paths = view.paths_of(purpose)
        if not paths:
            return
        if purpose in view.consented(record):
            scan.opened += open_fields(record, view, paths, opener, view.subject(record), unopened)
            scan.unopened.update(reason for _, reason in unopened)
        else:
            scan.left += sum(1 for p in paths for c, k, _ in walk(record, view.segs[p]) if is_token(c[k]))
