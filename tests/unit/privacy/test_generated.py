"""The code both engines generate for the shipped contracts, pinned by golden files, and shown in
tracebacks. Regenerate after an intended change: ``UPDATE_GOLDEN=1 pytest tests/unit/privacy/test_generated.py``
and review the diff."""

from __future__ import annotations

import os
import traceback
from pathlib import Path

import pytest

from privacy.engine import CompiledContract
from privacy.fast import FastPlan
from privacy.files import load_contract_dir

ROOT = Path(__file__).resolve().parents[3]
GOLDEN = ROOT / "tests" / "golden"
CONTRACTS = {c.ref: c for c in load_contract_dir(ROOT / "contracts")}


def _sources(ref: str) -> dict[str, str]:
    cc = CompiledContract(CONTRACTS[ref])
    out = {"walk": cc._walk_src, "actions": cc._actions_src}
    if CONTRACTS[ref].engine == "fast":
        out["fast"] = FastPlan(cc)._src
    return out


@pytest.mark.parametrize("ref", sorted(CONTRACTS))
def test_generated_code_matches_the_golden_files(ref):
    for kind, src in _sources(ref).items():
        path = GOLDEN / f"{ref.replace('/', '_v')}.{kind}.py.txt"
        if os.environ.get("UPDATE_GOLDEN"):
            path.write_text(src)
        assert path.exists(), f"no golden file {path.name}: run with UPDATE_GOLDEN=1 and review it"
        assert src == path.read_text(), f"{ref} {kind}: generated code changed; review, then UPDATE_GOLDEN=1"


def test_tracebacks_through_generated_code_show_its_source():
    cc = CompiledContract(CONTRACTS["order_placed/1"])
    try:
        cc.validate({"event_id": object()})  # refused by the generated walk: type_mismatch
    except Exception:  # noqa: BLE001
        text = traceback.format_exc()
    else:
        pytest.fail("expected a rejection")
    assert "<contract order_placed/1>" in text
    assert "raise R(TM)" in text  # the generated line itself, not a blank
