"""Issue 11 end to end, on the local cloud: `make run`, `make push` of your own events, `make export`
of one subject (their originals), `make forget` of that subject, `make export` again (nothing
decryptable, the receipt named), and `make reveal` (consenting others still open; the forgotten
subject's fields stay tokens). The commands are the ones the Makefile runs (``tools.rights``)."""

from __future__ import annotations

import gzip
import json
import uuid

from producer.events import EventFactory
from stacks.config import load_from_cdk_json
from tests.integration.conftest import fresh_config
from tools import rights
from twin.pipeline import ROOT, push_file, run_pipeline
from twin.resources import ACCOUNT, REGION

SEALED = ("name", "ssn", "email", "phone", "dob")  # and address.street, address.city


def _own(subject: str, consent: bool, n: int, seed: int) -> list[dict]:
    events = EventFactory(seed=seed, subjects=1, consent_ratio=1.0, event_types=("customer_signed_up",)).events(n)
    return [{**e, "subject_id": subject, "data_share_consent": consent} for e in events]


def _lake_text(out) -> str:
    return "\n".join(gzip.decompress(p.read_bytes()).decode() for p in out.rglob("*") if p.is_file() and "data" in p.parts)


def test_run_push_export_forget_export_reveal(local_cloud, tmp_path, capsys):
    config = fresh_config()
    ctx = ["--state-dir", str(local_cloud.state_dir), "-c", "pipeline=" + json.dumps({"name_prefix": config.name_prefix})]
    assert load_from_cdk_json(ROOT / "cdk.json", json.dumps({"name_prefix": config.name_prefix})) == config
    out = tmp_path / "out"
    first = run_pipeline(cloud=local_cloud, config=config, events=200, seed=5, malformed_ratio=0.0, out_dir=out)
    assert first.counts_add_up

    alice, bob, carol = (f"{who}-{uuid.uuid4().hex[:8]}" for who in ("alice", "bob", "carol"))
    own = _own(alice, True, 3, seed=31) + _own(bob, True, 3, seed=32) + _own(carol, False, 2, seed=33)
    src = tmp_path / "own.jsonl"
    src.write_text("".join(json.dumps(e) + "\n" for e in own))
    pushed = push_file(src, cloud=local_cloud, config=config, out_dir=out)
    assert pushed.counts_add_up and pushed.delivered == len(own)

    # the lake holds none of the consenting subjects' identifying values in clear, nor their ids
    lake = _lake_text(out)
    for e in own:
        assert e["subject_id"] not in lake
        for f in SEALED:
            assert e[f] not in lake, f
        assert e["address"]["street"] not in lake

    # export: the subject's records, their sealed fields opened: the originals
    exported = tmp_path / "alice.jsonl"
    assert rights.main(["export", alice, "--output", str(exported), *ctx]) == 0
    got = [json.loads(line) for line in exported.read_text().splitlines()]
    assert sorted(r["event_id"] for r in got) == sorted(e["event_id"] for e in own[:3])
    by_id = {e["event_id"]: e for e in own}
    for r in got:
        original = by_id[r["event_id"]]
        assert r["subject_id"] == alice and r["address"] == original["address"]
        assert {f: r[f] for f in SEALED} == {f: original[f] for f in SEALED}
    capsys.readouterr()

    # forget: the key goes, a receipt stays (with no identifier of the person)
    assert rights.main(["forget", alice, *ctx]) == 0
    said = capsys.readouterr()
    assert alice not in said.out + said.err
    s3 = local_cloud.client("s3")
    receipts = config.receipts_bucket_name(ACCOUNT, REGION)
    [key] = [o["Key"] for o in s3.list_objects_v2(Bucket=receipts).get("Contents", []) if o["Key"].startswith("receipts/")]
    receipt = s3.get_object(Bucket=receipts, Key=key)["Body"].read().decode()
    assert alice not in receipt and json.loads(receipt)
    for r in got:  # nor her values
        assert all(r[f] not in receipt for f in SEALED)

    # export again: nothing, and the receipt named
    again = tmp_path / "alice-again.jsonl"
    assert rights.main(["export", alice, "--output", str(again), *ctx]) == 0
    said = capsys.readouterr()
    assert again.read_text() == "" and key.rsplit("/", 1)[-1].removesuffix(".json") in said.out + said.err

    # reveal: consenting others open; the forgotten subject's fields stay tokens; no consent: redacted
    revealed = tmp_path / "revealed"
    assert rights.main(["reveal", "marketing", "--output-dir", str(revealed), *ctx]) == 0
    records = [json.loads(line) for p in revealed.rglob("*") if p.is_file() for line in p.read_text().splitlines()]
    seen = {r["event_id"]: r for r in records if r["event_id"] in by_id}
    assert set(seen) == set(by_id)
    for e in own:
        r = seen[e["event_id"]]
        if e["subject_id"] == bob:
            assert r["name"] == e["name"] and r["email"] == e["email"]  # marketing's fields, opened
            assert r["ssn"].startswith("~g")  # support's: still sealed
        elif e["subject_id"] == alice:
            assert r["name"].startswith("~g") and r["email"].startswith("~d")  # unreadable for good
        else:
            assert r["name"] == "REDACTED_CONTENT"
    text = "\n".join(json.dumps(r) for r in records)
    for e in own[:3]:
        assert all(e[f] not in text for f in SEALED)  # nothing of the forgotten subject anywhere
