"""Small events, as reference 003 sends them (about 150 bytes each), to push through the local cloud:

    python -m tools.small_events 100000 --output small.jsonl
    make push IN=small.jsonl

Each is one JSON line of the ``legacy_consent/1`` contract (no ``event_type``: the pipeline's
default contract applies): ``name``, ``dob``, ``gender``, ``ssn_no``, ``data_share_consent``,
``evnt_time``. Made up (Faker, en_US) and reproducible: the same count and seed, the same file.
Half the subjects consent (``--consent-ratio``). The cost estimate of ``make push`` prices them
(README "What it costs"): at this size Firehose's 5 KB rounding is most of the bill.
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from tools.scrub_files import InputError, open_private

START = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)


def small_events(count: int, seed: int = 3, consent_ratio: float = 0.5):
    """``count`` events as bytes (no newline), one subject each, 7 ms apart."""
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    for i in range(count):
        when = (START + timedelta(milliseconds=7 * i)).replace(tzinfo=None)
        yield orjson.dumps({
            "name": fake.name(),
            "dob": fake.date_of_birth(minimum_age=18, maximum_age=90).isoformat(),
            "gender": rng.choice(("F", "M")),
            "ssn_no": fake.ssn().replace("-", ""),
            "data_share_consent": rng.random() < consent_ratio,
            "evnt_time": when.isoformat(timespec="microseconds"),
        })


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.small_events", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("count", type=int, help="how many events")
    ap.add_argument("--seed", type=int, default=3, help="same seed, same events (default 3)")
    ap.add_argument("--consent-ratio", type=float, default=0.5, help="share of events whose subject consented")
    ap.add_argument("--output", help="file to write (owner-only; default: standard output)")
    args = ap.parse_args(argv)
    if args.count < 1 or not 0.0 <= args.consent_ratio <= 1.0:
        ap.error("count must be 1 or more, and --consent-ratio between 0 and 1")
    try:
        out = open_private(Path(args.output), "output", {}) if args.output else sys.stdout.buffer
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        for event in small_events(args.count, args.seed, args.consent_ratio):
            out.write(event + b"\n")
    finally:
        if args.output:
            out.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
