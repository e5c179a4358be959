"""The export's search, offline, on the local cloud: `make export` finds the subject's objects with
DuckDB over the copy of the lake `make run` left (the stand-in for the deployed Athena query),
returns exactly what the scan returns while reading fewer objects, and still returns everything
when the copy lags the lake (objects it lacks are read in full)."""

from __future__ import annotations

import json
import re
import uuid

from producer.events import EventFactory
from tests.integration.conftest import fresh_config
from tools import rights
from twin.pipeline import push_file, run_pipeline


def _own(subject: str, n: int, seed: int) -> list[dict]:
    events = EventFactory(seed=seed, subjects=1, consent_ratio=1.0, event_types=("customer_signed_up",)).events(n)
    return [{**e, "subject_id": subject, "data_share_consent": True} for e in events]


def _push(tmp_path, name: str, events: list[dict], **kw):
    src = tmp_path / f"{name}.jsonl"
    src.write_text("".join(json.dumps(e) + "\n" for e in events))
    done = push_file(src, **kw)
    assert done.counts_add_up and done.delivered == len(events)


def _export(subject: str, out, finder: str, ctx: list[str], capsys) -> tuple[list[str], str]:
    target = out / f"{finder}-{uuid.uuid4().hex[:6]}.jsonl"
    assert rights.main(["export", subject, "--output", str(target), "--finder", finder, *ctx]) == 0
    said = capsys.readouterr()
    assert subject not in said.out + said.err
    return target.read_text().splitlines(), said.err


def _objects(err: str) -> tuple[int, int]:
    read, total = re.search(r"from ([\d,]+) of ([\d,]+) lake objects", err).groups()
    return int(read.replace(",", "")), int(total.replace(",", ""))


def test_export_searches_the_copy_of_the_lake_and_returns_what_the_scan_returns(local_cloud, tmp_path, capsys):
    config = fresh_config()
    copy = tmp_path / "out"
    ctx = ["--state-dir", str(local_cloud.state_dir), "--lake-copy", str(copy),
           "-c", "pipeline=" + json.dumps({"name_prefix": config.name_prefix})]
    assert run_pipeline(cloud=local_cloud, config=config, events=300, seed=11, malformed_ratio=0.0, out_dir=copy).counts_add_up
    alice = f"alice-{uuid.uuid4().hex[:8]}"
    _push(tmp_path, "first", _own(alice, 3, seed=41), cloud=local_cloud, config=config, out_dir=copy)
    assert run_pipeline(cloud=local_cloud, config=config, events=300, seed=12, malformed_ratio=0.0, out_dir=copy).counts_add_up

    found, said = _export(alice, tmp_path, "athena", ctx, capsys)
    scanned, scan_said = _export(alice, tmp_path, "scan", ctx, capsys)
    assert found == scanned and len(found) == 3
    assert {json.loads(line)["subject_id"] for line in found} == {alice}
    assert "DuckDB over" in said and "not in the copy" not in said
    read, _ = _objects(said)
    scan_read, lake_total = _objects(scan_said)
    assert scan_read == lake_total >= 3 and 1 <= read < lake_total
    assert f"of {lake_total:,} copied objects of the range hold the link" in said

    # events delivered while the copy is elsewhere: the copy lacks their objects, which are read in full
    _push(tmp_path, "later", _own(alice, 2, seed=42), cloud=local_cloud, config=config, out_dir=tmp_path / "elsewhere")
    found, said = _export(alice, tmp_path, "athena", ctx, capsys)
    scanned, _ = _export(alice, tmp_path, "scan", ctx, capsys)
    assert found == scanned and len(found) == 5
    assert re.search(r"[1-9][\d,]* not in the copy were read in full", said)
