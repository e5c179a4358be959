"""Values in disguise for the detector corpus (``tools/detector_corpus.py``): written to slip past a
scanner that reads ASCII. Each family takes generated values (the corpus's own generators, with
their own seed) and writes them otherwise: look-alike separators (non-breaking and thin spaces,
tabs, newlines, Unicode hyphens and dashes, dots), digits of other scripts (full-width,
Arabic-Indic), zero-width characters inside, labels glued on or followed by "#" or "=", lower and
mixed case, and obfuscated or full-width e-mail addresses. Also ordinary texts with Unicode
spaces, dashes, digits and control whitespace, for the false-positive count.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

SPACES = ("\u00a0", "\u202f", "\u2009", "\u2007", "\u3000")
DASHES = ("\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2015", "\u2212")
ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff")


def fullwidth(v: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else "\u3000" if c == " " else c for c in v)


def digits_in(v: str, zero: int) -> str:
    return "".join(chr(zero + ord(c) - 48) if "0" <= c <= "9" else c for c in v)


def zero_width(v: str, rng: random.Random) -> str:
    out = list(v)
    for _ in range(rng.randint(1, 3)):  # inside the value, not at its edges
        out.insert(rng.randint(1, len(out) - 1), rng.choice(ZERO_WIDTH))
    return "".join(out)


def _each(v: str, old: str, new: tuple[str, ...], rng: random.Random) -> str:
    return "".join(rng.choice(new) if c == old else c for c in v)


def phones(n: int, rng: random.Random, base: Iterator[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    """International numbers (spaces or dashes) and Faker's: separators, digits, zero-width."""
    values = [v for _f, v in base]
    spaced = [v for v in values if " " in v.lstrip("+")]
    dashed = [v for v in values if "-" in v]
    families = ("Unicode spaces", "Unicode hyphens and dashes", "full-width", "Arabic-Indic digits", "zero-width inside")
    for i in range(n):
        fam = families[i % len(families)]
        if fam == "Unicode spaces":
            yield fam, _each(rng.choice(spaced), " ", SPACES, rng)
        elif fam == "Unicode hyphens and dashes":
            yield fam, _each(rng.choice(dashed), "-", DASHES, rng)
        elif fam == "full-width":
            yield fam, fullwidth(rng.choice(values))
        elif fam == "Arabic-Indic digits":
            yield fam, digits_in(rng.choice(values), rng.choice((0x660, 0x6F0)))
        else:
            yield fam, zero_width(rng.choice(values), rng)


def ssns(n: int, rng: random.Random, fake) -> Iterator[tuple[str, ...]]:
    families = ("labelled, dots", "labelled, slashes", "glued to a word", "zero-width inside", "full-width digits", "Arabic-Indic digits")
    for i in range(n):
        fam = families[i % len(families)]
        v = fake.ssn()
        if fam.startswith("labelled"):
            sep = "." if fam.endswith("dots") else "/"
            yield fam, v.replace("-", sep), rng.choice(("SSN#", "ssn=", "SSN: ", "ssn ", "SSN:", "social security number "))
        elif fam == "glued to a word":
            yield fam, v, rng.choice(("ID", "No", "nr", "SSN", "ref#ID"))
        elif fam == "zero-width inside":
            yield fam, zero_width(v if rng.random() < 0.5 else v.replace("-", " "), rng)
        elif fam == "full-width digits":
            yield fam, digits_in(v, 0xFF10)
        else:
            yield fam, digits_in(v, rng.choice((0x660, 0x6F0)))


def cards(n: int, rng: random.Random, base: Iterator[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    groups = [v for f, v in base if "spaces" in f]  # groups of four (4-6-5 and 4-6-4 for Amex, Diners)
    families = {"dots": (".",), "NBSP or thin spaces": SPACES, "tabs": ("\t",), "newlines": ("\n", "\r\n")}
    for i in range(n):
        fam = list(families)[i % len(families)]
        yield fam, _each(rng.choice(groups), " ", families[fam], rng)


def ibans(n: int, rng: random.Random, base: Iterator[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    values = [v.replace(" ", "") for _f, v in base]
    families = ("lower case, compact", "lower case, spaced", "dashes", "mixed case", "NBSP")
    for i in range(n):
        fam = families[i % len(families)]
        v = rng.choice(values)
        groups = [v[j : j + 4] for j in range(0, len(v), 4)]
        if fam == "lower case, compact":
            yield fam, v.lower()
        elif fam == "lower case, spaced":
            yield fam, " ".join(groups).lower()
        elif fam == "dashes":
            yield fam, "-".join(groups)
        elif fam == "mixed case":
            yield fam, "".join(c.lower() if rng.random() < 0.5 else c for c in " ".join(groups))
        else:
            yield fam, "\u00a0".join(groups)


def emails(n: int, rng: random.Random, base: Iterator[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    values = [v for f, v in base if f != "quoted local part"]
    families = {
        "(at) and (dot)": ("(at)", "(dot)"),
        "[at] and [dot], spaced": (" [at] ", " [dot] "),
        "the word at, (dot)": (" at ", " (dot) "),
        "at sign and [dot]": ("@", "[dot]"),
        "full-width": None,
        "upper case": None,
    }
    for i in range(n):
        fam = list(families)[i % len(families)]
        v = rng.choice(values)
        if fam == "full-width":
            yield fam, fullwidth(v)
        elif fam == "upper case":
            yield fam, v.upper()
        else:
            at, dot = families[fam]
            local, _, domain = v.partition("@")
            yield fam, local.replace(".", dot) + at + domain.replace(".", dot)


def ordinary(rng: random.Random) -> dict[str, Callable[[], str]]:
    """Ordinary texts the new readings could take for personal data: numbers with Unicode spaces,
    dashes, digits and control whitespace; lower-case ids and hashes (IBANs are read in any case
    now); prose with brackets and the word "at" (obfuscated addresses are read now)."""

    def d(k: int) -> str:
        return str(rng.randint(1, 9)) + "".join(rng.choice("0123456789") for _ in range(k - 1))

    def prices() -> str:
        a, c = rng.randint(1000, 99_999_999), rng.randint(0, 99)
        sep = rng.choice(("\u00a0", "\u202f", "\u2009"))
        return rng.choice(
            (
                f"{a:,}".replace(",", sep) + f",{c:02}\u00a0€",
                f"€\u00a0{a:,}.{c:02}",
                f"{a:,}\u00a0EUR".replace(",", sep),
                f"CHF\u00a0{a}.{c:02}",
                f"{a % 1000}\u00a0×\u00a0{c}",
            )
        )

    def ranges() -> str:
        y, m, dd = rng.randint(1990, 2030), rng.randint(1, 12), rng.randint(1, 28)
        h = rng.randint(0, 22)
        dash = rng.choice(DASHES)
        return rng.choice(
            (
                f"{h:02}:00{dash}{h + 1:02}:30",
                f"{y}{dash}{m:02}{dash}{dd:02}",
                f"{dd:02}.{m:02}.{dash}{dd:02}.{m:02}.{y}",
                f"Mon{dash}Fri {h}{dash}{h + 1}",
                f"{y}{dash}{y + 1}",
                f"pages {d(3)}{dash}{d(3)}",
                f"{dash}{d(2)}\u00a0°C",
            )
        )

    def tables() -> str:
        return "\t".join(
            rng.choice(
                (
                    f"SKU-{d(5)}",
                    str(rng.randint(1, 99)),
                    f"{d(3)}.{d(2)}",
                    f"{rng.randint(2015, 2030)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
                    f"ORD-{d(8)}",
                    "qty",
                    "EUR",
                )
            )
            for _ in range(rng.randint(3, 7))
        )

    def lines() -> str:
        parts = (
            f"Order {d(8)}",
            f"Qty {rng.randint(1, 20)}",
            f"Total {d(3)}.{d(2)}",
            f"Delivered {rng.randint(1, 28):02}.{rng.randint(1, 12):02}.{rng.randint(2020, 2030)}",
            f"Ticket #{d(6)}",
            f"Room {d(3)}",
            f"{rng.randint(0, 23):02}:{rng.randint(0, 59):02}",
        )
        return rng.choice(("\n", "\r\n")).join(rng.sample(parts, rng.randint(2, 4)))

    def scripts() -> str:
        zero = rng.choice((0xFF10, 0x660, 0x6F0, 0x966))
        y, m, dd = rng.randint(1990, 2030), rng.randint(1, 12), rng.randint(1, 28)
        return digits_in(
            rng.choice(
                (
                    f"{y}/{m:02}/{dd:02}",
                    f"{d(2)},{d(3)}",
                    f"#{d(6)}",
                    f"{y}-{m:02}-{dd:02}",
                    f"{d(3)}.{d(2)}",
                    f"{rng.randint(0, 23):02}:{rng.randint(0, 59):02}",
                )
            ),
            zero,
        )

    def ids() -> str:
        hexd = "0123456789abcdef"
        h = rng.choice("abcdef") + "".join(rng.choice(hexd) for _ in range(31))  # a letter: bare digits are phone-shaped
        return rng.choice(
            (
                f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}",
                h[: rng.choice((7, 12, 32))],
                f"user{d(4)}",
                f"ab{d(2)}cd{d(4)}",
                f"ref {rng.choice('abcdefgh')}{rng.choice('abcdefgh')}{d(2)}-{d(4)}-{d(4)}",
                f"de{d(2)} {d(4)} {d(4)}",
                f"build {h[:4]}{d(2)}",
            )
        )

    def brackets() -> str:
        w = rng.choice(("see", "note", "approx", "incl", "tbc", "at", "dot", "cat"))
        return rng.choice(
            (
                f"({w}) at {d(2)}:{d(2)[:2]}",
                f"meet at {rng.choice(('example.com', 'the cafe', 'gate B12'))} ({w})",
                f"look at polka dot dresses ({d(2)} left)",
                f"[at] desk {d(3)} [dot] matrix",
                f"sold at Amazon.com ({w})",
                f"price (at) {d(2)}.{d(2)}",
                f"{w} [at] {w}",
            )
        )

    return {
        "prices with NBSP or thin spaces": prices,
        "ranges with Unicode dashes": ranges,
        "tab-separated tables": tables,
        "lines of a note": lines,
        "numbers in other scripts' digits": scripts,
        "lower-case ids and hashes": ids,
        "prose with brackets and at": brackets,
    }
