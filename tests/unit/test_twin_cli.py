"""The twin's command line: options checked with messages naming the flag, cdk-style overrides
merged over cdk.json, and bad input refused before the local cloud is touched. (Runs on the local
cloud: tests/integration.)"""

from __future__ import annotations

import json
import subprocess
import sys
from contextlib import nullcontext

import pytest

import twin.__main__ as twin_main
from twin.pipeline import ROOT


@pytest.mark.parametrize("argv, flag", [
    (["--events", "-5"], "--events"),
    (["--events", "1.5"], "--events"),
    (["--events", "1000001"], "--events"),
    (["--consent-ratio", "nan"], "--consent-ratio"),
    (["--consent-ratio", "2"], "--consent-ratio"),
    (["--consent-ratio", "inf"], "--consent-ratio"),
    (["--consent-noise", "-0"], None),  # -0.0 is a share: accepted
    (["--malformed-ratio", "-0.1"], "--malformed-ratio"),
    (["--seed", "x"], "--seed"),
    (["--seed", "-1"], "--seed"),
    (["-c", "pipeline"], "-c/--context"),
    (["-c", "={}"], "-c/--context"),
])
def test_bad_options_are_refused_naming_the_flag(argv, flag, capsys):
    if flag is None:
        assert twin_main.parse_args(argv).consent_noise == 0.0
        return
    with pytest.raises(SystemExit) as exc:
        twin_main.parse_args(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"error: argument {flag}: " in err and "Traceback" not in err


def test_good_options_parse():
    a = twin_main.parse_args(["--events", "0", "--seed", "3", "--consent-ratio", "1", "--malformed-ratio", "0",
                              "-c", 'pipeline={"a": 1}', "--context", "other=x=y"])
    assert (a.command, a.events, a.seed, a.consent_ratio, a.malformed_ratio) == ("run", 0, 3, 1.0, 0.0)
    assert a.context == [("pipeline", '{"a": 1}'), ("other", "x=y")]
    assert a.state_dir == str(ROOT / ".twin") and a.port is None and a.out == "out"
    a = twin_main.parse_args(["run", "--port", "4600", "--state-dir", "s"])
    assert (a.command, a.port, a.state_dir, a.events) == ("run", 4600, "s", 10_000)
    a = twin_main.parse_args(["push", "--out", "o", "-c", "pipeline={}", "--", "-events.jsonl"])
    assert (a.command, a.file, a.out, a.context) == ("push", "-events.jsonl", "o", [("pipeline", "{}")])
    assert twin_main.parse_args(["down"]).command == "down"


@pytest.mark.parametrize("argv, flag", [
    (["push"], "the following arguments are required: file"),
    (["push", "f", "--events", "3"], "unrecognized arguments: --events 3"),
    (["down", "--out", "x"], "unrecognized arguments: --out x"),
    (["run", "--port", "70000"], "argument --port: must be between 1 and 65,535, got 70,000"),
])
def test_each_command_takes_its_own_options(argv, flag, capsys):
    with pytest.raises(SystemExit) as exc:
        twin_main.parse_args(argv)
    assert exc.value.code == 2 and flag in capsys.readouterr().err


def test_a_bad_twin_port_is_named(monkeypatch):
    from twin.server import ServerError, port_from_env

    monkeypatch.setenv("TWIN_PORT", "http")
    with pytest.raises(ServerError, match="TWIN_PORT must be a port number"):
        port_from_env()
    monkeypatch.setenv("TWIN_PORT", "4600")
    assert port_from_env() == 4600


def _twin(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "twin", *argv], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_the_command_line_reports_bad_input_in_one_line_without_a_traceback(tmp_path):
    """Refused before the local cloud is touched: no server started, no state folder made."""
    (tmp_path / "file").write_text("x")
    r = _twin("--events", "-5")
    assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr
    assert r.stderr.splitlines()[-1] == "python -m twin: error: argument --events: must be between 0 and 1,000,000, got -5"
    r = _twin("--out", str(tmp_path / "file"))
    assert (r.returncode, r.stdout, r.stderr) == (2, "", f"error: --out {tmp_path / 'file'}: exists and is not a folder\n")
    r = _twin("-c", 'pipeline={"typo": 1}')
    assert (r.returncode, r.stdout, r.stderr) == (1, "", "Invalid configuration: pipeline has unknown key(s): typo\n")
    r = _twin("push", str(tmp_path / "events.jsonl"), "--out", str(tmp_path / "file"), "--state-dir", str(tmp_path / "s"))
    assert r.returncode == 2 and "cannot be read" in r.stderr and not (tmp_path / "s").exists()
    (tmp_path / "events.jsonl").write_text("{}\n")
    r = _twin("push", str(tmp_path / "events.jsonl"), "--out", str(tmp_path / "file"), "--state-dir", str(tmp_path / "s"))
    assert (r.returncode, r.stderr) == (2, f"error: --out {tmp_path / 'file'}: exists and is not a folder\n")
    assert not (tmp_path / "s").exists()


@pytest.fixture
def captured_config(monkeypatch, tmp_path):
    """Run main() up to the pipeline, with a cdk.json whose values differ from the code defaults."""
    doc = json.loads((ROOT / "cdk.json").read_text())
    doc["context"]["pipeline"]["delivery"]["processor_retries"] = 5
    doc["context"]["pipeline"]["stream"]["retention_hours"] = 48
    (tmp_path / "cdk.json").write_text(json.dumps(doc))
    monkeypatch.setattr(twin_main, "ROOT", tmp_path)
    seen = {}

    class Stop(Exception):
        pass

    def fake_run(**kw):
        seen.update(kw)
        raise Stop

    monkeypatch.setattr(twin_main, "run_pipeline", fake_run)
    class Cloud:
        def runs(self):
            return 0

    cloud = Cloud()
    monkeypatch.setattr(twin_main, "ensure_running", lambda state_dir, port: cloud)
    monkeypatch.setattr(twin_main, "command_lock", lambda state_dir: nullcontext())

    def run(*argv):
        seen.clear()
        with pytest.raises(Stop):
            twin_main.main([*argv, "--out", str(tmp_path / "out")])
        assert seen["cloud"] is cloud and seen["seed"] == twin_main.DEFAULT_SEED
        return seen["config"]

    return run


def test_context_overrides_merge_over_cdk_json_as_with_cdk_synth(captured_config, capsys):
    cfg = captured_config("-c", 'pipeline={"delivery": {"processor_buffer_size_mib": 3}}')
    assert cfg.delivery.processor_buffer_size_mib == 3
    assert cfg.delivery.processor_retries == 5 and cfg.stream.retention_hours == 48  # cdk.json's, kept
    cfg = captured_config("--context", 'pipeline={"name_prefix": "a-b"}', "-c", 'pipeline={"name_prefix": "x-y"}')
    assert cfg.name_prefix == "x-y" and cfg.delivery.processor_buffer_size_mib == 2  # the last value wins
    cfg = captured_config("-c", "other=1")
    assert cfg.delivery.processor_retries == 5
    assert "-c other: only the pipeline context configures the twin; ignored" in capsys.readouterr().err


@pytest.mark.parametrize("value, message", [
    ('{"delivery": {"processor_buffer_size_mib": 9}}', "pipeline.delivery.processor_buffer_size_mib must be between 1 and 3"),
    ('{"delivery": {"typo": 1}}', "pipeline.delivery has unknown key(s): typo"),
    ('{"name_prefix": ', "pipeline is not valid JSON"),
])
def test_an_invalid_override_exits_naming_the_key(value, message, tmp_path, capsys):
    assert twin_main.main(["-c", f"pipeline={value}", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Invalid configuration: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_a_redrive_with_a_bad_range_or_no_local_cloud_is_refused_in_one_line(tmp_path, capsys):
    """Refused before the local cloud is touched; and a redrive never starts one (nothing to redrive)."""
    a = twin_main.parse_args(["redrive", "--since", "2026-01-15", "--until", "2026-01-16T06:00:00Z"])
    assert (a.command, a.since, a.until, a.out) == ("redrive", "2026-01-15", "2026-01-16T06:00:00Z", "out")
    state = tmp_path / "s"
    for argv, message in (
        (["--since", "2026-01-15T09:00"], "error: redrive: --since: must carry its time zone (Z or +HH:MM)"),
        (["--since", "2026-01-16", "--until", "2026-01-15"], "error: redrive: --until: must be after since"),
    ):
        assert twin_main.main(["redrive", *argv, "--out", str(tmp_path / "out"), "--state-dir", str(state)]) == 2
        assert capsys.readouterr().err.strip() == message
    assert twin_main.main(["redrive", "--out", str(tmp_path / "out"), "--state-dir", str(state)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no local cloud is running") and "make run" in err and "Traceback" not in err
    assert not (state / "server.json").exists()


def test_a_refused_command_keeps_the_earlier_copy_of_the_lake(tmp_path, monkeypatch, capsys):
    """A command that cannot run (the server already runs on another port) leaves ./out as it was:
    it used to empty it first, and make query then counted 0 events without a word."""
    import twin.__main__ as cli
    from twin.outdir import prepare
    from twin.server import ServerError

    out = prepare(tmp_path / "out")
    out.write_objects("b", {"data/x.gz": b"{}\n"}, quarantine=False)
    out.write_summary({"complete": True})

    def refuse(*_a, **_k):
        raise ServerError("the twin's server already runs on port 4690; stop it with make down")

    monkeypatch.setattr(cli, "ensure_running", refuse)
    code = cli.main(["run", "--events", "1", "--out", str(tmp_path / "out"), "--state-dir", str(tmp_path / "state")])
    assert code == 2 and "already runs" in capsys.readouterr().err
    assert (tmp_path / "out" / "b" / "data" / "x.gz").exists()
