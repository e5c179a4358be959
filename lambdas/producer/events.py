"""Realistic, reproducible events about people, made with Faker.

Events about the same data subject repeat (a pool of subjects), and each subject's consent is
stable across their events, as it would be in a real consent store. Everything but ``event_time``
is a pure function of the seed; ``event_time`` counts forward from ``start_time`` (default: now),
so the same seed and start time give byte-identical events.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterator

import orjson
from faker import Faker

EVENT_TYPES = ("customer_signed_up", "order_placed", "health_form_submitted", "tax_form_submitted")
SCHEMA_VERSION = "1"  # the contracts/<event_type>/1.yaml these events follow
# order_placed/2 carries consent per purpose (a list), the other versions a boolean flag
EVENT_VERSIONS = {t: ("1",) for t in EVENT_TYPES} | {"order_placed": ("1", "2")}
PURPOSES = ("analytics", "marketing", "support")
CONSENT_FIELD = "data_share_consent"

_DROP = object()  # stands for "the consent field is absent"

# Purpose lists that are malformed: each must void the whole consent.
AMBIGUOUS_PURPOSES = (["analytics", "nope"], "analytics", [1.5], None, [True], [{"p": "analytics"}])

# Consent values that are *not* the JSON value true. The scrubber must treat each as no consent.
AMBIGUOUS_CONSENT = ("true", 1, None, [True], {"value": True}, "yes", 0, False, _DROP)

_GIFT_TEMPLATES = (
    "Happy birthday {name}!",
    "For {name} - call me on {phone} when it arrives",
    "Enjoy! Write back to {email}",
)

_NOTE_TEMPLATES = (
    "Customer called about their account. {p}",
    "Please reach me at {email} about the delivery. {p}",
    "{p} Follow-up requested by phone {phone}.",
    "{p}",
    "Patient reports mild symptoms; contact {email} for the results. {p}",
    "Filed with SSN {ssn} on the paper form. {p}",
)


@dataclass(frozen=True)
class Subject:
    subject_id: str
    name: str
    dob: str
    gender: str
    ssn: str
    email: str
    phone: str
    address: dict
    consent: bool
    purposes: tuple = ()  # the purposes this subject consented to (order_placed/2)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def make_subjects(n: int, seed: int, consent_ratio: float) -> list[Subject]:
    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    prng = random.Random(seed ^ 0xC0)  # its own stream: the flag-model fields stay as they were
    subjects = []
    for _ in range(n):
        subjects.append(
            Subject(
                subject_id=_uuid(rng),
                name=fake.name(),
                dob=fake.date_of_birth(minimum_age=18, maximum_age=90).isoformat(),
                gender=rng.choice(("F", "M", "X")),
                ssn=fake.ssn(),
                email=fake.email(),
                phone=fake.phone_number(),
                address={
                    "street": fake.street_address(),
                    "city": fake.city(),
                    "state": fake.state_abbr(),
                    "postcode": fake.postcode(),
                    "country": "US",
                },
                consent=rng.random() < consent_ratio,
                purposes=tuple(p for p in PURPOSES if prng.random() < consent_ratio),
            )
        )
    return subjects


class EventFactory:
    """Generates events; ``next_event`` is deterministic given the constructor arguments."""

    def __init__(
        self,
        seed: int,
        consent_ratio: float = 0.5,
        subjects: int = 1000,
        start_time: datetime | None = None,
        consent_noise: float = 0.0,
        event_types: tuple[str, ...] = EVENT_TYPES,
        order_v2_share: float = 0.5,
    ):
        if not 0.0 <= consent_ratio <= 1.0:
            raise ValueError("consent_ratio must be between 0 and 1")
        if not 0.0 <= consent_noise <= 1.0:
            raise ValueError("consent_noise must be between 0 and 1")
        unknown = set(event_types) - set(EVENT_TYPES)
        if unknown or not event_types:
            raise ValueError(f"event_types must be a non-empty subset of {', '.join(EVENT_TYPES)}")
        self.subjects = make_subjects(max(1, subjects), seed, consent_ratio)
        self.rng = random.Random(seed ^ 0x5EED)
        self.fake = Faker("en_US")
        self.fake.seed_instance(seed ^ 0xFACE)
        self.start = (start_time or datetime.now(timezone.utc)).astimezone(timezone.utc)
        self.consent_noise = consent_noise
        self.event_types = event_types
        self.order_v2_share = order_v2_share
        self.count = 0

    def next_event(self) -> dict:
        rng, fake = self.rng, self.fake
        s = rng.choice(self.subjects)
        etype = rng.choice(self.event_types)
        t = self.start + timedelta(milliseconds=self.count * 7)
        self.count += 1
        note = rng.choice(_NOTE_TEMPLATES).format(
            p=fake.sentence(nb_words=12), email=s.email, phone=s.phone, ssn=s.ssn
        )
        consent: object = s.consent
        if self.consent_noise and rng.random() < self.consent_noise:
            consent = rng.choice(AMBIGUOUS_CONSENT)
        event: dict = {
            "event_id": _uuid(rng),
            "event_type": etype,
            "schema_version": SCHEMA_VERSION,
            "event_time": t.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "subject_id": s.subject_id,
            "name": s.name,
            "dob": s.dob,
            "gender": s.gender,
            "ssn": s.ssn,
            "email": s.email,
            "phone": s.phone,
            "address": dict(s.address),
            "note": note,
            CONSENT_FIELD: consent,
        }
        if consent is _DROP:
            del event[CONSENT_FIELD]
        if etype == "order_placed" and self.order_v2_share and rng.random() < self.order_v2_share:
            event["schema_version"] = "2"
            event.pop(CONSENT_FIELD, None)
            purposes: object = list(s.purposes)
            if self.consent_noise and rng.random() < self.consent_noise:
                purposes = rng.choice(AMBIGUOUS_PURPOSES)
            event["consent"] = {"purposes": purposes}
        if etype == "order_placed":
            items = [
                {"sku": f"SKU-{rng.randrange(10000, 99999)}", "qty": rng.randint(1, 4), "price": round(rng.uniform(2, 250), 2)}
                for _ in range(rng.randint(1, 5))
            ]
            if rng.random() < 0.3:
                items[0]["gift_message"] = rng.choice(_GIFT_TEMPLATES).format(name=s.name.split()[0], email=s.email, phone=s.phone)
            event["order"] = {
                "order_id": _uuid(rng),
                "currency": "USD",
                "items": items,
                "total": round(sum(i["qty"] * i["price"] for i in items), 2),
            }
        elif etype == "health_form_submitted":
            event["form"] = {
                "form_id": _uuid(rng),
                "blood_type": rng.choice(("A+", "A-", "B+", "B-", "AB+", "AB-", "O+", "O-")),
                "smoker": rng.random() < 0.2,
            }
        elif etype == "tax_form_submitted":
            event["form"] = {
                "form_id": _uuid(rng),
                "tax_year": rng.randint(2019, 2025),
                "filing_status": rng.choice(("single", "married_joint", "married_separate", "head_of_household")),
                "gross_income": rng.randrange(10_000, 400_000, 100),
            }
        else:
            event["signup"] = {"channel": rng.choice(("web", "ios", "android", "store")), "newsletter": rng.random() < 0.4}
        return event

    def events(self, n: int) -> Iterator[dict]:
        for _ in range(n):
            yield self.next_event()


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
