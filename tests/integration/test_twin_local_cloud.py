"""The local cloud keeps its state between commands: a run, a push of your own events and another
run deliver every event once, into one lake that ./out copies."""

from __future__ import annotations

import gzip
import json
import uuid

import orjson
import pytest

import twin.__main__ as twin_main
from producer.events import EventFactory
from tests.integration.conftest import fresh_config
from tests.integration.test_twin_pipeline import FIELD_PURPOSES, PURPOSES, consented_purposes, field_value
from twin.pipeline import push_file, read_objects, run_pipeline


def _lake(cloud, config) -> list[dict]:
    """Every event the lake holds, from every object."""
    s3 = cloud.client("s3")
    bucket = config.data_bucket_name("123456789012", "us-east-1")
    return [orjson.loads(line) for body in read_objects(s3, bucket, config.delivery.data_root).values()
            for line in body.splitlines()]


def _out_events(out) -> list[dict]:
    return [orjson.loads(line) for p in sorted(out.rglob("*.gz")) if "/data/" in str(p)
            for line in gzip.decompress(p.read_bytes()).splitlines()]


def _own_events(n: int, seed: int) -> list[dict]:
    """Events of both consent models: a flag (customer_signed_up/1) and a purposes list (order_placed/2)."""
    return list(EventFactory(seed=seed, subjects=12, consent_ratio=0.5,
                             event_types=("customer_signed_up", "order_placed/2")).events(n))


def test_run_push_run_delivers_each_event_once_and_out_copies_the_lake(local_cloud, tmp_path):
    config = fresh_config()
    out = tmp_path / "out"
    first = run_pipeline(cloud=local_cloud, config=config, events=300, seed=3, malformed_ratio=0.02, out_dir=out)
    assert first.counts_add_up and first.resources_created and first.quarantined > 0
    run_ids = {e["event_id"] for e in _out_events(out)}
    assert len(run_ids) == first.delivered

    own = _own_events(40, seed=17)
    refused_event = {**own[0], "event_id": str(uuid.uuid4()), "gender": "unknown"}
    lines = [json.dumps(e) for e in own[:20]] + ["this is not JSON", "", '["an array"]', json.dumps(refused_event),
                                                 json.dumps({**own[1], "schema_version": "7"})] + [json.dumps(e) for e in own[20:]]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    pushed = push_file(path, cloud=local_cloud, config=config, out_dir=out)
    assert pushed.input == {"file": str(path), "lines": 45, "events": 42, "blank": 1,
                            "refused_lines": [[21, "not JSON (column 1)"], [23, "not a JSON object (it is an array)"]],
                            "producer_refused_lines": [[24, "validation_failed"], [25, "unknown_contract"]]}
    assert pushed.refused == {"validation_failed": 1, "unknown_contract": 1} and pushed.nonconforming == 2
    assert (pushed.produced, pushed.sent, pushed.read, pushed.delivered) == (42, 40, 40, 40)
    assert pushed.counts_add_up and not pushed.resources_created and pushed.producer_invocations == 1

    # the pushed events landed, each field kept or transformed by its purposes under both models
    from privacy.sealed import open_record
    from stacks.config import load_contracts
    from tests.integration.test_twin_pipeline import _opener

    by_id = {e["event_id"]: e for e in _lake(local_cloud, config)}
    contracts, opener = {c.ref: c for c in load_contracts(config.contracts)}, _opener(local_cloud, config)
    for e in by_id.values():  # sealed fields opened, as export opens them
        assert open_record(e, contracts[e["_privacy"]["contract"]], opener) == []
    assert {e["schema_version"] for e in own} == {"1", "2"}
    assert any(0 < len(consented_purposes(e)) < len(PURPOSES) for e in own if e["schema_version"] == "2")
    for ev in own:
        got = by_id[ev["event_id"]]
        assert got["_privacy"]["contract"] == f"{ev['event_type']}/{ev['schema_version']}"
        for path_, purpose in FIELD_PURPOSES.items():
            if path_ == "note":
                continue  # free text is scanned whatever the consent
            same = field_value(got, path_) == field_value(ev, path_)
            assert same == (purpose in consented_purposes(ev)), (ev["schema_version"], path_)
    assert refused_event["event_id"] not in by_id

    # ./out copies the lake: the run's events and the pushed ones, each once
    copied = [e["event_id"] for e in _out_events(out)]
    assert len(copied) == len(set(copied)) == pushed.lake["events"] == first.delivered + 40
    assert set(copied) == run_ids | {e["event_id"] for e in own}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["command"] == "push" and summary["complete"] and summary["lake"]["events"] == len(copied)

    second = run_pipeline(cloud=local_cloud, config=config, events=200, seed=4, malformed_ratio=0.0, out_dir=out)
    assert second.read == second.sent == 200 and second.pending_before == 0 and second.counts_add_up
    lake = [e["event_id"] for e in _lake(local_cloud, config)]
    assert len(lake) == len(set(lake)) == first.delivered + 40 + second.delivered  # nothing delivered twice
    assert sorted(e["event_id"] for e in _out_events(out)) == sorted(lake)
    assert second.lake["quarantined"] == first.quarantined  # the run's quarantine is still there


def test_records_left_pending_are_delivered_by_the_next_command_once(local_cloud, tmp_path):
    config = fresh_config()
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    first = push_file(empty, cloud=local_cloud, config=config)  # creates the resources; nothing to deliver
    assert (first.produced, first.read, first.producer_invocations) == (0, 0, 0) and first.counts_add_up
    # records sent by a command that ended before delivering (as if it had crashed)
    own = _own_events(7, seed=5)
    local_cloud.client("kinesis").put_records(StreamName=config.stream_name, Records=[
        {"Data": orjson.dumps(e), "PartitionKey": e["subject_id"]} for e in own])
    later = run_pipeline(cloud=local_cloud, config=config, events=50, seed=9, malformed_ratio=0.0)
    assert later.pending_before == 7 and later.read == later.sent + 7 == 57 and later.counts_add_up
    again = push_file(empty, cloud=local_cloud, config=config)
    assert again.read == again.pending_before == 0
    ids = [e["event_id"] for e in _lake(local_cloud, config)]
    assert len(ids) == len(set(ids)) == 57 and {e["event_id"] for e in own} <= set(ids)


def test_a_delivery_redone_from_the_same_positions_writes_the_same_objects(local_cloud, tmp_path):
    """A command that wrote its objects but died before recording where it stopped: the next one
    delivers the same records again, under the same keys, so the lake holds them once."""
    config = fresh_config()
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    before = local_cloud.delivered(config.delivery_stream_name)
    first = run_pipeline(cloud=local_cloud, config=config, events=120, seed=2, malformed_ratio=0.05)
    local_cloud.save_delivered(config.delivery_stream_name, before)  # the record of this delivery is lost
    redo = push_file(empty, cloud=local_cloud, config=config)
    assert redo.pending_before == redo.read == first.sent
    assert (redo.data_keys, redo.quarantine_keys) == (first.data_keys, first.quarantine_keys)
    assert redo.lake["events"] == first.delivered and redo.lake["quarantined"] == first.quarantined


def test_a_file_over_6_mb_is_pushed_in_several_requests(local_cloud, tmp_path):
    config = fresh_config()
    base = _own_events(150, seed=23)
    path = tmp_path / "big.jsonl"
    n = 0
    with path.open("w") as f:
        while f.tell() < 6.5 * 1024 * 1024:
            f.write(json.dumps({**base[n % len(base)], "event_id": str(uuid.UUID(int=n + 1, version=4))}) + "\n")
            n += 1
    s = push_file(path, cloud=local_cloud, config=config, throughput_limits=False)
    assert s.producer_invocations == 2 and s.max_producer_request_bytes <= 6 * 1024 * 1024
    assert s.produced == s.sent == s.delivered == s.lake["events"] == n and s.counts_add_up


def test_the_command_line_runs_on_the_running_local_cloud(local_cloud, tmp_path, capsys):
    """main() with the session's server: a new folder, zero events; then the folder is refreshed,
    and each run without --seed adds new events (its own seed)."""
    config_prefix = fresh_config().name_prefix
    argv = ["--state-dir", str(local_cloud.state_dir), "-c", json.dumps({"name_prefix": config_prefix}).join(["pipeline=", ""])]
    out = tmp_path / "new" / "out"
    assert twin_main.main(["run", "--events", "0", "--out", str(out), *argv]) == 0
    text = capsys.readouterr().out
    assert f"local cloud {local_cloud.endpoint}, moto server pid {local_cloud.pid}, already running" in text
    assert "counts add up       yes  (sent 0 = delivered 0 + dropped 0 + quarantined 0)" in text
    assert f"{out} holds a copy of the local lake s3://{config_prefix}-lake-123456789012-us-east-1/ (data and quarantine): " \
           "0 data objects, 0 quarantine objects, summary.json" in text
    assert [p.name for p in out.iterdir()] == ["summary.json"]
    seeds = []
    for _ in range(2):
        assert twin_main.main(["--events", "40", "--malformed-ratio", "0", "--out", str(out), *argv]) == 0
        text = capsys.readouterr().out
        assert "resources           found and reused" in text and "(refreshed: the earlier copy was removed first)" in text
        seeds.append(json.loads((out / "summary.json").read_text())["seed"])
    assert seeds[1] == seeds[0] + 1
    assert "2 data objects, 0 quarantine objects" in text and f"produced                    40  (seed {seeds[1]}, " in text
    ids = [e["event_id"] for e in _out_events(out)]
    assert len(ids) == len(set(ids)) == 80  # new events each run, each delivered once


@pytest.mark.parametrize("name", ["missing.jsonl", "folder"])
def test_push_names_a_file_it_cannot_read_and_touches_nothing(name, tmp_path, capsys):
    (tmp_path / "folder").mkdir()
    state = tmp_path / "state"
    assert twin_main.main(["push", str(tmp_path / name), "--state-dir", str(state), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: push: {tmp_path / name}: cannot be read (") and err.count("\n") == 1
    assert not state.exists() and not (tmp_path / "out").exists()


def test_at_the_largest_buffer_what_outgrows_the_response_comes_round_again(local_cloud, tmp_path):
    """Minimal orders with every personal field and no consent, at the 3 MB processor buffer: the
    scrubber's response has no room for hundreds of them; they go back on the stream, are read
    again, and every event is delivered once."""
    from tests.unit.test_redrive import minimal_orders

    config = fresh_config(delivery={"processor_buffer_size_mib": 3})
    source = minimal_orders()
    path = tmp_path / "minimal.jsonl"
    path.write_bytes(b"".join(next(source) + b"\n" for _ in range(9000)))
    pushed = push_file(path, cloud=local_cloud, config=config, out_dir=tmp_path / "out")
    assert pushed.dropped > 100, "the batch should have outgrown the response"
    assert pushed.counts_add_up and pushed.quarantined == 0
    assert (pushed.sent, pushed.delivered, pushed.read) == (9000, 9000, 9000 + pushed.dropped)
    ids = [e["event_id"] for e in _lake(local_cloud, config)]
    assert len(ids) == len(set(ids)) == 9000
