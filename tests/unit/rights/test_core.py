"""The subject-rights core over a key store in memory and a lake in memory: forget writes a receipt
that names no one, export gives the originals back, and nothing opens after a forget; reveal opens
what consent allows and nothing else; tampered and expired tokens are reported, never opened."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from privacy.keys import Keyring
from privacy.memory_store import MemoryKeyStore
from privacy.subjects import DAY_S, Root, SubjectKeys, Tombstone
from privacy.tokens import is_token
from producer.events import EventFactory
from rights.core import NoKeys, Rights, UnknownPurpose
from rights.ports import MemoryLake, MemoryReceipts, memory_root
from rights.receipt import ALREADY, DESTROYED, FORGOTTEN, NO_KEY, Retention
from rights.records import ContractView, to_line, walk
from tests.conftest import string_values
from tests.unit.rights.lakes import (
    REDACTED,
    at,
    data_key,
    encrypting_contracts,
    lake_object,
    lake_record,
    without_free_text,
)

NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
KEYRING = Keyring({"v1": b"k" * 32}, "v1")


class World:
    """A lake written by a scrubber with per-subject keys, and the rights over it."""

    def __init__(self, events, contracts=None, *, retention=None, objects=2, seal_clock=None, now=NOW):
        self.contracts = contracts or encrypting_contracts()
        self.by_ref = {c.ref: c for c in self.contracts}
        self.store = MemoryKeyStore()
        days = {c.retention_days for c in self.contracts if c.retention_days}
        self.keys = SubjectKeys(KEYRING, self.store, retention_days=days,
                                clock=seal_clock or (lambda: at(15).timestamp()))
        self.events = events
        self.records = [lake_record(e, self.contract_of(e), self.keys) for e in events]
        per = -(-len(self.records) // objects) or 1
        # two objects a day, from January 15
        self.lake = MemoryLake({data_key(at(15 + i // per // 2, 9), i): lake_object(self.records[i:i + per])
                                for i in range(0, len(self.records), per)})
        self.receipts = MemoryReceipts()
        self.now = now
        self.rights = Rights(self.store, memory_root(self.store), self.lake, self.receipts, self.contracts,
                             retention=retention or Retention(), now=lambda: self.now)

    def contract_of(self, event):
        return self.by_ref[f"{event['event_type']}/{event['schema_version']}"]

    def of(self, subject):
        return [e for e in self.events if e["subject_id"] == subject]


def events(n=60, *, consent_ratio=1.0, seed=3, subjects=6, types=("customer_signed_up", "order_placed/1", "order_placed/2")):
    made = EventFactory(seed=seed, consent_ratio=consent_ratio, subjects=subjects, consent_noise=0.0, event_types=types)
    return without_free_text(list(made.events(n)), encrypting_contracts())


def without_meta(record):
    return {k: v for k, v in record.items() if k != "_privacy"}


def plaintexts(world, event) -> set[str]:
    """The string values of an event's encrypted fields (what only its subject's key should open)."""
    view = ContractView(world.contract_of(event))
    return {s for p in view.sites for c, k, _ in walk(event, view.segs[p]) for s in string_values(c[k]) if len(s) > 3}


# -- export -------------------------------------------------------------------------------------


def test_export_returns_the_subjects_originals_and_no_one_elses():
    w = World(events())
    for subject in sorted({e["subject_id"] for e in w.events}):
        out = w.rights.export(subject)
        got = [without_meta(o.record) for o in out.records]
        assert out.status == "found"
        assert got == w.of(subject)  # every field opened, the subject's id back, in lake order
        assert out.scan.returned == len(got) and out.scan.complete and not out.scan.unopened


def test_export_reads_only_the_partitions_of_its_date_range():
    w = World(events(40), objects=4)  # objects on January 15, 15, 16, 16 (two per day)
    subject = w.events[0]["subject_id"]
    whole = [o.record["event_id"] for o in w.rights.export(subject).records]
    w.lake.listed.clear()
    first_day = w.rights.export(subject, at(15).date(), at(15).date())
    ids = [o.record["event_id"] for o in first_day.records]
    assert w.lake.listed == ["data/year=2026/month=01/day=15/"]
    assert first_day.scan.objects_total == 2 and ids == whole[: len(ids)] and 0 < len(ids) < len(whole)


def test_export_of_an_unknown_subject_or_without_any_key_returns_nothing_and_creates_nothing():
    w = World([])
    out = w.rights.export("nobody")
    assert out.status == "no_keys" and list(out.records) == [] and w.store.roots == {}  # no root made by a reader
    w.keys.resolve(["someone"])
    out = w.rights.export("nobody")
    assert out.status == "unknown" and list(out.records) == [] and len(w.store.items) == 1


def test_readers_never_write_to_the_key_store():
    w = World(events(30, consent_ratio=0.5))
    before = dict(w.store.items), dict(w.store.period_keys), dict(w.store.roots)
    calls = w.store.calls.copy()
    list(w.rights.export(w.events[0]["subject_id"]).records)
    for purpose in ("analytics", "marketing", "support"):
        list(w.rights.reveal(purpose).records)
    assert (dict(w.store.items), dict(w.store.period_keys), dict(w.store.roots)) == before
    assert w.store.calls["TransactWriteItems"] == calls["TransactWriteItems"] and w.store.calls["PutItem"] == calls["PutItem"]


# -- forget -------------------------------------------------------------------------------------


def test_forget_destroys_the_key_and_writes_a_receipt_naming_no_one(capsys):
    w = World(events(), retention=Retention(cache_ttl_s=300, pitr_days=7))
    subject = w.events[0]["subject_id"]
    lookup = Root(w.store.roots[1]).lookup_id(subject)
    link = w.store.items[lookup].link
    done = w.rights.forget(subject)
    assert done.outcome == FORGOTTEN
    assert w.store.items[lookup] == Tombstone(done.receipt_id, "2026-02-01T12:00:00Z")
    assert list(w.receipts.objects) == [f"receipts/2026/02/01/{done.receipt_id}.json"] == [done.receipt_key]
    body = w.receipts.objects[done.receipt_key]
    receipt = json.loads(body)
    assert receipt == done.receipt and receipt["destroyed"] == list(DESTROYED)
    assert receipt["at"] == "2026-02-01T12:00:00Z"
    assert "up to 300 seconds" in receipt["caches"]["statement"] and receipt["caches"]["until"] == "2026-02-01T12:05:00Z"
    assert receipt["backups"]["until"] == "2026-02-08T12:00:00Z"
    assert "restorable from backups until 2026-02-08T12:00:00Z" in receipt["backups"]["statement"]
    assert receipt["lake"]["rewritten"] is False and "ciphertext that no key opens" in receipt["lake"]["statement"]
    assert "kept in clear with consent" in receipt["lake"]["statement"]
    # what it does not touch: the stream, the quarantine, and exports made before (decrypted)
    assert [n.split(" ")[:2] for n in receipt["not_covered"]] == [["raw", "events"], ["raw", "records"], ["exports", "made"]]
    assert "a batch that began by then runs to its end" in receipt["caches"]["statement"]
    printed = capsys.readouterr()
    for secret in (subject, lookup, lookup[2:], link, link[2:]):
        assert secret not in body.decode() and secret not in printed.out + printed.err


def test_a_live_retention_is_read_at_each_forget_before_anything_is_destroyed():
    readings = iter([Retention(pitr_days=9)])
    w = World(events(), retention=lambda: next(readings))
    subject = w.events[0]["subject_id"]
    done = w.rights.forget(subject)
    assert done.receipt["backups"]["point_in_time_recovery_days"] == 9
    lookup = Root(w.store.roots[1]).lookup_id(w.events[-1]["subject_id"])
    before = w.store.items.get(lookup)
    with pytest.raises(StopIteration):  # the reading fails: nothing is destroyed
        w.rights.forget(w.events[-1]["subject_id"])
    assert w.store.items.get(lookup) == before and len(w.receipts.objects) == 1


def test_after_forget_nothing_of_the_subject_opens_and_others_are_unaffected():
    w = World(events(80, consent_ratio=1.0))
    subjects = sorted({e["subject_id"] for e in w.events})
    gone, kept = subjects[0], subjects[1:]
    secrets = set().union(*(plaintexts(w, e) for e in w.of(gone)))
    assert secrets
    done = w.rights.forget(gone)
    out = w.rights.export(gone)
    assert out.status == "forgotten" and list(out.records) == []
    assert out.receipt == {"id": done.receipt_id, "at": "2026-02-01T12:00:00Z", "key": done.receipt_key, "on_file": True}
    revealed = b"".join(to_line(o) for p in ("analytics", "marketing", "support") for o in w.rights.reveal(p).records)
    assert not [s for s in secrets if s.encode() in revealed]
    assert b'"forgotten"' in revealed  # their tokens are reported, as tokens
    for s in kept:
        assert [without_meta(o.record) for o in w.rights.export(s).records] == w.of(s)


def test_forget_twice_destroys_nothing_more_and_names_the_first_receipt():
    w = World(events(20))
    subject = w.events[0]["subject_id"]
    first = w.rights.forget(subject)
    w.now = NOW + timedelta(days=3)
    second = w.rights.forget(subject)
    assert second.outcome == ALREADY and second.receipt["destroyed"] == []
    assert second.receipt["earlier_receipt"] == {"id": first.receipt_id, "at": "2026-02-01T12:00:00Z",
                                                 "key": first.receipt_key, "on_file": True, "outcome": FORGOTTEN}
    assert first.receipt_id in second.receipt["summary"]
    lookup = Root(w.store.roots[1]).lookup_id(subject)
    assert w.store.items[lookup].receipt == first.receipt_id  # the tombstone still names the first
    assert second.receipt["caches"]["until"] == "2026-02-01T12:05:00Z"  # the windows run from the destruction


def test_forget_of_a_subject_never_keyed_fences_their_later_events():
    w = World(events(10))
    done = w.rights.forget("someone-new")
    assert done.outcome == NO_KEY and done.receipt["destroyed"] == []
    assert "no key existed" in done.receipt["caches"]["statement"]
    assert w.keys.resolve(["someone-new"]).of("someone-new").forgotten  # the tombstone: no key is ever created


def test_forget_without_a_key_table_root_refuses_and_records_nothing():
    w = World([])
    with pytest.raises(NoKeys, match="no subject was ever keyed"):
        w.rights.forget("someone")
    assert w.store.roots == {} and w.store.items == {} and w.receipts.objects == {}


def test_a_receipt_that_cannot_be_written_is_reported_and_the_next_forget_names_the_tombstone():
    from rights.core import ReceiptNotWritten

    w = World(events(10))
    subject = w.events[0]["subject_id"]

    def refuse(key, body, content_type):
        raise OSError("unavailable")

    put = w.receipts.put
    w.receipts.put = refuse
    with pytest.raises(ReceiptNotWritten) as exc:
        w.rights.forget(subject)
    assert subject not in str(exc.value) and "forget again" in str(exc.value)
    w.receipts.put = put
    again = w.rights.forget(subject)
    assert again.outcome == ALREADY and again.receipt["earlier_receipt"]["id"] == exc.value.receipt_id
    assert again.receipt["earlier_receipt"]["on_file"] is False


# -- reveal -------------------------------------------------------------------------------------


def test_reveal_opens_the_purposes_fields_for_consenting_subjects_only():
    w = World(events(120, consent_ratio=0.5, types=("order_placed/2", "customer_signed_up")))
    originals = {e["event_id"]: e for e in w.events}
    stored = {r["event_id"]: r for r in w.records}
    for purpose in ("analytics", "marketing", "support"):
        opened = left = 0
        for o in w.rights.reveal(purpose).records:
            view = ContractView(w.contract_of(o.record))
            consented = view.consented(o.record)
            eid = o.record["event_id"]
            for path, segs in view.segs.items():
                slots = zip(walk(o.record, segs), walk(stored[eid], segs), walk(originals[eid], segs), strict=True)
                for (c, k, _), (sc, sk, _), (oc, ok, _) in slots:
                    if not is_token(sc[sk]):
                        assert c[k] == sc[sk]  # redacted (or never sealed): as stored
                    elif purpose in view.purposes[path] and purpose in consented:
                        assert c[k] == oc[ok]
                        opened += 1
                    else:
                        assert c[k] == sc[sk]  # the very token
                        left += purpose in view.purposes[path]
            assert not o.unopened
        assert opened > 0 and left > 0, purpose  # both cases met, for every purpose


def test_reveal_of_an_undeclared_purpose_is_refused_naming_the_declared_ones():
    w = World(events(5))
    with pytest.raises(UnknownPurpose, match=r"no contract declares it \(declared: analytics, "):
        w.rights.reveal("profiling")


# -- tokens that must not open ------------------------------------------------------------------


def _relake(w, records):
    w.lake.objects = {data_key(at(15)): lake_object(records)}


def test_tampered_moved_and_swapped_tokens_are_reported_never_opened():
    w = World(events(30, types=("customer_signed_up",)))
    a, b = sorted({e["subject_id"] for e in w.events})[:2]
    ra = next(r for r in w.records if r["subject_id"] == w.store.items[Root(w.store.roots[1]).lookup_id(a)].link)
    rb = next(r for r in w.records if r["subject_id"] == w.store.items[Root(w.store.roots[1]).lookup_id(b)].link)
    tampered = dict(ra, event_id="00000000-0000-4000-8000-000000000001")
    flip = tampered["name"][-2]
    tampered["name"] = tampered["name"][:-2] + ("A" if flip != "A" else "B") + tampered["name"][-1]
    moved = dict(ra, event_id="00000000-0000-4000-8000-000000000002", email=ra["name"], name=ra["email"])
    swapped = dict(rb, event_id="00000000-0000-4000-8000-000000000003", ssn=ra["ssn"])  # a's token in b's record
    _relake(w, [tampered, moved, swapped])
    out = {o.record["event_id"]: o for o in w.rights.export(a).records}
    assert out[tampered["event_id"]].unopened == [("name", "tampered")]
    assert out[tampered["event_id"]].record["name"] == tampered["name"]
    assert sorted(out[moved["event_id"]].unopened) == [("email", "tampered"), ("name", "tampered")]
    assert out[moved["event_id"]].record["email"] == ra["name"]
    got_b = {o.record["event_id"]: o for o in w.rights.export(b).records}
    assert got_b[swapped["event_id"]].unopened == [("ssn", "tampered")] and is_token(got_b[swapped["event_id"]].record["ssn"])
    line = json.loads(to_line(out[tampered["event_id"]]))
    assert line["_privacy"]["unopened"] == [["name", "tampered"]] and line["_privacy"]["contract"] == "customer_signed_up/1"


def test_a_value_that_is_not_a_token_at_a_sealed_field_is_reported_not_handed_out_as_theirs():
    w = World(events(30, types=("customer_signed_up",)))
    a = sorted({e["subject_id"] for e in w.events})[0]
    ra = next(r for r in w.records if r["subject_id"] == w.store.items[Root(w.store.roots[1]).lookup_id(a)].link)
    assert ra["_privacy"]["applied"]["ssn"] == "encrypt"
    odd = [dict(ra, event_id=f"00000000-0000-4000-8000-00000000000{i}", ssn=v)
           for i, v in enumerate([12345, {"t": ra["ssn"]}, "~gs1.", "~xs1." + ra["ssn"][5:], "123-45-6789"])]
    _relake(w, odd)
    out = list(w.rights.export(a).records)
    assert len(out) == len(odd) and all(o.unopened == [("ssn", "malformed")] for o in out)


def test_a_record_moved_to_another_subjects_link_is_withheld_from_their_export():
    """Alice's record relinked to Bob's key link: none of its tokens opens under Bob's key, so its
    clear fields (her note, her postcode) are not handed out as Bob's."""
    w = World(events(30, types=("customer_signed_up",)))
    a, b = sorted({e["subject_id"] for e in w.events})[:2]
    link = {s: w.store.items[Root(w.store.roots[1]).lookup_id(s)].link for s in (a, b)}
    ra = next(r for r in w.records if r["subject_id"] == link[a])
    moved = dict(ra, subject_id=link[b], event_id="00000000-0000-4000-8000-00000000000f", note="alice-marker-4411")
    _relake(w, [*w.records, moved])
    export = w.rights.export(b)
    lines = b"".join(to_line(o) for o in export.records)
    assert b"alice-marker-4411" not in lines and export.scan.withheld == 1
    assert len(lines.splitlines()) == len(w.of(b))


def test_tokens_under_an_expired_period_key_are_refused_by_the_keys_own_expiry():
    contracts = encrypting_contracts(retention_days=30)
    w = World(events(12, types=("customer_signed_up",)), contracts)
    day = int(at(15).timestamp() // DAY_S)
    expires = (day + 1 + 30) * DAY_S
    assert w.store.period_keys[(30, day)].expires == expires
    subject = w.events[0]["subject_id"]
    w.now = datetime.fromtimestamp(expires - 1, UTC)  # the last second of the period: it opens
    assert [without_meta(o.record) for o in w.rights.export(subject).records] == w.of(subject)
    w.now = datetime.fromtimestamp(expires, UTC)  # its own expiry: refused, though the item is still in the table
    out = list(w.rights.export(subject).records)
    assert out and all(o.unopened and {r for _, r in o.unopened} == {"expired"} for o in out)
    lines = b"".join(to_line(o) for o in out)
    assert not [v for e in w.of(subject) for v in plaintexts(w, e) if v.encode() in lines]


def test_a_period_key_whose_stored_expiry_was_raised_is_still_refused_at_its_own_end():
    """The period's end is the token's day plus the contract's retention, whatever the item's
    ``expires`` attribute says: someone who can write the table cannot extend a retention."""
    contracts = encrypting_contracts(retention_days=30)
    w = World(events(12, types=("customer_signed_up",)), contracts)
    day = int(at(15).timestamp() // DAY_S)
    ends = (day + 1 + 30) * DAY_S
    held = w.store.period_keys[(30, day)]
    w.store.period_keys[(30, day)] = held._replace(expires=ends + 10 * 365 * DAY_S)
    subject = w.events[0]["subject_id"]
    w.now = datetime.fromtimestamp(ends, UTC)
    out = list(w.rights.export(subject).records)
    assert out and all(o.unopened and {r for _, r in o.unopened} == {"expired"} for o in out)


def test_a_period_day_without_a_key_or_a_subject_that_is_no_link_is_tampered_not_expired_or_forgotten():
    from privacy.tokens import parse

    contracts = encrypting_contracts(retention_days=30)
    w = World(events(12, types=("customer_signed_up",)), contracts)
    r = next(r for r in w.records if is_token(r.get("name")))
    day = parse(r["name"]).period
    later = dict(r, event_id="00000000-0000-4000-8000-00000000000a", name=r["name"].replace(f".{day}.", f".{day + 3}."))
    listed = dict(r, event_id="00000000-0000-4000-8000-00000000000b", subject_id=[r["subject_id"]])
    _relake(w, [later, listed])
    shown = {o.record["event_id"]: o.unopened for o in w.rights.reveal("marketing").records}
    assert ("name", "tampered") in shown[later["event_id"]] and ("name", "tampered") in shown[listed["event_id"]]


def test_malformed_lines_and_unknown_contracts_are_counted_not_returned():
    w = World(events(6, types=("customer_signed_up",)))
    subject = w.events[0]["subject_id"]
    link = w.store.items[Root(w.store.roots[1]).lookup_id(subject)].link
    odd = dict(w.records[0], subject_id=link, _privacy={"contract": "customer_signed_up/9"})
    w.lake.objects["data/year=2026/month=01/day=15/hour=10/x.gz"] = lake_object([odd]) + b""
    w.lake.objects["data/year=2026/month=01/day=15/hour=11/y"] = f'{{"subject_id": "{link}", \n["{link}"]\n'.encode()
    out = w.rights.export(subject)
    assert len(list(out.records)) == len(w.of(subject))
    assert out.scan.unknown_contract == 1 and out.scan.unreadable == 2
    # lines holding the link that are not records may be the subject's: the export says it is incomplete
    assert not out.scan.complete and out.scan.gaps() == ["2 line(s) holding the subject's key link are not JSON records"]


def test_an_object_that_does_not_decompress_is_named_and_makes_export_and_reveal_incomplete():
    w = World(events(6, types=("customer_signed_up",)))
    subject = w.events[0]["subject_id"]
    key = "data/year=2026/month=01/day=15/hour=10/cut.gz"
    w.lake.objects[key] = lake_object(w.records)[:-20]  # cut short: EOFError from gzip
    w.lake.objects[key.replace("cut", "bad")] = b"\x1f\x8b" + b"\0" * 40  # GZIP's magic, then nothing valid
    out = w.rights.export(subject)
    assert len(list(out.records)) == len(w.of(subject))
    assert sorted(out.scan.unreadable_objects) == sorted([key, key.replace("cut", "bad")])
    assert not out.scan.complete and "2 lake object(s) do not decompress" in out.scan.gaps()[0]
    shown = w.rights.reveal("marketing")
    assert list(shown.records) and not shown.scan.complete
    assert shown.scan.report()["unreadable_objects"] == out.scan.unreadable_objects


def test_redacted_fields_stay_redacted_in_an_export():
    w = World(events(30, consent_ratio=0.0, types=("customer_signed_up",)))
    subject = w.events[0]["subject_id"]
    got = [o.record for o in w.rights.export(subject).records]
    assert got and all(r["name"] == REDACTED for r in got if "name" in r)
    assert all(not is_token(v) for r in got for v in string_values(r))  # the always-encrypted gender opened


class LaggingIndex(MemoryKeyStore):
    """The by-link index as DynamoDB's: it still answers with an item the table no longer holds."""

    def __init__(self):
        super().__init__()
        self.index: dict[str, tuple] = {}

    def create_many(self, items):
        out = super().create_many(items)
        self.index.update({item.link: (id, item) for id, item in items.items()})
        return out

    def by_link(self, link):
        self.calls["Query"] += 1
        return self.index.get(link)


def test_a_forgotten_key_the_index_still_holds_does_not_open():
    w = World([])
    w.store = store = LaggingIndex()
    w.keys = SubjectKeys(KEYRING, store, clock=lambda: at(15).timestamp())
    w.events = events(30, types=("customer_signed_up",))
    w.records = [lake_record(e, w.contract_of(e), w.keys) for e in w.events]
    w.lake.objects = {data_key(at(15)): lake_object(w.records)}
    w.rights = Rights(store, memory_root(store), w.lake, w.receipts, w.contracts, now=lambda: w.now)
    gone = w.events[0]["subject_id"]
    assert all(not o.unopened for o in w.rights.reveal("marketing").records)
    w.rights.forget(gone)
    assert len(store.index) == len({e["subject_id"] for e in w.events})  # the index still has the forgotten link
    stale = [o for o in w.rights.reveal("marketing").records if o.unopened]
    assert stale and all(reason == "forgotten" for o in stale for _, reason in o.unopened)
    secrets = set().union(*(plaintexts(w, e) for e in w.of(gone)))
    assert not [s for s in secrets if s.encode() in b"".join(to_line(o) for o in stale)]


@pytest.mark.parametrize("window", [1, 2])
def test_an_export_holds_no_more_lake_objects_at_once_than_its_read_ahead(window):
    import threading
    import time as _time

    w = World(events(40), objects=8)
    held, peak, lock = [0], [0], threading.Lock()
    real = w.lake.read

    def read(key):
        with lock:
            held[0] += 1
            peak[0] = max(peak[0], held[0])
        _time.sleep(0.01)
        try:
            return real(key)
        finally:
            with lock:
                held[0] -= 1

    w.lake.read = read
    rights = Rights(w.store, memory_root(w.store), w.lake, w.receipts, w.contracts, read_ahead=window, now=lambda: w.now)
    subject = w.events[0]["subject_id"]
    assert [without_meta(o.record) for o in rights.export(subject).records] == w.of(subject)
    assert peak[0] <= window
