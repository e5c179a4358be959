"""``python -m tools.backfill SRC``: the deployed backfill, offline: one S3 Batch Operations job over
historic JSON-lines objects, run on the local cloud with the function's own handler.

    python -m tools.backfill events.jsonl          a file (plain or GZIP), uploaded to the backfill bucket
    python -m tools.backfill history/              every file under a folder, uploaded likewise
    python -m tools.backfill s3://bucket/prefix/   objects already on the local cloud

Local files go to the backfill bucket's source prefix (``backfill/<name>``), as an operator uploads
history before a job. The job is S3 Batch Operations' (``twin.batch_operations``): a CSV manifest,
one schema 2.0 invocation of ``backfill.handler`` per object, retries of temporary failures, and a
completion report. Every command starts the local cloud if it is not running and creates what is
missing (the lake, the keys, the keyring: as ``make run``), so the backfilled records are sealed under
the same subjects' keys and pseudonymised with the same keyring as the stream's. The counts printed
are the function's, checked against what it wrote (read back from the lake); ``--out`` receives a
copy of the whole local lake, as after ``make run``, so that ``make query`` sees the records.

Exit status: 0 when every object succeeded and the counts add up, 1 otherwise, 2 on a usage,
folder or server error. Nothing printed holds a record's content: keys, counts and reason codes.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from stacks.config import CONTEXT_KEY, ConfigError, load_from_cdk_json
from twin.outdir import OutDirError, prepare
from twin.pipeline import ROOT, read_objects
from twin.resources import ACCOUNT, REGION, ResourceMismatch
from twin.server import ServerError, command_lock, ensure_running


class UsageError(Exception):
    """A bad source or argument: one line naming it."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m tools.backfill", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", help="a JSON-lines file (plain or GZIP), a folder of them, or s3://bucket/prefix on the local cloud")
    ap.add_argument("--out", default="out", help="folder that receives a copy of the local lake (as make run's)")
    ap.add_argument("--state-dir", default=str(ROOT / ".twin"), help="the local cloud's state folder (default .twin)")
    ap.add_argument("--port", type=int, default=None,
                    help="port of the local cloud if this command starts it (default TWIN_PORT, else 4566)")
    ap.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE",
                    help=f"as cdk -c: {CONTEXT_KEY}='{{...}}' over cdk.json (the same as make run's)")
    return ap.parse_args(argv)


def local_files(source: str) -> list[tuple[Path, str]]:
    """(file, name under the source prefix) of a file or of every regular file under a folder (hidden ones left out)."""
    p = Path(source)
    if p.is_file():
        return [(p, p.name)]
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and not f.is_symlink()
                       and not any(part.startswith(".") for part in f.relative_to(p).parts))  # no .DS_Store, no .git
        if not files:
            raise UsageError(f"{source}: the folder holds no file")
        return [(f, f.relative_to(p).as_posix()) for f in files]
    raise UsageError(f"{source}: no such file or folder (or give s3://bucket/prefix on the local cloud)")


def backfill_bucket(cloud, config) -> str:
    """The backfill bucket, as the stack makes it (versioned, SSE-KMS with a key of its own), created if missing."""
    kms, s3 = cloud.client("kms"), cloud.client("s3")
    alias = f"alias/{config.name_prefix}/backfill"
    try:
        key = kms.describe_key(KeyId=alias)["KeyMetadata"]["Arn"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NotFoundException":
            raise
        key = kms.create_key(Description="backfill bucket")["KeyMetadata"]["Arn"]
        kms.create_alias(AliasName=alias, TargetKeyId=key)
    bucket = config.backfill.bucket_name(config.name_prefix, ACCOUNT, REGION)
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError:
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}, "BucketKeyEnabled": True}]})
    return bucket


def tasks_for(s3, source: str, bucket: str, prefix: str):
    """The job's tasks: the local files uploaded under ``prefix`` of ``bucket`` (the same key for the
    same file name, so a second run over it is the same source), or the objects under an s3:// prefix."""
    from twin.batch_operations import Task

    if source.startswith("s3://"):
        src_bucket, _, src_prefix = source[5:].partition("/")
        try:
            keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=src_bucket, Prefix=src_prefix)
                    for o in page.get("Contents", []) if not o["Key"].endswith("/")]
        except ClientError as exc:
            raise UsageError(f"{source}: cannot be listed on the local cloud ({exc.response.get('Error', {}).get('Code')})") from None
        if not keys:
            raise UsageError(f"{source}: no object under it on the local cloud")
        return [Task(src_bucket, k) for k in keys], f"{len(keys):,} object{'s' if len(keys) != 1 else ''} under {source}"
    files = local_files(source)
    tasks, size = [], 0
    for path, name in files:
        body = path.read_bytes()
        size += len(body)
        version = s3.put_object(Bucket=bucket, Key=prefix + name, Body=body).get("VersionId")
        tasks.append(Task(bucket, prefix + name, version))
    return tasks, f"{source} -> s3://{bucket}/{prefix} ({len(files):,} object{'s' if len(files) != 1 else ''}, {size:,} bytes)"


def read_back(s3, lake: str, config, results) -> tuple[int, int, int, int]:
    """(delivered lines, data objects, quarantined lines, quarantine objects) the succeeded tasks wrote."""
    from backfill.layout import OBJECT_PREFIX

    names = {f"{OBJECT_PREFIX}{json.loads(r.result)['source_id']}.gz" for r in results if r.succeeded}
    data = {k: v for k, v in read_objects(s3, lake, config.delivery.data_root).items() if k.rsplit("/", 1)[-1] in names}
    quarantine = {k: v for k, v in read_objects(s3, lake, config.delivery.quarantine_root).items() if k.rsplit("/", 1)[-1] in names}
    return (sum(len(b.splitlines()) for b in data.values()), len(data),
            sum(len(b.splitlines()) for b in quarantine.values()), len(quarantine))


def run_job(config, cloud, source: str, out) -> tuple[dict, int]:
    from backfill.handler import make_handler
    from backfill.settings import environment
    from privacy.contract import bundle_json
    from stacks.config import load_contracts
    from twin.batch_operations import Job
    from twin.lambdas import FakeLambdaContext, twin_environment
    from twin.resources import ensure_resources

    started = time.perf_counter()
    res = ensure_resources(config, cloud)
    s3 = cloud.client("s3")
    bucket = backfill_bucket(cloud, config)
    tasks, described = tasks_for(s3, source, bucket, config.backfill.source_prefix)
    b, d = config.backfill, config.delivery
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "contracts.json"
        bundle.write_text(bundle_json(load_contracts(config.contracts)), encoding="utf-8")
        env = {"CONTRACT_SELECTOR": config.contracts.selector_json(), "CONTRACTS_FILE": str(bundle),
               "PSEUDONYM_SECRET_ARN": res.secret_arn, **res.scrubber_environment(config),
               **environment(lake_bucket=res.bucket, lake_key=res.keys["lake"], data_prefix=d.data_prefix,
                             quarantine_prefix=d.quarantine_prefix, time_field=b.time_field, max_object_bytes=b.max_object_bytes)}
        with twin_environment(cloud.endpoint, env):
            name = b.function_name(config.name_prefix)
            job = Job(s3=s3, handler=make_handler(), bucket=bucket,
                      context_factory=lambda: FakeLambdaContext(name, b.timeout_seconds, b.memory_mb))
            job.write_manifest(tasks)
            results = job.run(tasks)
            report = job.write_report(results)
    counts = Counter()
    reasons: Counter = Counter()
    for r in results:
        if r.succeeded:
            doc = json.loads(r.result)
            counts.update({k: doc[k] for k in ("lines", "blank", "records_in", "delivered", "redacted", "quarantined", "data_objects")})
            reasons.update(doc["reasons"])
    delivered, data_objects, quarantined, quarantine_objects = read_back(s3, res.bucket, config, results)
    lake_data = read_objects(s3, res.bucket, d.data_root)
    lake_quarantine = read_objects(s3, res.bucket, d.quarantine_root)
    out.write_objects(res.bucket, lake_data, quarantine=False)
    out.write_objects(res.bucket, lake_quarantine, quarantine=True)
    failed = [r for r in results if not r.succeeded]
    adds_up = (counts["records_in"] == counts["delivered"] + counts["quarantined"] and delivered == counts["delivered"]
               and quarantined == counts["quarantined"] and data_objects == counts["data_objects"]
               and quarantine_objects == len(results) - len(failed))
    summary = {
        "command": "backfill", "job_id": job.job_id, "endpoint": cloud.endpoint, "source": described,
        "objects": len(results), "succeeded": len(results) - len(failed), "retried": sum(r.attempts - 1 for r in results),
        "failed": [{"bucket": r.task.bucket, "key": r.task.key, "code": r.code, "result": r.result} for r in failed],
        **{k: counts[k] for k in ("lines", "blank", "records_in", "delivered", "redacted", "quarantined", "data_objects")},
        "reasons": dict(sorted(reasons.items())), "quarantine_objects": quarantine_objects,
        "read_back": {"delivered": delivered, "quarantined": quarantined, "data_objects": data_objects},
        "counts_add_up": adds_up, "report": f"s3://{bucket}/{report}",
        "lake": {"bucket": res.bucket, "data_objects": len(lake_data), "quarantine_objects": len(lake_quarantine),
                 "events": sum(len(x.splitlines()) for x in lake_data.values()),
                 "quarantined": sum(len(x.splitlines()) for x in lake_quarantine.values())},
        "elapsed_seconds": round(time.perf_counter() - started, 2), "out_dir": str(out.path), "out_holds": out.holds(),
    }
    out.write_summary({**summary, "complete": True})
    return summary, 0 if adds_up and not failed else 1


def report(s: dict) -> str:
    def n(count: int, what: str) -> str:
        return f"{count:,} {what}{'' if count == 1 else 's'}"

    reasons = ", ".join(f"{k} {v:,}" for k, v in s["reasons"].items())
    rb = s["read_back"]
    lines = [
        f"Backfill job {s['job_id']} on the local cloud {s['endpoint']} (S3 Batch Operations emulated: one schema 2.0 "
        "invocation of the backfill function per object)",
        f"  source          {s['source']}",
        f"  objects         {s['succeeded']:,} succeeded, {len(s['failed']):,} failed  ({s['retried']:,} temporary failures retried)",
        f"  lines           {s['lines']:,}  ({s['blank']:,} blank)",
        f"  records in      {s['records_in']:,}",
        f"  delivered       {s['delivered']:,}  ({s['redacted']:,} redacted) in {n(s['data_objects'], 'data object')}, "
        "partitioned by event time",
        f"  quarantined     {s['quarantined']:,}" + (f"  ({reasons})" if reasons else "")
        + f" in {n(s['quarantine_objects'], 'quarantine object')}",
        f"  counts add up   {'yes' if s['counts_add_up'] else 'NO'}  (records in {s['records_in']:,} = delivered {s['delivered']:,} + "
        f"quarantined {s['quarantined']:,}; read back from the lake: {rb['delivered']:,} delivered in {n(rb['data_objects'], 'object')}, "
        f"{rb['quarantined']:,} quarantined)",
    ]
    for f in s["failed"]:
        lines.append(f"  FAILED          s3://{f['bucket']}/{f['key']}: {f['code']} {f['result']}")
    lake = s["lake"]
    lines += [
        f"  report          {s['report']}",
        f"  elapsed         {s['elapsed_seconds']:.2f} s",
        f"  local lake      s3://{lake['bucket']}/ holds {n(lake['data_objects'], 'data object')} ({lake['events']:,} events) and "
        f"{n(lake['quarantine_objects'], 'quarantine object')} ({lake['quarantined']:,} records), from every command since the "
        "server started",
        f"  output          {s['out_dir']} holds {s['out_holds']}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    override = None
    for item in args.context:
        key, eq, value = item.partition("=")
        if not eq or key != CONTEXT_KEY:
            print(f"error: -c {key or item!r}: must be {CONTEXT_KEY}='{{...}}', as with cdk -c", file=sys.stderr)
            return 2
        override = value
    try:
        config = load_from_cdk_json(ROOT / "cdk.json", override)
    except ConfigError as exc:
        print(f"Invalid configuration: {exc}", file=sys.stderr)
        return 1
    try:
        if not args.source.startswith("s3://"):
            local_files(args.source)  # refused before the local cloud is touched
        out = prepare(args.out)
        with command_lock(Path(args.state_dir)):
            cloud = ensure_running(args.state_dir, args.port)
            summary, status = run_job(config, cloud, args.source, out)
    except (UsageError, OutDirError, ServerError, ResourceMismatch) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {args.source}: cannot be read ({exc.strerror or type(exc).__name__})", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as exc:
        print(f"error: the local cloud stopped answering ({type(exc).__name__}); run the backfill again: it writes the same keys",
              file=sys.stderr)
        return 2
    print(report(summary))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
