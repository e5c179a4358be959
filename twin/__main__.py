"""``python -m twin``: the whole pipeline offline, on a local cloud that keeps its state.

    python -m twin [run] [--events N ...]   generate events, deliver everything pending
    python -m twin push FILE.jsonl          push your own events (JSON lines), deliver everything pending
    python -m twin redrive [--since T] [--until T]
                                            put quarantined records back on the stream, deliver everything pending
    python -m twin down                     stop the local cloud (its lake, keys and resources go with it)

run and push start the local cloud (a moto server on 127.0.0.1, port TWIN_PORT or 4566) if this
checkout's is not running, and leave it running; its lake accumulates from command to command. The
configuration is cdk.json's ``pipeline`` block, with ``-c pipeline='{...}'`` deep-merged over it
as ``cdk synth -c`` does, so the twin and a synth see the same configuration. The ``--out`` folder
holds a copy of the local lake (see ``twin.outdir``)."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from stacks.config import CONTEXT_KEY, ConfigError, load_from_cdk_json
from twin.outdir import OutDirError, check, prepare
from twin.pipeline import DEFAULT_EVENTS_PER_SECOND, ROOT, ProducerError, push_file, redrive_quarantine, run_pipeline
from twin.prices import DEFAULT_PRICES, PriceError, load_prices
from twin.push import read_events, too_large_for_direct
from twin.redrive import RedriveRefused
from twin.resources import ResourceMismatch
from twin.server import ServerError, command_lock, ensure_running, running, stop

COMMANDS = ("run", "push", "redrive", "down")

MAX_EVENTS = 1_000_000  # the producer's limit on one invocation's count
DEFAULT_SEED = 7  # of the first run on a local cloud; the next runs take 8, 9, ... (new events, same lake)
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


def _rate(text: str) -> float:
    """Events per second: a finite number above 0."""
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of events per second, got {text!r}") from None
    if not (math.isfinite(x) and x > 0):
        raise argparse.ArgumentTypeError(f"must be more than 0 events per second, got {text!r}")
    return x


def _context(text: str) -> tuple[str, str]:
    key, eq, value = text.partition("=")
    if not eq or not key:
        raise argparse.ArgumentTypeError(f"must be KEY=VALUE, as with cdk -c, e.g. {CONTEXT_KEY}='{{...}}'")
    return key, value


def _common(ap: argparse.ArgumentParser, *, config: bool = True) -> None:
    ap.add_argument("--state-dir", default=str(ROOT / ".twin"),
                    help="folder of the local cloud's state file (server.json), log and lock (default .twin)")
    ap.add_argument("--port", type=_whole(1, 65535), default=None,
                    help="port of the local cloud when this command starts it (default: TWIN_PORT, else 4566)")
    if config:
        ap.add_argument("--out", default="out",
                        help="folder that receives a copy of the local lake (data and quarantine) and summary.json; "
                             "an earlier command's copy is replaced; a folder with other files is refused")
        ap.add_argument("--no-throughput-limits", action="store_true", help="do not emulate per-shard write limits")
        ap.add_argument("--rate", type=_rate, default=DEFAULT_EVENTS_PER_SECOND,
                        help="events per second the cost estimate assumes (stream or shard hours, Firehose's batches, S3 objects); "
                             f"default {DEFAULT_EVENTS_PER_SECOND:g}")
        ap.add_argument("--prices", default=str(DEFAULT_PRICES),
                        help="the price table of the cost estimate (default twin/prices_us-east-1.yaml)")
        ap.add_argument("-c", "--context", type=_context, action="append", default=[], metavar="KEY=VALUE",
                        help=f"as cdk -c: {CONTEXT_KEY}='{{...}}' (JSON) is deep-merged over cdk.json's {CONTEXT_KEY} "
                             "block; repeatable, the last value of a key wins")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv.pop(0) if argv and argv[0] in COMMANDS else "run"
    if command == "push":
        ap = argparse.ArgumentParser(prog="python -m twin push", description="Push the events of a JSON-lines file "
                                     "(one JSON object per line) through the producer, deliver everything pending, "
                                     "and refresh --out.")
        ap.add_argument("file", help="JSON-lines file of events")
        ap.add_argument("--direct", action="store_true",
                        help="put each event on the stream as it is (partition key: its line number), as your own "
                             "applications would: no producer, no contract check (events of the default contract, "
                             "without an event type, can be sent so); the scrubber quarantines what it cannot process")
        _common(ap)
    elif command == "redrive":
        ap = argparse.ArgumentParser(prog="python -m twin redrive", description="Put the records of the quarantine's "
                                     "error objects back on the stream (the redrive function, run here), move the "
                                     "objects aside, deliver everything pending, and refresh --out. Needs the local "
                                     "cloud an earlier command left running.")
        ap.add_argument("--since", help="redrive the error objects whose oldest record arrived at or after this: a UTC day "
                                        "(YYYY-MM-DD) or an ISO-8601 time with its zone (default: the oldest)")
        ap.add_argument("--until", help="... and before this (same forms; default: now)")
        _common(ap)
    elif command == "down":
        ap = argparse.ArgumentParser(prog="python -m twin down", description="Stop the local cloud; its lake, keys "
                                     "and resources go with it.")
        _common(ap, config=False)
    else:
        ap = argparse.ArgumentParser(prog="python -m twin", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
        ap.add_argument("--events", type=_whole(0, MAX_EVENTS), default=10_000, help="events to produce (default 10000)")
        ap.add_argument("--seed", type=_whole(0, MAX_SEED), default=None,
                        help=f"same seed, same events (default: {DEFAULT_SEED} for the first run on a local cloud, "
                             f"then {DEFAULT_SEED + 1}, {DEFAULT_SEED + 2}, ...: each run adds new events to the lake)")
        ap.add_argument("--consent-ratio", type=_share, default=0.5, help="share of subjects who consented")
        ap.add_argument("--consent-noise", type=_share, default=0.02, help="share of events with an ambiguous consent value")
        ap.add_argument("--malformed-ratio", type=_share, default=0.005, help="share of records that are not scrubbable")
        _common(ap)
    args = ap.parse_args(argv)
    args.command = command
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.command == "down":
            with command_lock(Path(args.state_dir)):
                print(stop(args.state_dir, args.port))
            return 0
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
            prices = load_prices(args.prices)
        except PriceError as exc:
            print(f"Invalid price table: {exc}", file=sys.stderr)
            return 1
        given = None
        if args.command == "redrive":
            from quarantine.layout import RangeError, parse_range

            try:
                parse_range(args.since, args.until)  # refused before the local cloud is touched
            except RangeError as exc:
                print(f"error: redrive: --{exc}", file=sys.stderr)
                return 2
        if args.command == "push":
            try:
                given = read_events(args.file)  # read before the local cloud is touched
            except OSError as exc:  # named by the file, nothing of its content
                print(f"error: push: {args.file}: cannot be read ({exc.strerror or type(exc).__name__})", file=sys.stderr)
                return 2
            if args.direct and (refusal := too_large_for_direct(given)) is not None:
                print(f"error: {refusal}", file=sys.stderr)
                return 2
        check(args.out)  # refused before the local cloud is touched
        with command_lock(Path(args.state_dir)):
            # a redrive reads what earlier commands left: a new, empty local cloud has nothing for it
            cloud = running(args.state_dir) if args.command == "redrive" else ensure_running(args.state_dir, args.port)
            out = prepare(args.out)  # emptied only now: a command refused (wrong port, no server) keeps the copy
            common = dict(config=config, cloud=cloud, out_dir=out, throughput_limits=not args.no_throughput_limits,
                          events_per_second=args.rate, prices=prices)
            if args.command == "redrive":
                summary = redrive_quarantine(since=args.since, until=args.until, **common)
            elif given is not None:
                summary = push_file(given, direct=args.direct, **common)
            else:
                seed = args.seed if args.seed is not None else DEFAULT_SEED + cloud.runs()
                summary = run_pipeline(events=args.events, seed=seed, consent_ratio=args.consent_ratio,
                                       consent_noise=args.consent_noise, malformed_ratio=args.malformed_ratio, **common)
                cloud.count_run()
    except (OutDirError, ServerError, ResourceMismatch, ProducerError, RedriveRefused) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as exc:  # the local server went away (or refused) mid-command
        print(f"error: the local cloud stopped answering ({type(exc).__name__}); `make run` starts a new one, "
              "and the next command delivers what was left pending", file=sys.stderr)
        return 2
    print(summary.report())
    refused = summary.input is not None and (summary.input["refused_lines"] or summary.nonconforming)
    r = summary.redrive
    left = r is not None and (not r["complete"] or r["records_failed"] or r["objects_skipped"])
    return 0 if summary.counts_add_up and not refused and not left else 1


if __name__ == "__main__":
    raise SystemExit(main())
