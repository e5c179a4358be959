"""``python -m twin``: run the whole pipeline offline and print what happened."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from twin.pipeline import run_pipeline  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m twin", description=__doc__)
    ap.add_argument("--events", type=int, default=10_000, help="events to produce (default 10000)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--consent-ratio", type=float, default=0.5, help="share of subjects who consented")
    ap.add_argument("--consent-noise", type=float, default=0.02, help="share of events with an ambiguous consent value")
    ap.add_argument("--malformed-ratio", type=float, default=0.005, help="share of records that are not scrubbable")
    ap.add_argument("--out", default="out", help="folder that receives a copy of the delivered objects")
    ap.add_argument("--no-throughput-limits", action="store_true", help="do not emulate per-shard write limits")
    args = ap.parse_args(argv)
    summary = run_pipeline(
        events=args.events,
        seed=args.seed,
        consent_ratio=args.consent_ratio,
        consent_noise=args.consent_noise,
        malformed_ratio=args.malformed_ratio,
        out_dir=args.out,
        throughput_limits=not args.no_throughput_limits,
    )
    print(summary.report())
    return 0 if summary.counts_add_up else 1


if __name__ == "__main__":
    raise SystemExit(main())
