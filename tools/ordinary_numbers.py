"""Ordinary numbers for the detector corpus (``tools/detector_corpus.py``): what free text holds that
is not personal data and must be left alone. Order ids, dates, times, amounts, SKUs, versions,
flight numbers, and sentences with several of them side by side; each family in the forms it is
commonly written in, drawn from a seeded ``random.Random``.
"""

from __future__ import annotations

import random
from collections.abc import Callable

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _d(rng: random.Random, k: int) -> str:
    return str(rng.randint(1, 9)) + "".join(rng.choice("0123456789") for _ in range(k - 1))


def generators(rng: random.Random) -> dict[str, Callable[[], str]]:
    def date() -> str:
        y, m, d = rng.randint(1990, 2030), rng.randint(1, 12), rng.randint(1, 28)
        return rng.choice((f"{y}-{m:02}-{d:02}", f"{d:02}/{m:02}/{y}", f"{m}/{d}/{y}", f"{d:02}.{m:02}.{y}",
                           f"{d:02}-{m:02}-{y}", f"{_MONTHS[m - 1]} {d}, {y}", f"{d} {_MONTHS[m - 1]} {y}",
                           f"{y}{m:02}{d:02}", f"{y}-{m:02}-{d:02}T{rng.randint(0, 23):02}:{rng.randint(0, 59):02}:00Z",
                           f"{d:02}.{m:02}.{y} {time()}", f"{y}-{m:02}-{d:02} {time()}", f"{d:02}.{m:02}.{y % 100:02}"))

    def time() -> str:
        h, m = rng.randint(0, 23), rng.randint(0, 59)
        return rng.choice((f"{h:02}:{m:02}", f"{h % 12 + 1}:{m:02} {rng.choice(('am', 'pm'))}", f"{h}.{m:02}",
                           f"{h:02}:{m:02}:{rng.randint(0, 59):02}", f"{h}h{m:02}",
                           f"{h:02}:{m:02}-{(h + 1) % 24:02}:{m:02}", f"{h}.{m:02} - {(h + 1) % 24}.{m:02}"))

    def amount() -> str:
        a, c = rng.randint(1, 9_999_999), rng.randint(0, 99)
        return rng.choice((f"${a:,}.{c:02}", f"€{a:,}.{c:02}".replace(",", "X").replace(".", ",").replace("X", "."),
                           f"{a:,} EUR".replace(",", " "), f"USD {a}.{c:02}", f"£{a % 1000}.{c:02}", f"{a}.{c:02}",
                           f"{a:,}.{c:02}", f"CHF {a:,}.{c:02}".replace(",", "'"), f"{a} USD", f"{a % 100} x {c}"))

    def order_id() -> str:
        return rng.choice((f"#{_d(rng, rng.randint(4, 7))}", f"order {_d(rng, rng.randint(6, 9))}", f"ORD-{_d(rng, 8)}",
                           f"ORD-{rng.randint(2015, 2030)}-{rng.randint(0, 999999):06}",
                           f"INV-{rng.randint(2015, 2030)}-{rng.randint(0, 99999):05}",
                           f"{_d(rng, 3)}-{_d(rng, 7)}-{_d(rng, 7)}", f"PO {_d(rng, 8)}", f"order no. {rng.randint(0, 999999999):09}",
                           f"ticket {_d(rng, 6)}", f"case {_d(rng, 5)}-{_d(rng, 3)}"))

    def sku() -> str:
        return rng.choice((f"SKU-{rng.randint(1, 9)}{_d(rng, 4)}", f"SKU {_d(rng, 4)}-{_d(rng, 3)}", f"ART-{_d(rng, 6)}",
                           f"{rng.choice(('AB', 'XR', 'KX', 'TQ'))}{_d(rng, 5)}", f"item {_d(rng, 2)}-{_d(rng, 4)}-{_d(rng, 2)}",
                           f"model XR-{_d(rng, 3)}", f"part no. {_d(rng, 4)}-{_d(rng, 3)}-{_d(rng, 2)}",
                           f"ISBN 978-{rng.randint(0, 9)}-{_d(rng, 2)}-{_d(rng, 6)}-{rng.randint(0, 9)}", f"size {rng.randint(30, 48)}"))

    def version() -> str:
        a, b, c = rng.randint(0, 30), rng.randint(0, 40), rng.randint(0, 200)
        return rng.choice((f"v{a}.{b}.{c}", f"version {a}.{b}.{c}", f"Python 3.{b % 14}.{c % 12}",
                           f"build 10.0.{_d(rng, 5)}.{_d(rng, 4)}", f"Chrome {rng.randint(90, 140)}.0.{_d(rng, 4)}.{_d(rng, 3)}",
                           f"{a}.{b}.{c}-rc.{rng.randint(1, 5)}", f"release {rng.randint(2015, 2030)}.{rng.randint(1, 12):02}",
                           f"firmware {a}.{b:02}.{c:03}"))

    def flight() -> str:
        code = rng.choice(("LH", "BA", "UA", "AF", "KL", "DL", "EK", "U2"))
        return rng.choice((f"{code} {rng.randint(1, 9999)}", f"{code}{rng.randint(1, 9999)}",
                           f"flight {code}{rng.randint(1, 999)} seat {rng.randint(1, 40)}A",
                           f"{code} {rng.randint(1, 9999)} gate B{rng.randint(1, 60)}", f"flight {rng.randint(100, 9999)}"))

    def mixed() -> str:
        parts = [order_id, date, time, amount, sku, version, flight]
        a, b, c = rng.sample(parts, 3)
        return f"{a()} {b()} {rng.choice(('', 'and ', 'at ', '/ '))}{c()}"

    return {"order ids": order_id, "dates": date, "times": time, "amounts": amount, "SKUs": sku,
            "versions": version, "flight numbers": flight, "several in one sentence": mixed}


def long_ids(rng: random.Random) -> str:
    """Bare 10 to 15 digit numbers: phone-shaped, masked by design (informational)."""
    return f"order {_d(rng, rng.randint(10, 15))}"
