"""``ruff check`` (configured in pyproject.toml, pinned in requirements-dev.txt) finds nothing:
the lint runs with the tests, so CI enforces it."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ruff_check_finds_nothing():
    r = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert r.returncode == 0, f"ruff check found problems (fix them, or `ruff check --fix` the safe ones):\n{r.stdout}{r.stderr}"
    assert "All checks passed" in r.stdout
