"""Measurements in a fresh interpreter: the handler's peak memory on a batch, and its cold start."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child_peak_rss(event: dict) -> dict:
    """A fresh process does what the Lambda runtime does: parse the event JSON, call the handler,
    serialise the response. Its peak RSS is the figure that must fit the function's memory."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump({k: v for k, v in event.items() if k != "_bytes"}, fh)
        path = fh.name
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child would report its
    # parent's high-water mark.
    code = (
        "import sys, json\n"
        "def hwm():\n"
        "    return int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])\n"
        "from bench.__main__ import Ctx, _handler\n"
        "h, _ = _handler()\n"
        "base = hwm()\n"
        f"ev = json.load(open({path!r}))\n"
        "out = json.dumps(h(ev, Ctx()))\n"
        "peak = hwm()\n"
        "sys.stderr.write(f'RSS {base} {peak}\\n')\n"
    )
    try:
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                             env=dict(os.environ, POWERTOOLS_LOG_LEVEL="WARNING"))
    finally:
        os.unlink(path)
    line = [x for x in out.stderr.splitlines() if x.startswith("RSS ")][-1]
    base, peak = map(int, line.split()[1:])
    return {"rss_after_import_mb": base / 1024, "peak_rss_mb": peak / 1024}


def cold_start_ms(repeats: int = 5) -> float:
    """Import, then build as the first invocation does (settings, logger, metrics; a local keyring)."""
    code = (
        "from bench.__main__ import BENCH_KEYRING, _prepare_scrubber_env\n"
        "_prepare_scrubber_env()\n"
        "import time; t=time.perf_counter(); import scrubber.handler as h; from scrubber.settings import Settings\n"
        "from privacy.memory_store import MemoryKeyStore\n"
        "h.make_handler(Settings(secret=lambda: BENCH_KEYRING, store=MemoryKeyStore())); print((time.perf_counter()-t)*1000)\n"
    )
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="0")
    samples = []
    for _ in range(repeats + 1):
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, env=env)
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(samples[1:])  # the first run may compile .pyc files
