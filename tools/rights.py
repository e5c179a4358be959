"""``python -m tools.rights``: a data subject's rights, against the running local cloud (the twin).

    python -m tools.rights forget [SUBJECT]                   crypto-shred the subject's key; print the receipt
    python -m tools.rights export [SUBJECT] [--from D --to D] [--output FILE] [--finder athena|scan]
                                                              their records, decrypted, as JSON lines
    python -m tools.rights reveal PURPOSE [--from D --to D] [--output-dir DIR]
                                                              every record, the purpose's fields opened where
                                                              the subject consented to it

SUBJECT is the subject's id as their events carry it; without it (or ``-``) it is read from
standard input (all of it, less one final newline), so it need not appear in the process list (``make forget`` does that).
forget and export run the deployed function's handler (``rights.handler``) in this process, with
the environment the stack gives it, against the local cloud ``make run`` left running (never a
new one: without it there is nothing to read); reveal runs the same core directly (the deployed
function does not serve it: its output is the whole lake). What is printed never holds the
subject's id, their lookup id or their key link; export and reveal write personal data, in clear,
to the file or folder given (created owner-only) or to standard output.

export finds the subject's objects as the deployed function does (``query.export_finder``): with
``athena``, offline, DuckDB searches the copy of the lake ``make run`` left in ``./out`` for their
key link (``tools.lake_finder``; objects the copy lacks are read in full); with ``scan``, every
object of the range is read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from datetime import date
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from rights.finder import FinderError
from rights.request import MAX_SUBJECT_CHARS
from rights.settings import ConfigurationError
from stacks.config import CONTEXT_KEY, ConfigError, load_from_cdk_json
from twin.pipeline import ROOT
from twin.resources import ResourceMismatch, find_resources
from twin.server import ServerError, command_lock, running

COMMANDS = ("forget", "export", "reveal")


class UsageError(Exception):
    """A bad argument or output: one line naming it, never a subject id."""


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a date written YYYY-MM-DD (UTC)") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m tools.rights", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        p = sub.add_parser(name)
        if name == "reveal":
            p.add_argument("purpose", help="a purpose the contracts declare")
            p.add_argument("--output-dir", help="folder for the JSON-lines files, one per lake object, named like it "
                                                "(created; must be new or empty); default: standard output")
        else:
            p.add_argument("subject", nargs="?", default="-", help="the subject's id ('-' or nothing: read from stdin)")
        if name != "forget":
            p.add_argument("--from", dest="start", type=_day, help="first day (UTC) of the lake's partitions to read")
            p.add_argument("--to", dest="end", type=_day, help="last day (UTC), included")
        if name == "export":
            p.add_argument("--output", help="file for the JSON lines (created owner-only); default: standard output")
            p.add_argument("--finder", choices=("athena", "scan"), default=None,
                           help="how the subject's objects are found: athena (offline: DuckDB over --lake-copy, the "
                                "stand-in for Athena) or scan (every object); default: the configuration's "
                                "query.export_finder")
            p.add_argument("--lake-copy", default="out", help="the twin's copy of the lake (default: out, as make run)")
        p.add_argument("--state-dir", default=str(ROOT / ".twin"), help="the local cloud's state folder (default .twin)")
        p.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE",
                       help=f"as cdk -c: {CONTEXT_KEY}='{{...}}' over cdk.json (the same as the make run that made the cloud)")
    args = ap.parse_args(argv)
    if getattr(args, "start", None) and getattr(args, "end", None) and args.start > args.end:
        ap.error("argument --from: is after --to")
    if getattr(args, "end", None) and not getattr(args, "start", None):
        ap.error("argument --from: is required with --to")
    return args


LONGEST_READ = 4 * (MAX_SUBJECT_CHARS + 2)  # bytes: the longest id in UTF-8, and a newline


def _subject(given: str) -> str:
    """The subject id, as an argument or ``-`` (one line on standard input). It must be UTF-8 text:
    events are JSON, so an id that is not can never be a subject's, and forgetting it would only
    write a tombstone for no one (the message never shows the id)."""
    if given == "-":
        stdin = getattr(sys.stdin, "buffer", None)  # bytes: the text layer may have escaped what is not UTF-8
        # read a little past the longest id the rights function takes: a longer one is refused
        # here, never sent (a request over Lambda's 6 MB would fail without saying why)
        raw = stdin.read(LONGEST_READ) if stdin is not None else sys.stdin.read(LONGEST_READ)
        if len(raw) >= LONGEST_READ:  # longer than any id can be (shorter ones too long are refused by the request)
            raise UsageError(f"the subject id is longer than {MAX_SUBJECT_CHARS:,} characters, so no event can hold it; "
                             "nothing was done")
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError:
            text = "\udcff"  # not UTF-8: refused below
        given = text[:-1] if text.endswith("\n") else text  # one final newline is the terminal's, not the id's
        if not given:
            raise UsageError("no subject id given (as an argument, or one line on standard input): make forget SUBJECT=<id>")
    try:
        given.encode("utf-8")  # bytes that are not UTF-8 (in an argument, say) were decoded as lone surrogates
    except UnicodeEncodeError:
        raise UsageError("the subject id is not UTF-8 text, so no event can hold it; nothing was done") from None
    return given


def _private_file(path: Path):
    """A new file, owner-only (0600) whatever the umask: never an existing one, nor a link."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise UsageError(f"{path}: cannot be written ({exc.strerror or type(exc).__name__}); give a new file") from None
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "wb")


def _twin_owned(p: Path, flag: str, path: str) -> None:
    """Refuse a path in the local cloud's state folder or in the copy of its lake (``out``): the
    commands' output there would destroy the twin's state or be taken for its lake."""
    from tools.scrub_files import twin_owned

    owner = twin_owned(p)
    if owner is not None:
        raise UsageError(f"{flag} {path}: is inside {owner}, which the local cloud owns; write elsewhere")


def _check_output(path: str | None) -> None:
    if path is None:
        return
    p = Path(path)
    if p.is_symlink():
        raise UsageError(f"--output {path}: is a symbolic link (its target is not overwritten); give a new file")
    if p.is_dir():
        raise UsageError(f"--output {path}: is a folder, not a file")
    if p.exists():
        raise UsageError(f"--output {path}: exists; an export is written to a new file only (it holds personal data)")
    if not p.parent.is_dir():
        raise UsageError(f"--output {path}: its folder does not exist")
    _twin_owned(p, "--output", path)


def _check_output_dir(path: str | None) -> None:
    if path is None:
        return
    p = Path(path)
    if p.is_symlink():
        raise UsageError(f"--output-dir {path}: is a symbolic link; give a new folder")
    _twin_owned(p, "--output-dir", path)
    if p.exists() and (not p.is_dir() or any(p.iterdir())):
        raise UsageError(f"--output-dir {path}: exists and is not an empty folder (reveal writes into a new or empty one)")


def _invoke(config, payload: dict, settings=None) -> dict:
    from rights.handler import make_handler
    from twin.lambdas import FakeLambdaContext, invoke

    ctx = FakeLambdaContext(config.rights_function_name, config.rights.timeout_seconds, config.rights.memory_mb)
    return invoke(make_handler(settings), json.dumps(payload).encode("utf-8"), ctx)


def _export_settings(config, res, contracts, args):
    """The function's settings from the environment (the twin's), with the offline stand-in for
    its Athena search unless the export scans."""
    from rights.settings import Settings

    if (args.finder or config.query.export_finder) == "scan":
        return Settings()
    import boto3

    from rights.aws import S3Lake
    from tools.lake_finder import LocalFinder

    lake = S3Lake(boto3.client("s3"), res.bucket)  # the local cloud's lake (twin_environment's endpoint)
    return Settings(finder=LocalFinder(lake, Path(args.lake_copy) / res.bucket, config.delivery.data_prefix, contracts))


def cmd_forget(config, cloud, args) -> int:
    answer = _invoke(config, {"action": "forget", "subject_id": args.subject_id})
    if "error" in answer:
        print(f"forget refused: {answer['error']}", file=sys.stderr)
        return 1
    r = answer["receipt"]
    print(f"forget ({answer['outcome']}): {answer['summary']}")
    print(f"  receipt     s3://{r['bucket']}/{r['key']}  (local cloud {cloud.endpoint})")
    print(f"  caches      {answer['caches']}")
    print(f"  backups     {answer['backups']}")
    return 0


def cmd_export(config, cloud, args, settings=None) -> int:
    payload = {"action": "export", "subject_id": args.subject_id}
    if args.start:
        payload["from"] = args.start.isoformat()  # without --to: up to today (the function's default)
    if args.end:
        payload["to"] = args.end.isoformat()
    answer = _invoke(config, payload, settings)
    if "error" in answer:
        print(f"export refused: {answer['error']}", file=sys.stderr)
        return 2
    if answer.get("export"):
        e = answer["export"]
        body = cloud.client("s3").get_object(Bucket=e["bucket"], Key=e["key"])["Body"].read()
        where = f"; the deployed function would answer with s3://{e['bucket']}/{e['key']} (left there)"
    else:
        body, where = (answer.get("lines") or "").encode("utf-8", "surrogatepass"), ""
    if args.output:
        with _private_file(Path(args.output)) as fh:
            fh.write(body)
    else:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    status = answer["status"]
    if status == "forgotten":
        r = answer["receipt"]
        print(f"export: no data: the subject was forgotten at {r['at']} (erasure receipt {r['id']}, "
              f"s3://{r['bucket']}/{r['key']})", file=sys.stderr)
    elif status in ("unknown", "no_keys"):
        print("export: no data: no key of this subject exists (no event of theirs was encrypted)", file=sys.stderr)
    else:
        s = answer["scan"]
        print(f"export: {answer['records']:,} records to {args.output or 'standard output'}, from {s['objects']:,} of "
              f"{s['objects_total']:,} lake objects ({s['records_read']:,} records read); tokens opened "
              f"{s['tokens_opened']:,}, not opened {_reasons(s['tokens_unopened'])}; records of unknown contracts "
              f"{s['unknown_contract']:,}{where}", file=sys.stderr)
        print(f"export: {_search(s.get('search') or {}, args.lake_copy)}", file=sys.stderr)
        if s.get("withheld"):
            print(f"export: withheld {s['withheld']:,} records under the subject's key link whose sealed fields all fail "
                  "to open under their key (moved there or altered: not shown as theirs)", file=sys.stderr)
        if answer.get("incomplete"):
            print(f"export: INCOMPLETE: {answer['incomplete']}", file=sys.stderr)
            return 1
    return 0


def _search(search: dict, copy: str) -> str:
    """How the objects were chosen, in a line."""
    if search.get("finder") != "duckdb":
        return "every lake object of the range was read (--finder scan)"
    line = (f"objects chosen by DuckDB over {copy}/ (the local stand-in for the deployed Athena query): "
            f"{search['objects_found']:,} of {search['objects_in_copy']:,} copied objects of the range hold the link")
    if search["objects_not_in_copy"]:
        line += f"; {search['objects_not_in_copy']:,} not in the copy were read in full (`make run` refreshes it)"
    return line


def _reasons(counts: dict) -> str:
    """Tokens that did not open: their number, and how many for each reason."""
    total = sum(counts.values())
    return f"{total:,}" + (f" ({', '.join(f'{r} {n:,}' for r, n in counts.items())})" if total else "")


def _target(root: Path, key: str) -> Path:
    name = key[:-3] if key.endswith(".gz") else key
    target = (root / (name + ".jsonl")).resolve()
    if root.resolve() not in target.parents:
        raise UsageError(f"lake object {key}: its key leaves the output folder; nothing written for it")
    return target


def cmd_reveal(args) -> int:
    from rights.core import UnknownPurpose
    from rights.records import to_line
    from rights.settings import Settings

    end = args.end or (max(args.start, date.today()) if args.start else None)
    from rights.lake import RangeError

    try:
        reveal = Settings().rights().reveal(args.purpose, args.start, end)
    except (UnknownPurpose, RangeError) as exc:
        raise UsageError(str(exc)) from None
    root = Path(args.output_dir) if args.output_dir else None
    current, fh, files = None, None, 0
    try:
        for item in reveal.records:
            line = to_line(item)
            if root is None:
                sys.stdout.buffer.write(line)
                continue
            if item.key != current:
                if fh is not None:
                    fh.close()
                target = _target(root, item.key)
                for folder in reversed([target.parent, *target.parent.parents]):  # owner-only, every level made here
                    if not folder.exists():
                        folder.mkdir(mode=0o700)
                        folder.chmod(0o700)
                fh, current, files = _private_file(target), item.key, files + 1
            fh.write(line)
    finally:
        if fh is not None:
            fh.close()
        sys.stdout.flush()
    s = reveal.scan.report()
    print(f"reveal {args.purpose}: {s['records_returned']:,} records from {s['objects']:,} lake objects to "
          f"{f'{files:,} files under {root}' if root else 'standard output'}; tokens of {args.purpose} opened "
          f"{s['tokens_opened']:,} (subjects who consented to it), left for want of consent {s['tokens_left']:,}, not "
          f"opened {_reasons(s['tokens_unopened'])}; unreadable lines {s['unreadable_lines']:,}, records of unknown "
          f"contracts {s['unknown_contract']:,}", file=sys.stderr)
    if s["gaps"]:
        print(f"reveal {args.purpose}: INCOMPLETE: {'; '.join(s['gaps'])}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    override = None
    for item in args.context:
        key, eq, value = item.partition("=")
        if not eq or key != CONTEXT_KEY:  # as twin's -c: a context it does not know is refused, not ignored
            print(f"error: -c {key or item!r}: must be {CONTEXT_KEY}='{{...}}', as with cdk -c", file=sys.stderr)
            return 2
        override = value
    try:
        config = load_from_cdk_json(ROOT / "cdk.json", override)
    except ConfigError as exc:
        print(f"Invalid configuration: {exc}", file=sys.stderr)
        return 1
    try:
        _check_output(getattr(args, "output", None))
        _check_output_dir(getattr(args, "output_dir", None))
        if args.command != "reveal":
            args.subject_id = _subject(args.subject)
        with command_lock(Path(args.state_dir)):
            cloud = running(args.state_dir)
            res = find_resources(config, cloud)
            return _run(config, cloud, res, args)
    except (UsageError, ServerError, ResourceMismatch, ConfigurationError, FinderError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as exc:
        print(f"error: the local cloud stopped answering ({type(exc).__name__}); nothing more was done", file=sys.stderr)
        return 2


def _run(config, cloud, res, args) -> int:
    from privacy.contract import bundle_json
    from stacks.config import load_contracts
    from twin.lambdas import twin_environment
    from twin.resources import recorded_retention

    contracts = load_contracts(config.contracts)
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "contracts.json"
        bundle.write_text(bundle_json(contracts), encoding="utf-8")
        env = res.rights_environment(config, str(bundle))
        # the receipt states what the local cloud ran with (the table's recovery, the scrubbers' TTL),
        # not what this command's CONTEXT says
        env.update(recorded_retention(cloud.client("dynamodb"), res.subject_keys_table))
        with twin_environment(cloud.endpoint, env):
            if args.command == "reveal":
                return cmd_reveal(args)
            if args.command == "forget":
                return cmd_forget(config, cloud, args)
            return cmd_export(config, cloud, args, _export_settings(config, res, contracts, args))


if __name__ == "__main__":
    raise SystemExit(main())
