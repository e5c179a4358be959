"""One Python version everywhere, and Lambda assets that are complete and built for it."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from itertools import pairwise

from stacks.bundling import PYTHON_VERSION, RUNTIME, pip_target_args
from tests.conftest import CONFIG, TEST_KEYRING_SECRET, V1_TYPES, firehose_event
from tests.infra.conftest import ROOT

TAG = "cpython-" + PYTHON_VERSION.replace(".", "")


def test_the_tests_run_on_the_lambda_runtime_version():
    """What is tested (and benchmarked) is what runs: `make venv` builds the venv with this version."""
    assert RUNTIME.name == f"python{PYTHON_VERSION}"
    running = "{}.{}".format(*sys.version_info[:2])
    assert running == PYTHON_VERSION, (
        f"the tests run on Python {running}, the Lambdas on {RUNTIME.name}: "
        f"rebuild the venv with `make venv` (it finds python{PYTHON_VERSION})"
    )
    assert sys.implementation.name == "cpython"


def test_pip_installs_wheels_for_the_runtime_and_no_bytecode():
    args = pip_target_args("x86_64")
    pairs = list(pairwise(args))
    assert [v for k, v in pairs if k == "--platform"] == ["manylinux2014_x86_64", "manylinux_2_28_x86_64"]
    assert ("--python-version", PYTHON_VERSION) in pairs and ("--implementation", "cp") in pairs
    assert "--only-binary=:all:" in args and "--no-compile" in args
    arm = pip_target_args("arm64")
    assert [v for k, v in pairwise(arm) if k == "--platform"] == ["manylinux2014_aarch64", "manylinux_2_28_aarch64"]


# Runs in a bare interpreter (-I -S: no site-packages, no PYTHONPATH) with only the asset on the
# path, as /var/task is: imports the handler and scrubs a batch, so a wheel missing from the asset
# fails here. The handler is the deployed one, built from the environment, with the keyring's
# source and the key store injected (no Secrets Manager, no DynamoDB here).
_IN_THE_ASSET = r"""
import json, sys, sysconfig
asset, event_file, out_file = sys.argv[1:]
sys.path.insert(0, asset)
import scrubber.handler as h
from scrubber.settings import Settings
from privacy.memory_store import MemoryKeyStore
assert callable(h.lambda_handler)
handler = h.make_handler(Settings(secret=lambda: KEYRING, store=MemoryKeyStore()))
class Context:
    function_name = "pii-scrub-scrubber"; function_version = "$LATEST"; memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:pii-scrub-scrubber"
    aws_request_id = "req"; log_group_name = "g"; log_stream_name = "s"
    def get_remaining_time_in_millis(self): return 60_000
with open(event_file) as fh:
    result = handler(json.load(fh), Context())
paths = sysconfig.get_paths()
std = (paths["stdlib"], paths["platstdlib"])
outside = sorted(n for n, m in sys.modules.items()
                 if getattr(m, "__file__", None) and not m.__file__.startswith((asset, *std)))
with open(out_file, "w") as fh:
    json.dump({"results": [r["result"] for r in result["records"]], "outside": outside}, fh)
"""


def test_cdk_cli_synth_bundles_lambdas_locally(tmp_path):
    """The real CLI, offline: no credentials, no Docker; assets bundled with pip for the Lambda
    platform and the runtime's Python version, no bytecode, and the scrubber's asset runs."""
    cli = ROOT / "node_modules/.bin/cdk"
    assert cli.exists(), "the pinned CDK CLI is not installed: run `make cli` (`make test` does)"
    env = dict(os.environ, JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20")
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        env.pop(k, None)
    r = subprocess.run(
        [str(cli), "synth", "--quiet", "--output", str(tmp_path / "cdk.out")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assets = [p for p in (tmp_path / "cdk.out").iterdir() if p.name.startswith("asset.") and p.is_dir()]
    assert len(assets) == 5  # producer, scrubber, rights, backfill, redrive
    backfill = next(p for p in assets if (p / "backfill" / "handler.py").exists())
    scrub = next(p for p in assets if (p / "scrubber" / "handler.py").exists() and p != backfill)
    prod = next(p for p in assets if (p / "producer" / "handler.py").exists())
    rights = next(p for p in assets if (p / "rights").is_dir())
    assert list((scrub / "orjson").glob(f"orjson.{TAG}-x86_64-linux-gnu.so"))
    assert list((scrub / "pybase64").glob(f"_pybase64.{TAG}-x86_64-linux-gnu.so"))
    assert list((scrub / "msgspec").glob(f"_core.{TAG}-x86_64-linux-gnu.so"))
    assert (scrub / "aws_lambda_powertools").is_dir() and not (scrub / "faker").exists()
    assert (scrub / "privacy" / "engine.py").exists() and json.loads((scrub / "contracts.json").read_text())["contracts"]
    assert (prod / "faker").is_dir() and (prod / "privacy").is_dir() and (prod / "contracts.json").exists()
    assert not list(scrub.rglob("requirements.txt"))
    assert (scrub / "keystore" / "__init__.py").exists()  # the per-subject key store's adapter
    # the subject-rights function: its package, the engine, the key store, the contracts, its wheels
    for package in ("rights", "privacy", "keystore", "aws_lambda_powertools", "cryptography", "msgspec", "orjson", "re2"):
        assert (rights / package).exists(), package
    assert json.loads((rights / "contracts.json").read_text()) == json.loads((scrub / "contracts.json").read_text())
    assert not (rights / "faker").exists() and not (rights / "streams").exists() and not (rights / "scrubber").exists()
    assert not list(rights.rglob("requirements.txt"))
    # the backfill function: its package and the scrubber's (the same Scrubber and settings), the contracts
    for package in ("backfill", "scrubber", "privacy", "keystore", "aws_lambda_powertools", "msgspec", "orjson", "re2"):
        assert (backfill / package).exists(), package
    assert json.loads((backfill / "contracts.json").read_text()) == json.loads((scrub / "contracts.json").read_text())
    assert not (backfill / "faker").exists() and not list(backfill.rglob("requirements.txt"))
    # the quarantine redrive: its package, the Kinesis sink, Powertools; no engine, no contracts
    redrive = next(p for p in assets if (p / "quarantine" / "handler.py").exists())
    for package in ("quarantine", "streams", "aws_lambda_powertools"):
        assert (redrive / package).exists(), package
    for absent in ("privacy", "faker", "scrubber", "contracts.json", "orjson"):
        assert not (redrive / absent).exists(), absent
    assert not list(redrive.rglob("requirements.txt"))
    for asset in assets:
        # no bytecode of any version: pip's would be the build machine's, not the runtime's
        assert not list(asset.rglob("*.pyc")) and not list(asset.rglob("__pycache__")), asset.name
        # every compiled extension is built for the runtime's version (or the stable ABI)
        wrong = [p.name for p in asset.rglob("*.so") if f".{TAG}-x86_64-linux-gnu." not in p.name and ".abi3." not in p.name]
        assert wrong == [], (asset.name, wrong)

    # The scrubber's asset, alone, imports and scrubs a batch under this interpreter (the same
    # version and platform as the function's: x86_64 Linux, checked first).
    assert (sys.platform, platform.machine()) == ("linux", "x86_64"), "this check needs the Lambda's platform"
    from producer.events import EventFactory, encode

    factory = EventFactory(seed=5, consent_ratio=0.5, subjects=10, event_types=V1_TYPES)
    event = firehose_event([encode(factory.next_event()) for _ in range(20)] + [b"{not json"])
    (tmp_path / "event.json").write_text(json.dumps(event))
    run_env = {
        "PATH": os.environ.get("PATH", ""),
        "CONTRACT_SELECTOR": CONFIG.contracts.selector_json(),
        "CONTRACTS_FILE": str(scrub / "contracts.json"),
        "PSEUDONYM_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:keyring",
        "POWERTOOLS_METRICS_NAMESPACE": "PiiScrubbingTest",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    code = f"KEYRING = {TEST_KEYRING_SECRET!r}\n" + _IN_THE_ASSET
    r = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, str(scrub), str(tmp_path / "event.json"), str(tmp_path / "out.json")],
        cwd=tmp_path, env=run_env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["results"] == ["Ok"] * 20 + ["ProcessingFailed"]
    assert out["outside"] == []  # nothing came from this machine's site-packages


def test_the_rights_function_pins_the_scrubbers_versions():
    """It runs the same engine and key store as the scrubber: the same wheels, at the same versions."""
    def pins(package: str) -> dict[str, str]:
        lines = (ROOT / "lambdas" / package / "requirements.txt").read_text().splitlines()
        return dict(line.split("==") for line in lines if line.strip() and not line.startswith("#"))

    rights, scrubber = pins("rights"), pins("scrubber")
    assert {"aws-lambda-powertools", "orjson", "msgspec", "google-re2", "cryptography", "pybase64"} <= set(rights)
    assert {name: scrubber.get(name) for name in rights} == rights


def test_the_backfill_function_pins_the_scrubbers_versions():
    """It runs the scrubber itself over historic objects: exactly the scrubber's wheels and versions."""
    def pins(package: str) -> dict[str, str]:
        lines = (ROOT / "lambdas" / package / "requirements.txt").read_text().splitlines()
        return dict(line.split("==") for line in lines if line.strip() and not line.startswith("#"))

    assert pins("backfill") == pins("scrubber")
