"""``python -m tools.deploy_local``: a deploy rehearsal on the local cloud (``make deploy-local``).

The pinned CDK CLI runs ``cdk bootstrap`` and ``cdk deploy`` against the twin's moto server (started
as ``make run`` starts it if this checkout's is not running, and left running). The CLI honours
``AWS_ENDPOINT_URL`` (as every AWS SDK v3 client does), with dummy credentials and moto's account
123456789012 in us-east-1; nothing leaves the machine. Bootstrap creates the CDKToolkit stack (the
staging bucket and the publishing roles) on moto; the app is synthesized with its Lambda assets
bundled locally (``stacks/bundling.py``: pip, no Docker); deploy uploads the assets to the staging
bucket and creates (or updates) the stack on moto's CloudFormation. Then the report: which resource
types moto skipped, the stack's outputs against the template's and the configuration's names, and
each resource moto created looked up with its service's API. Exit status 1 if an output or a created
resource is missing or wrong or the configuration is invalid (as every command of the repo), 2 if
the rehearsal could not run.

Where moto falls short, the rehearsal works around it, and the README (Deploy rehearsal) says so:

- the template's URL handed to CloudFormation names ``localhost`` (``AWS_ENDPOINT_URL_S3_FOR_CLOUDFORMATION``,
  the CLI's own switch): moto finds the template in its S3 by parsing that URL, and would take the
  ``127`` of ``127.0.0.1:<port>`` for a bucket name;
- references to resources moto skips are replaced by stand-in ARNs in the resources it creates
  (``tools.rehearsal.stand_in``; the template is re-keyed so it is uploaded under its own key);
- ``--method direct``: a stack moto creates from a change set has no outputs;
- ``--no-previous-parameters``: on an update moto fails on the ``UsePreviousValue`` the CLI sends for
  the ``BootstrapVersion`` parameter;
- KMS keys and aliases are listed, not described (``tools.deployed``).

The stack is deployed under its own name prefix (``rehearsal`` by default): the twin creates the
pipeline's resources under the configuration's prefix on the same server, and the stack would
otherwise try to create the same stream, buckets, table and aliases. Before deploying, a name the
stack would take that the server already holds outside the stack is refused, never taken over.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from stacks.config import CONTEXT_KEY, ConfigError, load_from_cdk_json, merge_context, resolve_pipeline
from tools.deployed import check_resources, taken_names
from tools.rehearsal import StandIns, check_outputs, skipped, stand_in
from tools.rehearsal_report import Rehearsal, report
from twin.resources import ACCOUNT, REGION
from twin.server import ServerError, command_lock, ensure_running

ROOT = Path(__file__).resolve().parent.parent
CDK = ROOT / "node_modules" / ".bin" / "cdk"
DEFAULT_PREFIX = "rehearsal"
LOG_FILE = "deploy-local.log"
CDK_TIMEOUT_S = 900
FAILURE_LINES = 25  # of the CLI's output, printed when a step fails


class RehearsalError(Exception):
    """The rehearsal could not run; the message says which step and where its output is."""


def cdk_env(endpoint: str, port: int) -> dict[str, str]:
    """The CLI's environment: this server for every AWS service, dummy credentials, no profile,
    config file or instance metadata, no telemetry or version check."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    env.update({
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ENDPOINT_URL_S3_FOR_CLOUDFORMATION": f"http://localhost:{port}",
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true",
        "CDK_DISABLE_CLI_TELEMETRY": "true", "CDK_DISABLE_VERSION_CHECK": "true",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    })
    return env


def _cdk(args: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """One CLI command: (seconds, exit status, output)."""
    t0 = time.monotonic()
    r = subprocess.run([str(CDK), *args, "--no-notices", "--no-color"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=CDK_TIMEOUT_S, check=False)
    return time.monotonic() - t0, r.returncode, r.stdout + r.stderr


def _record(step: str, args: list[str], result: tuple[float, int, str], log: Path) -> tuple[float, str]:
    """The command's output appended to ``log``; (seconds, output). Raises RehearsalError with
    the output's last lines if it failed."""
    seconds, status, output = result
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(f"$ cdk {' '.join(args)}\n{output}\n(exit status {status}, {seconds:.1f} s)\n\n")
    if status != 0:
        lines = [ln for ln in output.splitlines() if ln.strip() and "WARNING: Location" not in ln]
        tail = "\n".join(f"    {ln}" for ln in lines[-FAILURE_LINES:])
        raise RehearsalError(f"{step} failed (exit status {status}; its whole output is in {log}):\n{tail}")
    return seconds, output


def run_cdk(steps: dict[str, list[str]], env: dict[str, str], log: Path) -> dict[str, tuple[float, str]]:
    """CLI commands that do not depend on each other, at the same time (bootstrap and synth: a
    synth talks to the server only to learn the account); step -> (seconds, output), in order."""
    if not CDK.exists():
        raise RehearsalError(f"the pinned CDK CLI is not installed ({CDK}): run `make cli`")
    with ThreadPoolExecutor(max_workers=len(steps)) as pool:
        running = {step: pool.submit(_cdk, args, env) for step, args in steps.items()}
        results = {step: future.result() for step, future in running.items()}
    return {step: _record(step, steps[step], results[step], log) for step in steps}


def moto_cannot_create(types: set[str]) -> set[str]:
    """The resource types moto's CloudFormation skips (it has no model for them)."""
    from moto.cloudformation.parsing import NULL_MODELS, get_model_map

    models = get_model_map()
    return {t for t in types if t not in models and t not in NULL_MODELS and not t.startswith("Custom::")}


def _stack_artifact(out_dir: Path) -> tuple[str, dict]:
    manifest = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
    stacks = [(k, a) for k, a in manifest["artifacts"].items() if a.get("type") == "aws:cloudformation:stack"]
    if len(stacks) != 1:
        raise RehearsalError(f"{out_dir}: the app synthesized {len(stacks)} stacks, the rehearsal deploys one")
    return stacks[0]


def patch_assembly(out_dir: Path) -> tuple[str, dict, StandIns]:
    """The synthesized stack with ``stand_in`` applied to its template, in place: the template is
    rewritten and re-keyed (its asset's hash, in the assets manifest and the stack's template URL,
    becomes the new file's), so the staging bucket never holds two templates under one key.
    Returns (stack name, the template as synthesized, the stand-ins)."""
    name, artifact = _stack_artifact(out_dir)
    template_path = out_dir / artifact["properties"]["templateFile"]
    original = json.loads(template_path.read_text(encoding="utf-8"))
    types = {r.get("Type", "") for r in original.get("Resources", {}).values()}
    result = stand_in(original, moto_cannot_create(types), ACCOUNT, REGION)
    if result.references:
        text = json.dumps(result.template, indent=1)
        assets = [out_dir / f"{a}.json" for a in artifact.get("dependencies", []) if a.endswith(".assets")]
        keys = [k for p in assets for k, f in json.loads(p.read_text(encoding="utf-8"))["files"].items()
                if f["source"]["path"] == template_path.name]
        if len(keys) != 1:
            raise RehearsalError(f"{out_dir}: cannot find the asset of {template_path.name} in {[p.name for p in assets]}")
        new = hashlib.sha256(text.encode()).hexdigest()
        template_path.write_text(text, encoding="utf-8")
        for p in [out_dir / "manifest.json", *assets]:
            p.write_text(p.read_text(encoding="utf-8").replace(keys[0], new), encoding="utf-8")
    return name, original, result


def prune_assets(out_dir: Path) -> None:
    """Asset folders of earlier synths that no assets manifest names any more (they are ~25 MB each)."""
    named = set()
    for p in out_dir.glob("*.assets.json"):
        named |= {f["source"]["path"] for f in json.loads(p.read_text(encoding="utf-8")).get("files", {}).values()}
    for p in out_dir.glob("asset.*"):
        if p.name not in named:
            shutil.rmtree(p) if p.is_dir() else p.unlink()


def expected_outputs(config) -> dict[str, str]:
    """The outputs whose values the configuration decides: the names the twin uses too."""
    role = f"arn:aws:iam::{ACCOUNT}:role/"
    return {
        "StreamName": config.stream_name, "ProducerFunctionName": config.producer_function_name,
        "DeliveryStreamName": config.delivery_stream_name, "BucketName": config.data_bucket_name(ACCOUNT, REGION),
        "DataPrefix": config.delivery.data_root, "QuarantinePrefix": config.delivery.quarantine_root,
        "QuarantineReaderRoleArn": role + config.quarantine_reader_role_name,
        "KeyringBreakGlassRoleArn": role + config.keyring_break_glass_role_name,
        "RightsFunctionName": config.rights_function_name, "SubjectKeysTableName": config.subject_keys_table_name,
        "ReceiptsBucketName": config.receipts_bucket_name(ACCOUNT, REGION), "GlueDatabaseName": config.glue_database_name,
    }


def _stack_resources(cf, stack: str) -> dict[str, str]:
    """Logical id -> physical id of what moto created (it lists each skipped one with no logical id)."""
    out = {}
    for page in cf.get_paginator("list_stack_resources").paginate(StackName=stack):
        out.update({s["LogicalResourceId"]: s["PhysicalResourceId"] for s in page["StackResourceSummaries"]
                    if s["LogicalResourceId"]})
    return out


def _stack_exists(cf, stack: str) -> bool:
    try:
        return bool(cf.describe_stacks(StackName=stack)["Stacks"])
    except ClientError:
        return False


def _deployed_template(cf, stack: str) -> dict:
    body = cf.get_template(StackName=stack)["TemplateBody"]
    return body if isinstance(body, dict) else json.loads(body)


def rehearse(cloud, override: dict, prefix: str, out_dir: Path, log: Path) -> Rehearsal:
    """Bootstrap, synth, deploy and check, on ``cloud`` (a ``twin.server.LocalCloud``), with the
    ``pipeline`` context ``override`` and name prefix ``prefix`` (the configuration is validated by
    the caller). Raises RehearsalError if a step fails or a name is taken."""
    context = json.dumps(merge_context(override, {"name_prefix": prefix}))
    config = load_from_cdk_json(ROOT / "cdk.json", context)
    env = cdk_env(cloud.endpoint, cloud.port)
    log.write_text("", encoding="utf-8")
    os.chmod(log, 0o600)
    done = run_cdk({
        "cdk bootstrap": ["bootstrap", f"aws://{ACCOUNT}/{REGION}"],
        "cdk synth": ["synth", "--quiet", "--output", str(out_dir), "-c", f"{CONTEXT_KEY}={context}"],
    }, env, log)
    prune_assets(out_dir)
    stack, template, stand_ins = patch_assembly(out_dir)
    cf = cloud.client("cloudformation")
    existed = _stack_exists(cf, stack)
    before = _deployed_template(cf, stack) if existed else None
    taken = taken_names(cloud, template, _stack_resources(cf, stack) if existed else {}, ACCOUNT, REGION)
    if taken:
        raise RehearsalError(f"the local cloud already holds {len(taken)} name(s) the stack would take, outside the stack: "
                             f"{', '.join(taken)}; deploy under another prefix (PREFIX=...), or `make down` to start afresh")
    done |= run_cdk({"cdk deploy": ["deploy", "--app", str(out_dir), "--method", "direct", "--no-previous-parameters",
                                    "--require-approval", "never", stack]}, env, log)
    output = done["cdk deploy"][1]
    deploy = ("unchanged" if "(no changes)" in output or _deployed_template(cf, stack) == before
              else "updated" if existed else "created")
    created = _stack_resources(cf, stack)
    described = cf.describe_stacks(StackName=stack)["Stacks"][0]
    outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in described.get("Outputs") or []}
    types = {r.get("Type", "") for r in template.get("Resources", {}).values()}
    assets = sum(1 for p in out_dir.glob("asset.*") if p.is_dir())
    server = f"moto server pid {cloud.pid}, {'started by this command' if cloud.started_now else 'already running'}"
    return Rehearsal(
        endpoint=cloud.endpoint, server=server, prefix=prefix, stack=stack, out_dir=out_dir,
        timings={k: t for k, (t, _) in done.items()}, deploy=deploy, assets=assets, stand_ins=stand_ins,
        template=template, created=created, skipped=skipped(template, created), predicted=moto_cannot_create(types),
        outputs=check_outputs(template, outputs, created, expected_outputs(config)),
        resources=check_resources(cloud, template, created, ACCOUNT, REGION),
    )


def _context(text: str) -> tuple[str, str]:
    key, eq, value = text.partition("=")
    if not eq or not key:
        raise argparse.ArgumentTypeError(f"must be KEY=VALUE, as with cdk -c, e.g. {CONTEXT_KEY}='{{...}}'")
    return key, value


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number (1-65535), got {text!r}")
    return int(text)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m tools.deploy_local", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prefix", default=DEFAULT_PREFIX,
                    help=f"the stack's name prefix on the local cloud (default {DEFAULT_PREFIX}; the twin uses the configuration's)")
    ap.add_argument("--state-dir", default=str(ROOT / ".twin"), help="the local cloud's state folder (default .twin)")
    ap.add_argument("--port", type=_port, default=None,
                    help="port of the local cloud if this command starts it (default TWIN_PORT, else 4566)")
    ap.add_argument("--out", default=None, help="the cloud assembly's folder (default <state dir>/rehearsal.out; kept: "
                                                "the next run reuses its bundled assets)")
    ap.add_argument("-c", "--context", type=_context, action="append", default=[], metavar="KEY=VALUE",
                    help=f"as cdk -c: {CONTEXT_KEY}='{{...}}' is deep-merged over cdk.json's block (the prefix is set after it)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t0 = time.monotonic()
    raw = None
    for key, value in args.context:
        if key == CONTEXT_KEY:
            raw = value
        else:
            print(f"note: -c {key}: only the {CONTEXT_KEY} context is passed on; ignored", file=sys.stderr)
    try:
        override = resolve_pipeline({}, raw) if raw is not None else {}
        load_from_cdk_json(ROOT / "cdk.json", json.dumps(merge_context(override, {"name_prefix": args.prefix})))
    except ConfigError as exc:
        print(f"Invalid configuration: {exc}", file=sys.stderr)
        return 1
    state = Path(args.state_dir).absolute()
    out_dir = Path(args.out).absolute() if args.out else state / "rehearsal.out"
    try:
        with command_lock(state):
            cloud = ensure_running(state, args.port)
            result = rehearse(cloud, override, args.prefix, out_dir, state / LOG_FILE)
    except (ServerError, RehearsalError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except subprocess.TimeoutExpired as exc:
        print(f"error: the CDK CLI did not finish within {exc.timeout:.0f} s (its output is in {state / LOG_FILE})", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as exc:
        print(f"error: the local cloud refused or stopped answering ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 2
    print(report(result, time.monotonic() - t0))
    return 0 if result.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
