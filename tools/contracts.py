"""``python -m tools.contracts``: validate the data contracts, or scrub a JSON-lines file with them.

    python -m tools.contracts validate [--dir contracts]
    python -m tools.contracts scrub events.jsonl [--output F] [--quarantine F] [--contract order_placed/1]
                                                 [--keyring keys.json]
                                                 [--subject-keys TABLE --root-key KEY | --redact-encrypted]

``scrub`` is batch mode, for backfills: the same engine and contracts as the stream. Each line is
one event; the output goes to ``<input>.scrubbed.jsonl`` (or ``--output``) and every line that
cannot be scrubbed goes, untouched, to ``<input>.quarantine.jsonl`` next to the output (or
``--quarantine``) with its line number and reason: ``{"line": 3, "reason": "invalid_json", "raw":
"..."}``, or ``raw_base64`` for bytes that are not UTF-8. The quarantine file holds raw personal
data: treat it like the stream's quarantine prefix. Both files are created owner-only (0600). An
output that is the input or the keyring (under any name: a link, ``./x`` for ``x``), or the other
output, is refused before anything is written. ``--contract`` forces one contract for every line;
otherwise each event names its own, as in the stream. A bad file or option is reported in one
line naming it (never its content) with exit status 2.

Pseudonymisation needs the keyring (``{"current": "v1", "v1": "<key>"}``): give ``--keyring`` a
file, or set ``PSEUDONYM_KEYRING``. To produce the same pseudonyms as the stream, use the stream's
keyring (from its Secrets Manager secret).

Contracts that encrypt seal values under each subject's own key, from the per-subject key table:
give ``--subject-keys`` (the DynamoDB table, e.g. ``pii-scrub-subject-keys``) and ``--root-key``
(its root KMS key, e.g. ``alias/pii-scrub-subject-keys-root``), with AWS credentials that may use
them (the scrubber's permissions), so that the backfill lands what the stream would. Or say
``--redact-encrypted``: what would be sealed is redacted instead (and subjects keep HMAC
pseudonyms). Without either, such contracts are refused.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from keystore.items import KeyStoreError
from privacy.codec import DecodeFailure
from privacy.contract import ContractError
from privacy.engine import ContractSet, Rejection
from privacy.files import load_contract_dir
from privacy.scrub import Scrubber
from stacks.config import CONTEXT_KEY, ConfigError, check_contracts, load_from_cdk_json
from tools.scrub_files import KEYRING_ENV, InputError, check_outputs, load_keyring, open_input, open_private

ROOT = Path(__file__).resolve().parent.parent


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


def _scrub_paths(args) -> tuple[Path, Path, Path]:
    src = Path(args.input)
    out_path = Path(args.output) if args.output else src.with_name(src.stem + ".scrubbed.jsonl")
    q_path = Path(args.quarantine) if args.quarantine else out_path.with_name(src.stem + ".quarantine.jsonl")
    return src, out_path, q_path


def cmd_scrub(args) -> int:
    from tqdm import tqdm

    cfg = load_from_cdk_json(str(ROOT / "cdk.json")).contracts
    contracts = load_contract_dir(ROOT / cfg.dir)
    keyring = load_keyring(args.keyring)
    needs_keys = any(f.pii and "pseudonymise" in (f.pii.action, f.pii.always) for c in contracts for f in c.fields)
    if needs_keys and keyring is None:
        raise InputError(f"the contracts pseudonymise: give --keyring FILE or set {KEYRING_ENV}")
    encrypts = any(f.pii and "encrypt" in (f.pii.action, f.pii.always) for c in contracts for f in c.fields)
    if args.subject_keys or args.root_key:
        if not (args.subject_keys and args.root_key) or args.redact_encrypted:
            raise InputError("--subject-keys and --root-key go together, and not with --redact-encrypted")
        from keystore.dynamo import DynamoKeyStore
        from privacy.subjects import SubjectKeys

        keyring = SubjectKeys(keyring, DynamoKeyStore(args.subject_keys, args.root_key),
                              retention_days={c.retention_days for c in contracts if c.retention_days})
    elif encrypts and not args.redact_encrypted:
        raise InputError("the contracts encrypt: give --subject-keys TABLE and --root-key KEY (the stream's key table), "
                         "or --redact-encrypted")
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
            raise InputError(f"--contract {args.contract}: no such contract (known: {', '.join(sorted(c.ref for c in contracts))})")
    src, out_path, q_path = _scrub_paths(args)
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    stats: Counter = Counter()
    with open_input(args.input) as fin:
        # by name first (nothing is created if an output is refused), then on the open files
        check_outputs({"--output": out_path, "quarantine": q_path},
                      {"input": src, **({"keyring": Path(args.keyring)} if args.keyring else {})})
        st = os.fstat(fin.fileno())
        avoid = {(st.st_dev, st.st_ino): "input"}
        if args.keyring:
            k = os.stat(args.keyring)
            avoid[(k.st_dev, k.st_ino)] = "keyring"
        with open_private(out_path, "--output", avoid) as fout:
            o = os.fstat(fout.fileno())
            with open_private(q_path, "quarantine", {**avoid, (o.st_dev, o.st_ino): "--output"}) as fq, tqdm(
                total=st.st_size, unit="B", unit_scale=True, desc="scrubbing", disable=args.quiet
            ) as bar:
                try:
                    _scrub_lines(fin, fout, fq, cs, forced, now, stats, bar)
                except OSError as exc:
                    raise InputError(f"scrubbing {src} stopped: {exc.strerror or type(exc).__name__} "
                                     f"({out_path} and {q_path} are incomplete)") from None
    print(f"{stats['ok']:,} scrubbed ({stats['redacted']:,} redacted) -> {out_path}")
    print(f"{stats['quarantined']:,} quarantined -> {q_path}")
    for k, v in sorted(stats.items()):
        if k.startswith("reason:"):
            print(f"  {k[7:]}: {v:,}")
    return 0


CHUNK = 1000  # lines scrubbed as one batch: their subjects are resolved at once


def _scrub_lines(fin, fout, fq, cs, forced, now, stats, bar) -> None:
    """Scrub each line of ``fin`` into ``fout``, in batches of ``CHUNK`` lines (as the stream
    does: decode, resolve the subjects' keys at once, transform); what cannot be scrubbed goes
    to ``fq``, raw."""
    scrubber = Scrubber(cs)
    chunk: list[tuple[int, bytes]] = []
    for lineno, raw in enumerate(fin, 1):
        bar.update(len(raw))
        line = raw.strip()
        if line:
            chunk.append((lineno, line))
        if len(chunk) >= CHUNK:
            _scrub_chunk(chunk, scrubber.batch(now, forced), fout, fq, stats)
            chunk = []
    if chunk:
        _scrub_chunk(chunk, scrubber.batch(now, forced), fout, fq, stats)


def _scrub_chunk(chunk, scrub, fout, fq, stats) -> None:
    prepared = [scrub.prepare(line) for _n, line in chunk]  # the stream's fast path, or the reference engine
    scrub.resolve()
    for (lineno, line), item in zip(chunk, prepared, strict=True):
        try:
            out, redacted = scrub.finish(item)
        except (DecodeFailure, Rejection) as exc:
            reason = exc.reason
        except Exception:  # noqa: BLE001 - fail closed, as the stream does
            reason = "internal_error"
        else:
            fout.write(out)
            stats["ok"] += 1
            stats["redacted"] += redacted
            continue
        # the raw line is kept, like Firehose's processing-failed records (bytes that are not
        # UTF-8 in base64, so that nothing is lost)
        try:
            kept = {"raw": line.decode("utf-8")}
        except UnicodeDecodeError:
            kept = {"raw_base64": base64.b64encode(line).decode("ascii")}
        fq.write(json.dumps({"line": lineno, "reason": reason, **kept}).encode() + b"\n")
        stats["quarantined"] += 1
        stats[f"reason:{reason}"] += 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.contracts", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("validate", help="load and validate every contract")
    v.add_argument("--dir", help="contracts folder (default: the configured one)")
    s = sub.add_parser("scrub", help="scrub a JSON-lines file (batch mode)")
    s.add_argument("input")
    s.add_argument("--contract", help="type/version to apply to every line (default: each event names its own)")
    s.add_argument("--output", help="output file (default: <input>.scrubbed.jsonl); created owner-only (0600)")
    s.add_argument("--quarantine", help="file for the lines that cannot be scrubbed, raw (default: "
                                        "<input>.quarantine.jsonl next to the output); created owner-only (0600)")
    s.add_argument("--keyring", help="JSON keyring file for pseudonymisation")
    s.add_argument("--subject-keys", metavar="TABLE", help="the per-subject key table (DynamoDB) for encrypted fields")
    s.add_argument("--root-key", metavar="KEY", help="the KMS key (id, ARN or alias) of the key table's root")
    s.add_argument("--redact-encrypted", action="store_true",
                   help="without a key table: redact what the contracts would encrypt (and keep HMAC pseudonyms)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    try:
        return cmd_validate(args) if args.cmd == "validate" else cmd_scrub(args)
    except ConfigError as exc:
        print(f"invalid configuration: {exc}", file=sys.stderr)
        return 1
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError, KeyStoreError) as exc:
        print(f"error: the key table or its root key (--subject-keys, --root-key) cannot be used ({type(exc).__name__}); "
              "the output files are incomplete", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
