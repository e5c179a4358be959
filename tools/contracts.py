"""``python -m tools.contracts``: validate the data contracts, or scrub a JSON-lines file with them.

    python -m tools.contracts validate [--dir contracts]
    python -m tools.contracts scrub events.jsonl [--contract order_placed/1] [--keyring keys.json]

``scrub`` is batch mode, for backfills: the same engine and contracts as the stream. Each line is
one event; the output goes to ``<input>.scrubbed.jsonl`` and every line that cannot be scrubbed
goes, untouched, to ``<input>.quarantine.jsonl`` with its line number and reason (the quarantine
file holds raw personal data: treat it like the stream's quarantine prefix). ``--contract`` forces
one contract for every line; otherwise each event names its own, as in the stream.

Pseudonymisation needs the keyring (``{"current": "v1", "v1": "<key>"}``): give ``--keyring`` a
file, or set ``PSEUDONYM_KEYRING``. To produce the same pseudonyms as the stream, use the stream's
keyring (from its Secrets Manager secret).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas")]

from privacy.contract import ContractError, load_contract_dir  # noqa: E402
from privacy.engine import ContractSet, Keyring, Rejection  # noqa: E402
from scrubber.codec import DecodeFailure, decode_object, encode_line  # noqa: E402
from stacks.config import CONTEXT_KEY, ConfigError, check_contracts, load_from_cdk_json  # noqa: E402


def cmd_validate(args) -> int:
    folder = Path(args.dir) if args.dir else ROOT / load_from_cdk_json(str(ROOT / "cdk.json")).contracts.dir
    try:
        contracts = load_contract_dir(folder)
        check_contracts(contracts)
    except (ContractError, ConfigError) as exc:
        print(f"invalid: {str(exc).removeprefix(CONTEXT_KEY + '.contracts: ')}", file=sys.stderr)
        return 1
    for c in contracts:
        pii = sum(1 for f in c.fields if f.pii)
        print(f"ok  {c.ref:<28} {len(c.fields):>3} fields, {pii:>2} personal, consent: {c.consent.model}, "
              f"scan: {c.scan_mode}, produced: {'yes' if c.producible else 'no'}")
    print(f"{len(contracts)} contracts valid")
    return 0


def _keyring(path: str | None) -> Keyring | None:
    text = Path(path).read_text() if path else os.environ.get("PSEUDONYM_KEYRING")
    return Keyring.from_secret(text) if text else None


def cmd_scrub(args) -> int:
    from tqdm import tqdm

    cfg = load_from_cdk_json(str(ROOT / "cdk.json")).contracts
    contracts = load_contract_dir(ROOT / cfg.dir)
    keyring = _keyring(args.keyring)
    needs_keys = any(f.pii and "pseudonymise" in (f.pii.action, f.pii.always) for c in contracts for f in c.fields)
    if needs_keys and keyring is None:
        print("error: the contracts pseudonymise; give --keyring FILE or set PSEUDONYM_KEYRING", file=sys.stderr)
        return 2
    cs = ContractSet(
        contracts,
        type_field=cfg.type_field,
        version_field=cfg.version_field,
        default_contract=cfg.default_contract,
        default_versions=dict(cfg.default_versions),
        token=cfg.redaction_token,
        keyring=keyring,
    )
    forced = None
    if args.contract:
        t, _, v = args.contract.partition("/")
        forced = cs.compiled.get((t, v))
        if forced is None:
            print(f"error: no contract {args.contract} (known: {', '.join(sorted(c.ref for c in contracts))})", file=sys.stderr)
            return 2
    src = Path(args.input)
    out_path = Path(args.output) if args.output else src.with_name(src.stem + ".scrubbed.jsonl")
    q_path = out_path.with_name(src.stem + ".quarantine.jsonl")
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    stats: Counter = Counter()
    total = src.stat().st_size
    with src.open("rb") as fin, out_path.open("wb") as fout, q_path.open("wb") as fq, tqdm(
        total=total, unit="B", unit_scale=True, desc="scrubbing", disable=args.quiet
    ) as bar:
        # the stream's fast path (privacy.fast), the reference engine for whatever it declines
        fast = cs.fast()
        tails = fast.tails(now)
        scrub_fast = fast.scrub if forced is None else getattr(fast.plans.get((forced.contract.type, forced.contract.version)), "scrub", None)
        for lineno, raw in enumerate(fin, 1):
            bar.update(len(raw))
            line = raw.strip()
            if not line:
                continue
            out = None
            if scrub_fast is not None:
                try:
                    out, redacted = scrub_fast(line, tails)
                except Exception:  # noqa: BLE001 - declined: the reference engine decides, below
                    out = None
            try:
                if out is None:
                    event = decode_object(line)
                    redacted = cs.apply(event, line, now, contract=forced).redacted
                    out = encode_line(event)
            except (DecodeFailure, Rejection) as exc:
                reason = exc.reason
            except Exception:  # noqa: BLE001 - fail closed, as the stream does
                reason = "internal_error"
            else:
                fout.write(out)
                stats["ok"] += 1
                stats["redacted"] += redacted
                continue
            # the raw line is kept, like Firehose's processing-failed records
            fq.write(json.dumps({"line": lineno, "reason": reason, "raw": line.decode("utf-8", "replace")}).encode() + b"\n")
            stats["quarantined"] += 1
            stats[f"reason:{reason}"] += 1
    print(f"{stats['ok']:,} scrubbed ({stats['redacted']:,} redacted) -> {out_path}")
    print(f"{stats['quarantined']:,} quarantined -> {q_path}")
    for k, v in sorted(stats.items()):
        if k.startswith("reason:"):
            print(f"  {k[7:]}: {v:,}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.contracts", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("validate", help="load and validate every contract")
    v.add_argument("--dir", help="contracts folder (default: the configured one)")
    s = sub.add_parser("scrub", help="scrub a JSON-lines file (batch mode)")
    s.add_argument("input")
    s.add_argument("--contract", help="type/version to apply to every line (default: each event names its own)")
    s.add_argument("--output", help="output file (default: <input>.scrubbed.jsonl)")
    s.add_argument("--keyring", help="JSON keyring file for pseudonymisation")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    try:
        return cmd_validate(args) if args.cmd == "validate" else cmd_scrub(args)
    except ConfigError as exc:
        print(f"invalid configuration: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
