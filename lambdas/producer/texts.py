"""The producer's free texts (``{text: note}``, ``{text: gift}``): templates that quote the data
subject's personal data, and the values only free texts quote.

Free texts quote the subject's personal data in the formats people write it in, so that the
scrubber's free-text scan meets every detector: the subject's e-mail; their phone number (Faker
en_US: with an extension, "+1-" or "001-", parentheses, dots) and a number abroad (en_GB, de_DE,
fr_FR or nl_NL formats: "+44(0)113 496 0123", "+49 (0) 9141 777631", "06 12 34 56 78"); their SSN
with dashes, with spaces, or after a label with no separators ("ssn#140298415"); a payment card
(bare, or in groups with spaces or dashes) and an IBAN (compact or spaced).
"""

from __future__ import annotations

import random

from faker import Faker

TEXTS = {
    "gift": (
        "Happy birthday {first_name}!",
        "For {first_name} - call me on {phone} when it arrives",
        "Enjoy! Write back to {email}",
        "For {first_name}: ring {phone_abroad} when you land",
        "Paid with my card {card}, love {first_name}",
    ),
    "note": (
        "Customer called about their account. {p}",
        "Please reach me at {email} about the delivery. {p}",
        "{p} Follow-up requested by phone {phone}.",
        "{p}",
        "Patient reports mild symptoms; contact {email} for the results. {p}",
        "Filed with SSN {ssn} on the paper form. {p}",
        "Verified ssn#{ssn_digits} on the call. {p}",
        "{p} Social security number {ssn_digits} confirmed, callback {phone}.",
        "SSN {ssn_spaced} read out by the customer. {p}",
        "Refund to IBAN {iban} please. {p}",
        "{p} Card {card} was declined twice.",
        "Travelling: reach me on {phone_abroad}. {p}",
    ),
}
ABROAD = ("en_GB", "de_DE", "fr_FR", "nl_NL")
CARD_TYPES = ("visa16", "visa13", "visa19", "mastercard", "amex", "discover", "diners", "jcb15", "jcb16", "maestro")


def grouped(digits: str, sep: str) -> str:
    """A card number as it is printed: groups of four (Amex 4-6-5, Diners 4-6-4)."""
    if len(digits) in (14, 15) and digits[0] == "3":
        return sep.join((digits[:4], digits[4:10], digits[10:]))
    return sep.join(digits[i:i + 4] for i in range(0, len(digits), 4))


class Quoted:
    """Draws, per subject, the values only free texts quote: a phone number abroad, a payment card
    and an IBAN. Its own random streams (from the seed), so the subject's other fields do not move."""

    def __init__(self, seed: int):
        self.fakers = [Faker(loc) for loc in ABROAD]
        for i, f in enumerate(self.fakers):
            f.seed_instance(seed ^ (0xAB0 + i))
        self.rng = random.Random(seed ^ 0xA1)

    def draw(self) -> dict[str, str]:
        rng = self.rng
        fake = rng.choice(self.fakers)
        card = fake.credit_card_number(card_type=rng.choice(CARD_TYPES))
        iban = fake.iban()
        return {
            "phone_abroad": fake.phone_number(),
            "card": grouped(card, rng.choice(" -")) if rng.random() < 0.6 else card,
            "iban": " ".join(iban[i:i + 4] for i in range(0, len(iban), 4)) if rng.random() < 0.5 else iban,
        }


def render(template: str, subject, sentence: str) -> str:
    """One free text: ``template`` filled from the subject, ``sentence`` as the prose (``{p}``)."""
    s = subject
    return template.format(
        p=sentence, email=s.email, phone=s.phone, ssn=s.ssn, first_name=s.first_name,
        ssn_digits=s.ssn.replace("-", ""), ssn_spaced=s.ssn.replace("-", " "), phone_abroad=s.phone_abroad,
        card=s.card, iban=s.iban,
    )
