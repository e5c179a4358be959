"""``python -m twin``: run the whole pipeline offline and print what happened.

The configuration is cdk.json's ``pipeline`` block, with ``-c pipeline='{...}'`` deep-merged over
it as ``cdk synth -c`` does, so the twin and a synth see the same configuration. The ``--out``
folder holds the latest run only (see ``twin.outdir``)."""

from __future__ import annotations

import argparse
import math
import sys

from stacks.config import CONTEXT_KEY, ConfigError, load_from_cdk_json
from twin.outdir import OutDirError
from twin.pipeline import ROOT, run_pipeline

MAX_EVENTS = 1_000_000  # the producer's limit on one invocation's count
MAX_SEED = 2**63 - 1


def _whole(lo: int, hi: int):
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
        if not lo <= n <= hi:
            raise argparse.ArgumentTypeError(f"must be between {lo:,} and {hi:,}, got {n:,}")
        return n

    return parse


def _share(text: str) -> float:
    """A share: a finite number from 0 to 1."""
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1, got {text!r}") from None
    if not (math.isfinite(x) and 0.0 <= x <= 1.0):
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1, got {text!r}")
    return x


def _context(text: str) -> tuple[str, str]:
    key, eq, value = text.partition("=")
    if not eq or not key:
        raise argparse.ArgumentTypeError(f"must be KEY=VALUE, as with cdk -c, e.g. {CONTEXT_KEY}='{{...}}'")
    return key, value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m twin", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=_whole(0, MAX_EVENTS), default=10_000, help="events to produce (default 10000)")
    ap.add_argument("--seed", type=_whole(0, MAX_SEED), default=7)
    ap.add_argument("--consent-ratio", type=_share, default=0.5, help="share of subjects who consented")
    ap.add_argument("--consent-noise", type=_share, default=0.02, help="share of events with an ambiguous consent value")
    ap.add_argument("--malformed-ratio", type=_share, default=0.005, help="share of records that are not scrubbable")
    ap.add_argument("--out", default="out",
                    help="folder that receives a copy of the delivered objects; it holds the latest run only "
                         "(an earlier run's output is removed; a folder with other files is refused)")
    ap.add_argument("--no-throughput-limits", action="store_true", help="do not emulate per-shard write limits")
    ap.add_argument("-c", "--context", type=_context, action="append", default=[], metavar="KEY=VALUE",
                    help=f"as cdk -c: {CONTEXT_KEY}='{{...}}' (JSON) is deep-merged over cdk.json's {CONTEXT_KEY} "
                         "block; repeatable, the last value of a key wins")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    override = None
    for key, value in args.context:
        if key == CONTEXT_KEY:
            override = value  # the last one wins, as with the CDK CLI
        else:
            print(f"note: -c {key}: only the {CONTEXT_KEY} context configures the twin; ignored", file=sys.stderr)
    try:
        config = load_from_cdk_json(ROOT / "cdk.json", override)
    except ConfigError as exc:
        print(f"Invalid configuration: {exc}", file=sys.stderr)
        return 1
    try:
        summary = run_pipeline(
            config=config,
            events=args.events,
            seed=args.seed,
            consent_ratio=args.consent_ratio,
            consent_noise=args.consent_noise,
            malformed_ratio=args.malformed_ratio,
            out_dir=args.out,
            throughput_limits=not args.no_throughput_limits,
        )
    except OutDirError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary.report())
    return 0 if summary.counts_add_up else 1


if __name__ == "__main__":
    raise SystemExit(main())
