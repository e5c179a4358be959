"""``make backfill`` on the local cloud, then ``make query``: historic objects through the deployed
backfill's handler (an S3 Batch Operations job, emulated), their records in the lake's partitions of
their event time, the counts adding up, a re-run writing nothing twice, and the records sealed under
the same subjects' keys as the stream's (an export opens them)."""

from __future__ import annotations

import gzip
import io
import json
from datetime import UTC, datetime

from producer.events import MALFORMED_SAMPLES, EventFactory, encode
from tests.integration.conftest import fresh_config
from tools import backfill, query, rights


def _query(capsys, out, ctx: str, sql: str) -> list[list[str]]:
    capsys.readouterr()
    assert query.main(["--out", str(out), "-c", ctx, "--", sql]) == 0
    return [line.split() for line in capsys.readouterr().out.splitlines()[2:-1]]  # rows, without header and count


def test_a_backfill_lands_in_the_lake_where_make_query_finds_it_and_a_rerun_adds_nothing(local_cloud, tmp_path, capsys, monkeypatch):
    config = fresh_config()
    ctx = "pipeline=" + json.dumps({"name_prefix": config.name_prefix})
    factory = EventFactory(seed=5, subjects=20, start_time=datetime(2024, 2, 10, 23, 59, 59, tzinfo=UTC))
    events = list(factory.events(300))  # 7 ms apart: across midnight, two hourly partitions
    hist = tmp_path / "history"
    (hist / "2024").mkdir(parents=True)
    (hist / "2024" / "a.jsonl").write_bytes(b"\n".join([*map(encode, events[:200]), *MALFORMED_SAMPLES, b""]) + b"\n")
    (hist / "2024" / "b.jsonl.gz").write_bytes(gzip.compress(b"\n".join(map(encode, events[200:]))))
    out = tmp_path / "out"
    args = [str(hist), "--out", str(out), "--state-dir", str(local_cloud.state_dir), "-c", ctx]

    assert backfill.main(args) == 0
    printed = capsys.readouterr().out
    assert "counts add up   yes" in printed and "2 succeeded, 0 failed" in printed
    s = json.loads((out / "summary.json").read_text())
    assert (s["records_in"], s["delivered"], s["quarantined"], s["blank"]) == (307, 300, 7, 1)
    assert s["read_back"] == {"delivered": 300, "quarantined": 7, "data_objects": s["data_objects"]}
    assert s["counts_add_up"] and s["report"].startswith(f"s3://{config.name_prefix}-backfill-")
    # the completion report: one row per object, succeeded, its result string the counts
    bucket, _, key = s["report"][5:].partition("/")
    s3 = local_cloud.client("s3")
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    rows = s3.get_object(Bucket=bucket, Key=manifest["Results"][0]["Key"])["Body"].read().decode().splitlines()
    assert len(rows) == 2 and all(",succeeded,200,," in r for r in rows)

    # make query: the records, in the partitions of their event time, and the quarantine's reasons
    ctx_rows = _query(capsys, out, ctx, "select year, month, day, hour, count(*) from events group by all order by all")
    assert [r[:4] for r in ctx_rows] == [["2024", "2", "10", "23"], ["2024", "2", "11", "0"]]
    assert sum(int(r[4]) for r in ctx_rows) == 300
    reasons = _query(capsys, out, ctx, "select errorMessage, count(*) from quarantine group by 1 order by 1")
    assert sum(int(n) for _, n in reasons) == 7 and {r for r, _ in reasons} >= {"invalid_json", "unknown_contract"}

    # a second job over the same objects writes the same keys: nothing twice
    assert backfill.main(args) == 0
    capsys.readouterr()
    again = json.loads((out / "summary.json").read_text())
    assert again["lake"] == s["lake"] and again["job_id"] != s["job_id"]
    assert _query(capsys, out, ctx, "select count(*) from events") == [["300"]]

    # sealed under the subjects' own keys in the key table the stream uses: an export opens them
    subject = events[0]["subject_id"]
    theirs = [e for e in events if e["subject_id"] == subject]
    target = tmp_path / "export.jsonl"
    monkeypatch.setattr("sys.stdin", io.StringIO(subject))
    assert rights.main(["export", "--state-dir", str(local_cloud.state_dir), "-c", ctx, "--output", str(target), "-"]) == 0
    exported = [json.loads(line) for line in target.read_text().splitlines()]
    assert sorted(r["event_id"] for r in exported) == sorted(e["event_id"] for e in theirs)
    by_id = {e["event_id"]: e for e in theirs}
    opened = [r for r in exported if r["_privacy"]["applied"].get("name") == "encrypt"]
    assert opened and all(r["name"] == by_id[r["event_id"]]["name"] for r in opened)


def test_a_source_already_on_the_local_cloud_and_a_bad_source(local_cloud, tmp_path, capsys):
    config = fresh_config()
    ctx = "pipeline=" + json.dumps({"name_prefix": config.name_prefix})
    s3 = local_cloud.client("s3")
    s3.create_bucket(Bucket=f"{config.name_prefix}-old-exports")
    events = EventFactory(seed=9, subjects=5, start_time=datetime(2023, 7, 1, 8, tzinfo=UTC)).events(20)
    s3.put_object(Bucket=f"{config.name_prefix}-old-exports", Key="2023/07/part 1.jsonl", Body=b"\n".join(map(encode, events)))
    out = tmp_path / "out"
    common = ["--out", str(out), "--state-dir", str(local_cloud.state_dir), "-c", ctx]
    assert backfill.main([f"s3://{config.name_prefix}-old-exports/2023/", *common]) == 0
    assert json.loads((out / "summary.json").read_text())["delivered"] == 20
    capsys.readouterr()
    assert backfill.main([str(tmp_path / "nothing-here"), *common]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert backfill.main([f"s3://{config.name_prefix}-old-exports/none/", *common]) == 2
    assert "no object under it" in capsys.readouterr().err
