"""Lambda assets bundled on this machine, without Docker.

Each function's asset is its package from ``lambdas/`` plus the wheels named in its
``requirements.txt``, installed for the Lambda platform with
``pip install --platform manylinux2014_<arch> --platform manylinux_2_28_<arch> --only-binary=:all:
--no-compile --target``.

One Python version everywhere: the runtime below is the interpreter the tests, the benchmark and
the twin run on (the Makefile builds the venv with it, and a test fails on any other minor
version). Lambda's python3.13 runtime is Amazon Linux 2023 (glibc 2.34), so wheels built for
manylinux_2_28 run there; some packages (google-re2) ship no manylinux2014 wheel at all.
``--no-compile``: pip would otherwise byte-compile the wheels with the *host* interpreter, shipping
bytecode for a version the runtime never loads; the runtime compiles what it imports (in memory:
/var/task is read-only).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_

LAMBDAS_DIR = Path(__file__).resolve().parent.parent / "lambdas"
PYTHON_VERSION = "3.13"
RUNTIME = lambda_.Runtime.PYTHON_3_13
# Oldest first; pip takes a wheel tagged for any of them (both are within AL2023's glibc 2.34).
_PLATFORM_TAGS = ("manylinux2014", "manylinux_2_28")


def pip_target_args(architecture: str) -> list[str]:
    """What makes pip install wheels for the Lambda runtime instead of this machine (also hashed
    into the asset, so a change here rebuilds it)."""
    arch = "aarch64" if architecture == "arm64" else "x86_64"
    platforms = [arg for tag in _PLATFORM_TAGS for arg in ("--platform", f"{tag}_{arch}")]
    return [*platforms, "--implementation", "cp", "--python-version", PYTHON_VERSION, "--only-binary=:all:", "--no-compile"]


def _source_files(package: str) -> list[Path]:
    root = LAMBDAS_DIR / package
    return sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


def asset_hash(packages: tuple[str, ...], architecture: str, files: dict[str, str]) -> str:
    h = hashlib.sha256()
    h.update(f"{'+'.join(packages)}|{' '.join(pip_target_args(architecture))}".encode())
    for package in packages:
        for p in _source_files(package):
            h.update(str(p.relative_to(LAMBDAS_DIR)).encode())
            h.update(p.read_bytes())
    for name, text in sorted(files.items()):
        h.update(name.encode())
        h.update(text.encode())
    return h.hexdigest()


@jsii.implements(cdk.ILocalBundling)
class LocalPipBundling:
    def __init__(self, packages: tuple[str, ...], architecture: str, files: dict[str, str]):
        self.package = packages[0]  # the function's own package: its requirements.txt is installed
        self.packages = packages
        self.architecture = architecture
        self.files = files

    def try_bundle(self, output_dir: str, options=None, **_kw) -> bool:  # noqa: ARG002
        out = Path(output_dir)
        for package in self.packages:
            shutil.copytree(
                LAMBDAS_DIR / package,
                out / package,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "requirements.txt"),
                dirs_exist_ok=True,
            )
        for name, text in self.files.items():
            (out / name).write_text(text, encoding="utf-8")
        cmd = [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            *pip_target_args(self.architecture),
            "--target", str(out),
            "-r", str(LAMBDAS_DIR / self.package / "requirements.txt"),
        ]
        subprocess.run(cmd, check=True)
        return True


def lambda_code(packages: tuple[str, ...], architecture: str, files: dict[str, str] | None = None) -> lambda_.Code:
    """An asset of ``packages`` from lambdas/ (the first one's requirements installed), plus
    generated ``files`` (name -> text) at the asset root."""
    files = files or {}
    return lambda_.Code.from_asset(
        str(LAMBDAS_DIR),
        asset_hash=asset_hash(packages, architecture, files),
        asset_hash_type=cdk.AssetHashType.CUSTOM,
        bundling=cdk.BundlingOptions(
            # Never pulled: local bundling always succeeds or raises.
            image=cdk.DockerImage.from_registry(f"public.ecr.aws/sam/build-python{PYTHON_VERSION}"),
            local=LocalPipBundling(packages, architecture, files),
            command=["false"],
        ),
    )
