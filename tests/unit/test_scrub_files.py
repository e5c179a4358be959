"""`scrub` is safe to use: it never writes over its input or keyring, writes owner-only files,
and reports a bad file or option in one line that names it, never its content."""

from __future__ import annotations

import base64
import json
import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from producer.events import EventFactory, encode
from tools.contracts import main

ROOT = Path(__file__).resolve().parents[2]
SECRET = "SECRET-key-material-0123456789abcdef-0123456789"
KEYRING = json.dumps({"current": "v1", "v1": SECRET})


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(KEYRING_ENV, raising=False)
    f = EventFactory(seed=4, consent_ratio=0.5)
    (tmp_path / "events.jsonl").write_bytes(b"".join(encode(f.next_event()) + b"\n" for _ in range(20)))
    (tmp_path / "keys.json").write_text(KEYRING)
    return tmp_path


KEYRING_ENV = "PSEUDONYM_KEYRING"


def _scrub(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(["scrub", *argv, "--quiet", "--redact-encrypted"])
    out, err = capsys.readouterr()
    assert "Traceback" not in err and SECRET not in err + out
    return rc, out, err


def _refused(capsys, files, *argv: str, message: str) -> str:
    before = {p.name: p.read_bytes() for p in files.iterdir() if p.is_file()}
    rc, out, err = _scrub(capsys, *argv)
    assert rc == 2 and out == "" and err.count("\n") == 1 and err.startswith("error: "), err
    assert message in err, err
    assert {p.name: p.read_bytes() for p in files.iterdir() if p.is_file()} == before  # nothing written over
    return err


@pytest.mark.parametrize("make_alias", [
    lambda d: "events.jsonl",
    lambda d: "./events.jsonl",
    lambda d: str(d / "events.jsonl"),
    lambda d: os.symlink("events.jsonl", d / "link.jsonl") or "link.jsonl",
    lambda d: os.link(d / "events.jsonl", d / "hard.jsonl") or "hard.jsonl",
    lambda d: (d / "sub").mkdir() or "sub/../events.jsonl",
])
def test_an_output_that_is_the_input_under_any_name_is_refused(files, capsys, make_alias):
    alias = make_alias(files)
    _refused(capsys, files, "events.jsonl", "--keyring", "keys.json", "--output", alias, message="is the input file")
    _refused(capsys, files, "events.jsonl", "--keyring", "keys.json", "--quarantine", alias, message="is the input file")


def test_a_quarantine_that_is_the_input_or_the_output_or_the_keyring_is_refused(files, capsys):
    args = ("events.jsonl", "--keyring", "keys.json")
    _refused(capsys, files, *args, "--output", "o.jsonl", "--quarantine", "./o.jsonl", message="is the same file as --output")
    _refused(capsys, files, *args, "--output", "keys.json", message="--output keys.json: is the keyring file")
    _refused(capsys, files, *args, "--quarantine", "keys.json", message="quarantine keys.json: is the keyring file")
    # the default quarantine path, when it is a link to the input
    os.symlink("events.jsonl", files / "events.quarantine.jsonl")
    _refused(capsys, files, *args, message="quarantine events.quarantine.jsonl: is the input file")


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_outputs_are_owner_only_new_or_existing(files, capsys):
    old = os.umask(0)
    try:
        assert _scrub(capsys, "events.jsonl", "--keyring", "keys.json")[0] == 0
    finally:
        os.umask(old)
    assert _mode(files / "events.scrubbed.jsonl") == _mode(files / "events.quarantine.jsonl") == 0o600
    for name, mode in (("o.jsonl", 0o644), ("q.jsonl", 0o666)):
        (files / name).write_text("earlier content\n" * 1000)
        os.chmod(files / name, mode)
    assert _scrub(capsys, "events.jsonl", "--keyring", "keys.json", "--output", "o.jsonl", "--quarantine", "q.jsonl")[0] == 0
    assert _mode(files / "o.jsonl") == _mode(files / "q.jsonl") == 0o600
    assert len((files / "o.jsonl").read_bytes().splitlines()) == 20 and (files / "q.jsonl").read_bytes() == b""


def _unreadable(d: Path) -> str:
    """A file that cannot be read, also by root."""
    if os.geteuid() != 0:
        (d / "locked.json").write_text(KEYRING)
        os.chmod(d / "locked.json", 0)
        return "locked.json"
    return "/proc/self/mem"  # reads fail with EIO at offset 0


@pytest.mark.parametrize("content, message", [
    (None, "--keyring missing.json: no such file"),
    ("", "is empty"),
    ("not json", "is not JSON (line 1, column 1)"),
    (f'{{"current": "v1", "v1": "{SECRET}"', "is not JSON (line 1, column"),
    (json.dumps([SECRET]), "must be a JSON object"),
    (json.dumps({"v1": SECRET}), 'has no "current"'),
    (json.dumps({"current": "v2", "v1": SECRET}), '"current" names no key in it (its keys: v1)'),
    (json.dumps({"current": SECRET, "v1": SECRET}), '"current" names no key in it'),
    (json.dumps({"current": "v1"}), "holds no key"),
    (json.dumps({"current": "v1", "v1": "short"}), "key v1 is shorter than 32 bytes"),
    (json.dumps({"current": "v1", "v1": 12345678901234567890123456789012345}), "key v1 must be a string, got a number"),
    (json.dumps({"current": "v1", "v1": {"k": SECRET}}), "key v1 must be a string, got an object"),
    (json.dumps({"current": SECRET, SECRET: SECRET}), "a key id is not 1 to 16 of"),
    ("[" * 200_000 + "]" * 200_000, "is nested too deep to be a keyring"),
])
def test_a_bad_keyring_is_named_in_one_line_without_its_content(files, capsys, content, message):
    name = "missing.json"
    if content is not None:
        (files / "k.json").write_text(content)
        name = "k.json"
    err = _refused(capsys, files, "events.jsonl", "--keyring", name, message=message)
    assert err.startswith(f"error: --keyring {name}: ")


def test_a_keyring_that_is_a_folder_unreadable_not_text_or_in_the_environment(files, capsys, monkeypatch):
    (files / "dir").mkdir()
    _refused(capsys, files, "events.jsonl", "--keyring", "dir", message="--keyring dir: is a folder, not a file")
    name = _unreadable(files)
    _refused(capsys, files, "events.jsonl", "--keyring", name, message=f"--keyring {name}: cannot be read (")
    (files / "bin.json").write_bytes(b"\xff\xfe" + SECRET.encode())
    _refused(capsys, files, "events.jsonl", "--keyring", "bin.json", message="--keyring bin.json: is not UTF-8 text")
    monkeypatch.setenv(KEYRING_ENV, json.dumps({"current": "v9", "v1": SECRET}))
    _refused(capsys, files, "events.jsonl", message='PSEUDONYM_KEYRING: "current" names no key in it')
    monkeypatch.setenv(KEYRING_ENV, "")
    _refused(capsys, files, "events.jsonl", message="PSEUDONYM_KEYRING: is empty")


def test_bad_inputs_and_contracts_are_named_in_one_line(files, capsys):
    (files / "dir").mkdir()
    k = ("--keyring", "keys.json")
    _refused(capsys, files, "nope.jsonl", *k, message="input nope.jsonl: no such file")
    _refused(capsys, files, "dir", *k, message="input dir: is a folder, not a file")
    _refused(capsys, files, "events.jsonl", *k, "--contract", "nope/1", message="--contract nope/1: no such contract (known: ")
    _refused(capsys, files, "events.jsonl", *k, "--contract", "garbage", message="--contract garbage: no such contract")
    _refused(capsys, files, "events.jsonl", *k, "--output", "dir", message="--output dir: is a folder, not a file")
    _refused(capsys, files, "events.jsonl", *k, "--output", "no/o.jsonl", message="--output no/o.jsonl: its folder no does not exist")


def test_empty_binary_and_huge_inputs_are_scrubbed_or_quarantined_without_printing_them(files, capsys):
    k = ("--keyring", "keys.json")
    (files / "empty.jsonl").write_bytes(b"")
    rc, out, _ = _scrub(capsys, "empty.jsonl", *k)
    assert rc == 0 and "0 scrubbed" in out and (files / "empty.scrubbed.jsonl").read_bytes() == b""
    binary = bytes(range(256)) * 3 + b"\n" + b"\xc3\x28 MARKER-1\n"
    (files / "binary.jsonl").write_bytes(binary)
    rc, out, err = _scrub(capsys, "binary.jsonl", *k)
    assert rc == 0 and "MARKER" not in out + err
    q = [json.loads(line) for line in (files / "binary.quarantine.jsonl").read_text().splitlines()]
    kept = b"".join(base64.b64decode(x["raw_base64"]) if "raw_base64" in x else x["raw"].encode() for x in q)
    assert {x["reason"] for x in q} <= {"invalid_utf8", "invalid_json"} and b"MARKER-1" in kept
    assert all(base64.b64decode(x["raw_base64"]) in binary for x in q if "raw_base64" in x)  # bytes kept exactly
    huge = json.dumps({"event_type": "customer_signed_up", "schema_version": "1", "note": "MARKER-2 " * 1_000_000})
    (files / "huge.jsonl").write_text(huge + "\n" + "[" * 100_000 + "\n")
    rc, out, err = _scrub(capsys, "huge.jsonl", *k)
    assert rc == 0 and "2 quarantined" in out and "MARKER" not in out + err
    assert "MARKER-2" in (files / "huge.quarantine.jsonl").read_text()


def test_the_make_target_takes_paths_with_spaces_and_quotes(files):
    (files / "my events.jsonl").write_bytes((files / "events.jsonl").read_bytes())
    out = files / "it's scrubbed.jsonl"
    r = subprocess.run(["make", "-s", "-o", ".venv/.installed", f"PY={sys.executable}", "scrub",
                        f"IN={files / 'my events.jsonl'}", f"OUT={out}", f"KEYRING={files / 'keys.json'}", "REDACT_ENCRYPTED=1"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert len(out.read_bytes().splitlines()) == 20 and _mode(out) == 0o600
    assert (files / "my events.quarantine.jsonl").exists()
    context = """pipeline={"name_prefix": "it's-a-demo", "delivery": {"data_prefix": "$HOME/$(shell x)/"}}"""
    r = subprocess.run(["make", "-n", "-o", ".venv/.installed", "run", f"CONTEXT={context}"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    line = next(x for x in r.stdout.splitlines() if "-m twin" in x)
    assert shlex.split(line)[-2:] == ["-c", context]


@pytest.mark.parametrize("flag", ["--output", "--quarantine"])
def test_a_fifo_or_a_folder_as_an_output_is_refused_and_left_as_it_was(files, capsys, flag):
    """Writing to ``/dev/null`` once made it owner-only before the refusal: a path that is not a
    regular file keeps its mode and content (a FIFO stands in for a device here)."""
    fifo = files / "pipe"
    os.mkfifo(fifo, 0o644)
    (files / "dir").mkdir(mode=0o755)
    for target, message in (("pipe", "is not a regular file"), ("dir", "is a folder, not a file")):
        before = _mode(files / target)
        err = _refused(capsys, files, "events.jsonl", "--keyring", "keys.json", flag, target, message=message)
        assert target in err and _mode(files / target) == before


def test_a_fifo_as_input_or_keyring_is_refused_not_waited_on(files, capsys):
    os.mkfifo(files / "in.pipe")
    os.mkfifo(files / "keys.pipe")
    _refused(capsys, files, "in.pipe", "--keyring", "keys.json", message="input in.pipe: is not a regular file")
    _refused(capsys, files, "events.jsonl", "--keyring", "keys.pipe", message="--keyring keys.pipe: is not a regular file")
