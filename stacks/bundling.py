"""Lambda assets bundled on this machine, without Docker.

Each function's asset is its package from ``lambdas/`` plus the wheels named in its
``requirements.txt``, installed for the Lambda platform with
``pip install --platform manylinux2014_<arch> --only-binary=:all: --target``.
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
PYTHON_VERSION = "3.14"
RUNTIME = lambda_.Runtime.PYTHON_3_14


def _platform(architecture: str) -> str:
    return "manylinux2014_aarch64" if architecture == "arm64" else "manylinux2014_x86_64"


def _source_files(package: str) -> list[Path]:
    root = LAMBDAS_DIR / package
    return sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


def asset_hash(packages: tuple[str, ...], architecture: str, files: dict[str, str]) -> str:
    h = hashlib.sha256()
    h.update(f"{'+'.join(packages)}|{architecture}|{PYTHON_VERSION}".encode())
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
            "--platform", _platform(self.architecture),
            "--implementation", "cp",
            "--python-version", PYTHON_VERSION,
            "--only-binary=:all:",
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
            image=cdk.DockerImage.from_registry("public.ecr.aws/sam/build-python3.14"),
            local=LocalPipBundling(packages, architecture, files),
            command=["false"],
        ),
    )
