"""``python -m tools.detector_corpus``: recall of the free-text detectors, and their false positives.

Generates values per detector (Faker, locales en_US, en_GB, de_DE, fr_FR, nl_NL, seeded; and
international phone numbers of every region libphonenumber knows), each in every format family
listed below, embeds each in prose (Faker sentences, which carry no digits) behind a lead-in
("call ", "IBAN: ", "(") and before a tail (".", ")", " today"), and scans it. A value counts as
found only if it is masked whole: the output is the prose with the value replaced by one mask
(``[PHONE]``...) and nothing else changed. A value masked as another kind (a 12-digit Maestro
number as ``[PHONE]``) is found; the "as kind" column says how often the kind was right.

False positives: ordinary numbers (order ids, dates, times, amounts, SKUs, versions, flight
numbers, and sentences mixing them), embedded the same way; any change to such a text is one.

Exit status 1 if a required family's recall is below 100% or the false-positive rate is above
``FP_THRESHOLD``. Output names families and counts only, never values (they are synthetic, but
the habit is the rule).
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import import_module

from privacy.detectors import Scanner
from tools import detector_variants, ordinary_numbers

LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "nl_NL")
FP_THRESHOLD = 0.005  # at most 0.5% of ordinary-number texts changed
_HINT = re.compile(r"\[(EMAIL|SSN|TIN|PHONE|IP|CARD \*{4}\d{4}|IBAN [A-Z]{2}\*\*)\]")
_KIND = {"EMAIL": "email", "SSN": "ssn", "TIN": "ssn", "PHONE": "phone", "IP": "ip", "CARD": "card", "IBAN": "iban"}

# lead-ins and tails per detector; "(" goes with ")"
_LEADS = {
    "phone": ("call ", "phone: ", "reach me on ", "mobile ", "tel. ", "or ", "("),
    "ssn": ("", "my number is ", "filed as "),
    "card": ("card ", "paid with ", "cc: ", "card number ", "("),
    "iban": ("IBAN ", "iban: ", "transfer to ", "account "),
    "email": ("mail ", "write to ", "<", "contact: ", "cc "),
    "ip": ("from ", "IP ", "client ", "addr=", "("),
    "fp": ("", "ref ", "see ", "("),
}
_TAILS = ("", ".", ",", "!", ";", " today", " please")
_SSN_LABELS = ("SSN ", "SSN: ", "ssn#", "ssn ", "SSN:", "social security number ", "Social Security No. ",
               "SSN is ", "my ssn, ")


@dataclass
class Tally:
    n: int = 0
    found: int = 0
    right_kind: int = 0


@dataclass
class Report:
    recall: dict[str, dict[str, Tally]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(Tally)))
    fp: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    informational: set[str] = field(default_factory=set)  # families outside the gate
    seconds: float = 0.0

    def misses(self) -> list[tuple[str, str]]:
        return [(d, f) for d, fams in self.recall.items() for f, t in fams.items() if t.found < t.n]

    def fp_rate(self) -> float:
        gated = [t for f, t in self.fp.items() if f not in self.informational]
        n = sum(t.n for t in gated)
        return sum(t.found for t in gated) / n if n else 0.0

    @property
    def ok(self) -> bool:
        return not self.misses() and self.fp_rate() <= FP_THRESHOLD


def _fakers(seed: int) -> dict:
    from faker import Faker

    out = {}
    for i, loc in enumerate(LOCALES):
        f = Faker(loc)
        f.seed_instance(seed * 31 + i)
        out[loc] = f
    return out


# ----------------------------------------------------------------------------------------------
# values to find
# ----------------------------------------------------------------------------------------------


def _phone_family(pattern: str) -> str:
    """The format family of a Faker phone pattern."""
    if pattern.startswith("+"):
        fam = "+CC (0)" if "(0)" in pattern else "+CC"
    elif pattern.startswith("00"):
        fam = "00CC"
    elif pattern.startswith("("):
        fam = "(area)"
    else:
        fam = "national"
    body = pattern.split("x")[0]
    seps = [s for s, c in ((". dots", "."), ("spaces", " "), ("dashes", "-")) if c in body.lstrip("+")]
    fam += " " + ("/".join(s.removeprefix(". ") for s in seps) if seps else "no separator")
    return fam + (" + extension" if "x" in pattern else "")


def phones(n: int, rng: random.Random, fakers: dict) -> Iterator[tuple[str, str]]:
    """Every format of Faker's phone provider for each locale, in turn (and en_GB's mobiles); then
    MSISDNs; then international numbers of every region (libphonenumber's examples, last digits
    drawn) written with "+", "00", dashes or "(0)"."""
    per = n // len(LOCALES)
    for loc, fake in fakers.items():
        mod = import_module(f"faker.providers.phone_number.{loc}").Provider
        patterns = list(mod.formats) + list(getattr(mod, "cellphone_formats", ()))
        for i in range(per):
            pat = patterns[i % len(patterns)]
            yield f"{loc} {_phone_family(pat)}", fake.numerify(fake.parse(pat))
    fake = fakers["en_US"]
    for _ in range(n // 10):
        yield "MSISDN (13 digits)", fake.msisdn()
    yield from _international(n // 2, rng)


def _international(n: int, rng: random.Random) -> Iterator[tuple[str, str]]:
    import phonenumbers as pn

    regions = sorted(pn.SUPPORTED_REGIONS)
    types = (pn.PhoneNumberType.MOBILE, pn.PhoneNumberType.FIXED_LINE)
    styles = ("international +CC spaces", "international 00CC", "international +CC dashes", "international +CC (0)")
    i = 0
    while i < n:
        region = regions[rng.randrange(len(regions))]
        ex = pn.example_number_for_type(region, rng.choice(types)) or pn.example_number(region)
        if ex is None:
            continue
        nsn = pn.national_significant_number(ex)
        k = min(4, len(nsn) - 3)
        drawn = nsn[:-k] + "".join(rng.choice("0123456789") for _ in range(k))
        num = pn.PhoneNumber(country_code=ex.country_code, national_number=int(drawn),
                             italian_leading_zero=ex.italian_leading_zero, number_of_leading_zeros=ex.number_of_leading_zeros)
        s = pn.format_number(num, pn.PhoneNumberFormat.INTERNATIONAL)
        style = styles[i % len(styles)]
        if style.endswith("00CC"):
            s = "00" + s[1:]
        elif style.endswith("dashes"):
            s = s.replace(" ", "-")
        elif style.endswith("(0)"):
            meta = pn.PhoneMetadata.metadata_for_region(region)
            if meta is None or meta.national_prefix != "0" or ex.italian_leading_zero:
                style = styles[0]
            else:
                cc, _, rest = s.partition(" ")
                s = f"{cc} (0){rest}"
        i += 1
        yield style, s


def ssns(n: int, rng: random.Random, fakers: dict) -> Iterator[tuple[str, ...]]:
    fake = fakers["en_US"]
    for i in range(n):
        v = fake.ssn()
        form = i % 5
        if form == 0:
            yield "dashed", v
        elif form == 1:
            yield "spaced", v.replace("-", " ")
        elif form == 2:
            yield "labelled, no separators", v.replace("-", ""), rng.choice(_SSN_LABELS)
        elif form == 3:
            yield "labelled, dashed or spaced", v.replace("-", rng.choice("- ")), rng.choice(_SSN_LABELS)
        else:
            yield "ITIN, dashed", fake.ssn(taxpayer_identification_number_type="ITIN")


_CARD_TYPES = ("visa16", "visa13", "visa19", "mastercard", "amex", "discover", "diners", "jcb15", "jcb16", "maestro")


def _card_groups(d: str) -> list[str]:
    if len(d) in (14, 15) and d[0] == "3":  # Amex 4-6-5, Diners 4-6-4
        return [d[:4], d[4:10], d[10:]]
    return [d[i:i + 4] for i in range(0, len(d), 4)]


def cards(n: int, _rng: random.Random, fakers: dict) -> Iterator[tuple[str, str]]:
    locs = list(fakers)
    for i in range(n):
        fake = fakers[locs[i % len(locs)]]
        t = _CARD_TYPES[i % len(_CARD_TYPES)]
        d = fake.credit_card_number(card_type=t)
        form = (i // len(_CARD_TYPES)) % 3
        sep = ("", " ", "-")[form]
        fam = f"{len(d)} digits" + (" (Maestro)" if len(d) == 12 else "")
        yield f"{fam}, {('no separator', 'spaces', 'dashes')[form]}", sep.join(_card_groups(d)) if sep else d


def ibans(n: int, _rng: random.Random, fakers: dict) -> Iterator[tuple[str, str]]:
    locs = list(fakers)
    for i in range(n):
        v = fakers[locs[i % len(locs)]].iban()
        spaced = (i // len(locs)) % 2 == 1
        yield f"{v[:2]} {'spaced' if spaced else 'compact'}", " ".join(v[j:j + 4] for j in range(0, len(v), 4)) if spaced else v


def emails(n: int, rng: random.Random, fakers: dict) -> Iterator[tuple[str, str]]:
    locs = list(fakers)
    for i in range(n):
        fake = fakers[locs[i % len(locs)]]
        form = (i // len(locs)) % 4
        v = (fake.email, fake.free_email, fake.company_email)[i % 3]()
        local, _, domain = v.partition("@")
        if form == 0:
            yield "plain", v
        elif form == 1:
            tag = "".join(ch for ch in fake.word() if ch.isalnum())  # fr_FR has words in two ("quant à")
            yield "plus tag", f"{local}+{tag}@{domain}"
        elif form == 2:
            yield "subdomain", f"{local}@{rng.choice(('mail', 'eu.mail', 'a.b'))}.{domain}"
        else:
            yield "quoted local part", f'"{fake.first_name()} {fake.last_name()}"@{domain}'


def ips(n: int, _rng: random.Random, fakers: dict) -> Iterator[tuple[str, str]]:
    fake = fakers["en_US"]
    for i in range(n):
        form = i % 4
        if form == 0:
            yield "IPv4 public", fake.ipv4_public()
        elif form == 1:
            yield "IPv4 private", fake.ipv4_private()
        elif form == 2:
            yield "IPv6 full", fake.ipv6()
        else:
            yield "IPv6 compressed", ipaddress.IPv6Address(fake.ipv6()).compressed


DETECTOR_VALUES: dict[str, Callable] = {"phone": phones, "ssn": ssns, "card": cards, "iban": ibans, "email": emails, "ip": ips}
DISGUISED = " in disguise"  # the recall section of values written to slip past the scanner


def disguised(n: int, seed: int) -> Iterator[tuple[str, str, str, tuple[str, ...]]]:
    """(detector, family, value, label) of values in disguise (tools/detector_variants.py): drawn
    from the generators above with their own seed and random stream, so that the other sections'
    values are the same with or without them."""
    rng = random.Random(seed * 7919 + 1)
    fakers = _fakers(seed + 1000)
    dv = detector_variants
    families = {
        "phone": lambda: dv.phones(n, rng, phones(max(n, 100), rng, fakers)),
        "ssn": lambda: dv.ssns(n, rng, fakers["en_US"]),
        "card": lambda: dv.cards(n, rng, cards(max(n, 100), rng, fakers)),
        "iban": lambda: dv.ibans(n, rng, ibans(max(n // 4, 100), rng, fakers)),
        "email": lambda: dv.emails(n, rng, emails(max(n // 4, 100), rng, fakers)),
    }
    for detector, values in families.items():
        for family, value, *label in values():
            yield detector, family, value, tuple(label)


# ----------------------------------------------------------------------------------------------
# the run
# ----------------------------------------------------------------------------------------------


def _prose(rng: random.Random, fakers: dict, k: int = 256) -> list[str]:
    fake = fakers["en_US"]
    out = [fake.sentence(nb_words=rng.randint(3, 12)) for _ in range(k)]
    assert not any(ch.isdigit() for p in out for ch in p)  # so that a digit left over is the value's
    return out


def _embed(rng: random.Random, prose: list[str], lead: str, value: str) -> tuple[str, str, str]:
    tail = rng.choice(_TAILS)
    if lead.endswith(("(", "<")):
        tail = (")" if lead.endswith("(") else ">") + tail
    return f"{rng.choice(prose)} {lead}", value, f"{tail} {rng.choice(prose)}"


def run(n: int = 10_000, seed: int = 1) -> Report:
    """Recall per detector and family on generated values, false positives on ordinary numbers."""
    t0 = time.perf_counter()
    rng = random.Random(seed)
    fakers = _fakers(seed)
    prose = _prose(rng, fakers)
    scanner = Scanner()
    report = Report()
    for detector, values in DETECTOR_VALUES.items():
        for family, value, *label in values(n, rng, fakers):
            _recall(report, scanner, rng, prose, detector, detector, family, value, label[0] if label else None)
    vrng = random.Random(seed * 7919 + 2)  # embedding values in disguise: the other draws do not move
    for detector, family, value, label in disguised(n, seed):
        _recall(report, scanner, vrng, prose, detector + DISGUISED, detector, family, value, label[0] if label else None)
    ordinary = ordinary_numbers.generators(rng)
    names = list(ordinary)
    for i in range(n):
        family = names[i % len(names)]
        _fp(report, scanner, rng, prose, family, ordinary[family]())
    unicode = detector_variants.ordinary(vrng)  # ordinary texts with Unicode and control whitespace
    names = list(unicode)
    for i in range(n // 2):
        family = names[i % len(names)]
        _fp(report, scanner, vrng, prose, family, unicode[family]())
    long_ids = "bare ids of 10 to 15 digits (masked by design, not gated)"
    report.informational.add(long_ids)
    for _ in range(max(1, n // 10)):
        _fp(report, scanner, rng, prose, long_ids, ordinary_numbers.long_ids(rng))
    report.seconds = time.perf_counter() - t0
    return report


def _recall(report: Report, scanner: Scanner, rng: random.Random, prose: list[str], section: str, detector: str,
            family: str, value: str, label: str | None) -> None:
    """One value embedded in prose (behind its label, if any): is it masked whole, and as its kind?"""
    lead = label if label is not None else rng.choice(_LEADS[detector])
    before, value, after = _embed(rng, prose, lead, value)
    masked, _ = scanner.mask(before + value + after)
    t = report.recall[section][family]
    t.n += 1
    mid = masked[len(before):len(masked) - len(after)]
    hint = _HINT.fullmatch(mid) if masked.startswith(before) and masked.endswith(after) else None
    if hint is not None:
        t.found += 1
        t.right_kind += _KIND[hint.group(1).split(" ")[0]] == detector


def _fp(report: Report, scanner: Scanner, rng: random.Random, prose: list[str], family: str, value: str) -> None:
    before, value, after = _embed(rng, prose, rng.choice(_LEADS["fp"]), value)
    text = before + value + after
    t = report.fp[family]
    t.n += 1
    t.found += scanner.mask(text)[0] != text


def render(report: Report, n: int, seed: int) -> str:
    title = (f"Free-text detectors: recall on generated values, false positives on ordinary numbers "
             f"(seed {seed}, {n:,} per detector, locales {' '.join(LOCALES)}; {report.seconds:.1f} s)")
    lines = [title, "",
             f"{'recall: masked whole':62s}{'values':>9s}{'found':>10s}{'as kind':>10s}"]
    for detector, fams in report.recall.items():
        tot = Tally(sum(t.n for t in fams.values()), sum(t.found for t in fams.values()), sum(t.right_kind for t in fams.values()))
        lines.append(_row(detector, tot))
        lines.extend(_row("  " + f, fams[f]) for f in sorted(fams))
    lines += ["", f"{'false positives: text changed':62s}{'texts':>9s}{'changed':>10s}"]
    gated = [(f, t) for f, t in report.fp.items() if f not in report.informational]
    lines.extend(f"  {f:60s}{t.n:>9,}{t.found / t.n:>10.2%}" for f, t in gated)
    total = sum(t.n for _, t in gated)
    lines.append(f"  {'all ordinary numbers':60s}{total:>9,}{report.fp_rate():>10.2%}   (threshold {FP_THRESHOLD:.2%})")
    lines.extend(f"  {f:60s}{t.n:>9,}{t.found / t.n:>10.2%}" for f, t in report.fp.items() if f in report.informational)
    misses = report.misses()
    lines += ["", f"  [{'FAIL' if misses else 'PASS'}] recall 100% on every family"
              + (f" (below: {', '.join(f'{d}/{f}' for d, f in misses)})" if misses else ""),
              f"  [{'PASS' if report.fp_rate() <= FP_THRESHOLD else 'FAIL'}] false positives <= {FP_THRESHOLD:.2%}"
              " of ordinary-number texts"]
    return "\n".join(lines)


def _row(name: str, t: Tally) -> str:
    return f"{name:62s}{t.n:>9,}{t.found / t.n:>10.2%}{t.right_kind / t.n:>10.1%}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.detector_corpus", description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000, help="values per detector, and ordinary numbers (default 10,000)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    report = run(args.n, args.seed)
    print(render(report, args.n, args.seed))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
