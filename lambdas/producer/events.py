"""Realistic, reproducible events about people, generated from the data contracts.

The contracts are the source of truth: each field of a producible contract says how it is made
(``generate:`` in the YAML, validated with the contract at synth time), or is derivable from
its declaration (an enum, a bounded number, a boolean, an object, an array, the consent field).
This module turns each contract into a plan once, and the plan into events. The vocabulary:

    uuid                         a random UUID (v4)
    clock                        the event's time: start_time, then 7 ms per event (RFC 3339, ms, Z)
    {subject: email}             an attribute of the event's data subject (Faker, en_US)
    {text: note}                 free text that quotes the subject's personal data (note, gift): e-mail,
                                 phone numbers (en_US, and abroad), SSN, payment card, IBAN
    {between: [2, 250]}          a uniform number (two decimals) or integer (inclusive)
    {template: "SKU-%####"}      Faker's bothify: # a digit, % a digit from 1 to 9, ? a letter
    {chance: 0.2}                a boolean, true with that probability
    {count: [1, 5]}              how many items an array holds (default [1, 3])
    {sum: [a[*].qty, a[*].price]}  the sum over an array's items of the two fields' product
    present: 0.3                 (with any of the above, or alone) the share of events that carry
                                 an optional field

Events about the same data subject repeat (a pool of subjects), and each subject's consent is
stable across their events, as it would be in a real consent store: one flag per subject, and one
decision per subject and purpose. Everything but ``event_time`` is a pure function of the seed
(and the contracts); ``event_time`` counts forward from ``start_time`` (default: now), so the same
seed, contracts and start time give byte-identical events.

What the contracts cannot say stays here, on purpose: ambiguous consent values (``consent_noise``)
and bytes that are not events at all (``MALFORMED_SAMPLES``), both there to prove the scrubber
fails closed.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from faker import Faker

from privacy.contract import Contract, FieldSpec

from .texts import TEXTS, Quoted, render

_DROP = object()  # stands for "the consent field is absent"

# Purpose lists that are malformed: each must void the whole consent.
AMBIGUOUS_PURPOSES = (["analytics", "nope"], "analytics", [1.5], None, [True], [{"p": "analytics"}])

# Consent values that are *not* the JSON value true. The scrubber must treat each as no consent.
AMBIGUOUS_CONSENT = ("true", 1, None, [True], {"value": True}, "yes", 0, False, _DROP)

@dataclass(frozen=True)
class Subject:
    """A person. The attribute names are the ``{subject: ...}`` vocabulary of the contracts."""

    id: str
    name: str
    first_name: str
    dob: str
    gender: str
    ssn: str
    email: str
    phone: str
    street: str
    city: str
    state: str
    postcode: str
    country: str
    consent: bool  # the flag model's one decision
    grants: frozenset = frozenset()  # purposes consented to (purposes model)
    # quoted in free texts only (no contract field holds them)
    phone_abroad: str = ""
    card: str = ""
    iban: str = ""

    def purposes(self, contract: Contract) -> list[str]:
        """The subject's consented purposes, as a ``purposes`` contract lists them: every granted
        one (granular), or the granted levels up to the first refused one (cumulative)."""
        if contract.consent.levels == "cumulative":
            out = []
            for p in contract.purposes:
                if p not in self.grants:
                    break
                out.append(p)
            return out
        return [p for p in contract.purposes if p in self.grants]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def make_subjects(n: int, seed: int, consent_ratio: float, purposes: tuple[str, ...] = ()) -> list[Subject]:
    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    prng = random.Random(seed ^ 0xC0)  # its own stream: the flag decisions do not move with the purposes
    quoted = Quoted(seed)  # the values only free texts quote (their own streams)
    subjects = []
    for _ in range(n):
        name = fake.name()
        subjects.append(
            Subject(
                id=_uuid(rng),
                name=name,
                first_name=name.split()[0],
                dob=fake.date_of_birth(minimum_age=18, maximum_age=90).isoformat(),
                gender=rng.choice(("F", "M", "X")),
                ssn=fake.ssn(),
                email=fake.email(),
                phone=fake.phone_number(),
                street=fake.street_address(),
                city=fake.city(),
                state=fake.state_abbr(),
                postcode=fake.postcode(),
                country="US",
                consent=rng.random() < consent_ratio,
                grants=frozenset(p for p in purposes if prng.random() < consent_ratio),
                **quoted.draw(),
            )
        )
    return subjects


class _Event:
    """What one event's generators share: the subject, the clock, the random streams."""

    __slots__ = ("subject", "time", "rng", "fake")

    def __init__(self, subject: Subject, time: str, rng: random.Random, fake: Faker):
        self.subject, self.time, self.rng, self.fake = subject, time, rng, fake


Gen = Callable[[_Event], Any]


@dataclass
class Plan:
    """One producible contract, compiled: ``make(ctx)`` returns an event."""

    contract: Contract
    make: Callable[[_Event], dict]
    sums: tuple  # (keys to the object holding it, its name, keys to the array, field a, field b, integer?)

    def event(self, e: _Event) -> dict:
        out = self.make(e)
        for holder_keys, name, array_keys, a, b, integer in self.sums:
            holder = _walk(out, holder_keys)
            if holder is None or name not in holder:
                continue  # the field or its object was left out (present < 1)
            items = _walk(out, array_keys)
            total = sum(i[a] * i[b] for i in items or () if a in i and b in i)
            holder[name] = int(total) if integer else round(total, 2)
        return out


def _walk(node: Any, keys: tuple[str, ...]) -> Any:
    for k in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(k)
    return node


def _leaf(f: FieldSpec, contract: Contract, noise: float) -> Gen:
    g = f.generate
    kind = g.kind if g is not None else "derive"
    if f.path == contract.consent.path:
        return _consent_gen(contract, noise)
    if kind == "uuid":
        return lambda e: _uuid(e.rng)
    if kind == "clock":
        return lambda e: e.time
    if kind == "subject":
        attr = g.arg
        return lambda e: getattr(e.subject, attr)
    if kind == "text":
        templates = TEXTS[g.arg]

        def text(e: _Event) -> str:
            return render(e.rng.choice(templates), e.subject, e.fake.sentence(nb_words=12))

        return text
    if kind == "template":
        tpl = g.arg
        return lambda e: e.fake.bothify(tpl)
    if kind == "chance":
        p = g.arg
        return lambda e: e.rng.random() < p
    if kind == "between" or (kind == "derive" and f.type in ("integer", "number") and not f.enum):
        lo, hi = g.arg if kind == "between" else (f.minimum, f.maximum)
        if f.type == "integer":
            ilo, ihi = math.ceil(lo), math.floor(hi)
            return lambda e: e.rng.randint(ilo, ihi)
        return lambda e: round(e.rng.uniform(lo, hi), 2)
    if kind == "sum":
        return lambda _e: 0  # a placeholder that keeps the field's place; Plan.event fills it in
    if f.enum:
        choices = f.enum
        return lambda e: e.rng.choice(choices)
    if f.type == "boolean":
        return lambda e: e.rng.random() < 0.5
    raise ValueError(f"{contract.source}: fields.{f.path}: the producer cannot generate it")  # parse_contract prevents this


def _consent_gen(contract: Contract, noise: float) -> Gen:
    if contract.consent.model == "flag":
        def flag(e: _Event) -> Any:
            if noise and e.rng.random() < noise:
                return e.rng.choice(AMBIGUOUS_CONSENT)
            return e.subject.consent

        return flag

    def purposes(e: _Event) -> Any:
        if noise and e.rng.random() < noise:
            return e.rng.choice(AMBIGUOUS_PURPOSES)
        return e.subject.purposes(contract)

    return purposes


def compile_plan(contract: Contract, noise: float = 0.0) -> Plan:
    """Turn a producible contract into a generator of events (fields in the contract's order)."""
    if not contract.producible:
        raise ValueError(f"{contract.ref}: the contract says nothing about generating its events")
    children: dict[str, list[FieldSpec]] = {"": []}
    for f in contract.fields:  # parents are declared before their children (parse_contract checks)
        if "." in f.path:
            parent, _, _name = f.path.rpartition(".")
        else:
            parent = ""
        children.setdefault(parent, []).append(f)

    def obj(prefix: str) -> Callable[[_Event], dict]:
        steps = []
        for f in children.get(prefix, ()):
            name = f.path.rpartition(".")[2] if prefix else f.path
            present = f.generate.present if f.generate is not None else 1.0
            if f.type == "object" and f.path in children:
                gen = obj(f.path)
            elif f.type == "array":
                gen = arr(f)
            else:
                gen = _leaf(f, contract, noise)
            steps.append((name, gen, present))

        def make(e: _Event) -> dict:
            out = {}
            for name, gen, present in steps:
                if present < 1.0 and e.rng.random() >= present:
                    continue
                v = gen(e)
                if v is not _DROP:
                    out[name] = v
            return out

        return make

    def arr(f: FieldSpec) -> Gen:
        g = f.generate
        lo, hi = (int(g.arg[0]), int(g.arg[1])) if g is not None and g.kind == "count" else (1, min(3, f.max_length or 3))
        item = obj(f.path + "[*]")
        return lambda e: [item(e) for _ in range(e.rng.randint(lo, hi))]

    sums = []
    for f in contract.fields:
        if f.generate is not None and f.generate.kind == "sum":  # parse_contract: not inside an array
            *holder, name = f.path.split(".")
            (a, b) = f.generate.arg
            array = tuple(a.split("[*]")[0].split("."))
            sums.append((tuple(holder), name, array, a.split("[*].")[1], b.split("[*].")[1], f.type == "integer"))
    return Plan(contract=contract, make=obj(""), sums=tuple(sums))


def _ref(c: Contract) -> str:
    return f"{c.type}/{c.version}"


class EventFactory:
    """Generates events; ``next_event`` is deterministic given the constructor arguments.

    ``event_types`` names event types (every producible version of each) or exact contracts
    (``order_placed/2``); default: every producible contract. Each event's type is drawn
    uniformly, then its version uniformly among the chosen ones.
    """

    def __init__(
        self,
        seed: int,
        consent_ratio: float = 0.5,
        subjects: int = 1000,
        start_time: datetime | None = None,
        consent_noise: float = 0.0,
        event_types: tuple[str, ...] | None = None,
        contracts: list[Contract] | None = None,
    ):
        if not 0.0 <= consent_ratio <= 1.0:
            raise ValueError("consent_ratio must be between 0 and 1")
        if not 0.0 <= consent_noise <= 1.0:
            raise ValueError("consent_noise must be between 0 and 1")
        if contracts is None:
            from .conformance import load_contracts

            contracts = load_contracts()
        self.contracts = select(contracts, event_types)
        by_type: dict[str, list[Plan]] = {}
        for c in self.contracts:
            by_type.setdefault(c.type, []).append(compile_plan(c, consent_noise))
        self.types = list(by_type.values())
        purposes = tuple(dict.fromkeys(p for c in self.contracts for p in c.purposes))
        self.subjects = make_subjects(max(1, subjects), seed, consent_ratio, purposes)
        self.rng = random.Random(seed ^ 0x5EED)
        self.fake = Faker("en_US")
        self.fake.seed_instance(seed ^ 0xFACE)
        self.start = (start_time or datetime.now(UTC)).astimezone(UTC)
        self.count = 0

    def next_event(self) -> dict:
        rng = self.rng
        s = rng.choice(self.subjects)
        plans = rng.choice(self.types)
        plan = plans[0] if len(plans) == 1 else rng.choice(plans)
        t = self.start + timedelta(milliseconds=self.count * 7)
        self.count += 1
        return plan.event(_Event(s, t.isoformat(timespec="milliseconds").replace("+00:00", "Z"), rng, self.fake))

    def events(self, n: int) -> Iterator[dict]:
        for _ in range(n):
            yield self.next_event()


def producible(contracts: list[Contract]) -> list[str]:
    """The names ``event_types`` accepts: each producible type, and each producible contract."""
    refs = [_ref(c) for c in contracts if c.producible]
    return list(dict.fromkeys([r.split("/")[0] for r in refs] + refs))


def select(contracts: list[Contract], event_types: tuple[str, ...] | list[str] | None) -> list[Contract]:
    """The producible contracts ``event_types`` names (all of them if None). Raises ValueError."""
    usable = [c for c in contracts if c.producible]
    if not usable:
        raise ValueError("no contract says how to generate its events (generate: hints)")
    if event_types is None:
        return usable
    names = list(event_types)
    known = producible(contracts)
    unknown = [n for n in names if n not in known]
    if not names or unknown:
        raise ValueError(f"event_types must be a non-empty list of {', '.join(known)}")
    return [c for c in usable if c.type in names or _ref(c) in names]


def encode(event: dict) -> bytes:
    return orjson.dumps(event)


# A few kinds of bytes that are not a scrubbable event; the producer can mix them in on request
# to prove end to end that such records land in quarantine.
MALFORMED_SAMPLES = (
    b'{"event_type": "order_placed", "ssn": "123-45-6789", "data_share_consent": tru',  # truncated
    b'{"event_type": "order_placed", "amount": NaN}',
    b"\xff\xfe\x00not utf-8",
    b'["an", "array", "not", "an", "object"]',
    b'{"event_type": "order_placed"} trailing',
    b"[" * 2000 + b"]" * 2000,
    b'{"event_type": "no_such_type", "ssn": "123-45-6789", "data_share_consent": true}',
)
