"""``python -m tools.rights`` and its make targets: arguments passed exactly (the subject on
standard input, never on a command line or in output), refused clearly without a running local
cloud, outputs checked before anything runs. (Against a running local cloud: the end-to-end test.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import tools.rights as rights_cli
from twin.pipeline import ROOT

SUBJECT = """it's "me" $HOME $(shell x) `id` \\n"""


@pytest.fixture
def fake_python(tmp_path):
    """A PY for make that reports its arguments and standard input instead of running anything."""
    script = tmp_path / "py"
    script.write_text(f"#!{sys.executable}\nimport json, sys\n"
                      "print(json.dumps({'argv': sys.argv[1:], 'stdin': sys.stdin.read() if not sys.stdin.isatty() else None}))\n")
    script.chmod(0o755)
    return script


def _make(fake, *args) -> tuple[dict, str]:
    r = subprocess.run(["make", "-s", "-o", ".venv/.installed", f"PY={fake}", *args], cwd=ROOT, capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.splitlines()[-1]), r.stdout + r.stderr


def test_make_passes_the_subject_on_standard_input_exactly_and_prints_it_nowhere(fake_python):
    context = """pipeline={"name_prefix": "it's-a-demo"}"""
    got, printed = _make(fake_python, "forget", f"SUBJECT={SUBJECT}", f"CONTEXT={context}")
    assert got == {"argv": ["-m", "tools.rights", "forget", "-c", context, "-"], "stdin": SUBJECT}
    assert "me" not in printed.replace(json.dumps(got), "")
    got, printed = _make(fake_python, "export", f"SUBJECT={SUBJECT}", "OUT=my export's.jsonl", "FROM=2026-01-15",
                         "TO=2026-01-16")
    assert got == {"argv": ["-m", "tools.rights", "export", "--from", "2026-01-15", "--to", "2026-01-16",
                            "--output", "my export's.jsonl", "-"], "stdin": SUBJECT}
    got, _ = _make(fake_python, "reveal", "PURPOSE=-marketing", "OUT=out dir")
    assert got["argv"] == ["-m", "tools.rights", "reveal", "--output-dir", "out dir", "--", "-marketing"]


@pytest.mark.parametrize("target", ["forget", "export", "reveal"])
def test_make_without_its_variable_says_how_to_call_it(target):
    r = subprocess.run(["make", "-s", "-o", ".venv/.installed", "PY=false", target], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode != 0 and f"usage: make {target} " in r.stderr


@pytest.mark.parametrize("argv", [["forget", "-"], ["export", "-", "--from", "2026-01-01"], ["reveal", "support"]])
def test_without_a_running_local_cloud_the_commands_refuse_and_say_what_to_do(argv, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", _Stdin(SUBJECT))
    rc = rights_cli.main([*argv, "--state-dir", str(tmp_path / "state")])
    err = capsys.readouterr()
    assert rc == 2 and "no local cloud is running" in err.err and "run `make run` first" in err.err
    assert "me" not in err.out + err.err


class _Stdin:
    def __init__(self, text):
        self.text = text

    def read(self, n=-1):
        return self.text if n < 0 else self.text[:n]


def test_bad_arguments_and_outputs_are_refused_before_the_local_cloud_is_looked_for(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", _Stdin(""))
    state = tmp_path / "state"
    assert rights_cli.main(["forget", "--state-dir", str(state)]) == 2
    assert "no subject id given" in capsys.readouterr().err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    assert rights_cli.main(["reveal", "support", "--output-dir", str(tmp_path / "full"), "--state-dir", str(state)]) == 2
    assert "is not an empty folder" in capsys.readouterr().err
    assert rights_cli.main(["export", "s", "--output", str(tmp_path), "--state-dir", str(state)]) == 2
    assert "is a folder, not a file" in capsys.readouterr().err
    assert not state.exists()  # refused before any lock or state folder was made
    for argv, flag in ((["export", "s", "--to", "2026-01-01"], "--from"), (["export", "s", "--from", "2026-02-30"], "--from"),
                       (["export", "s", "--from", "2026-02-02", "--to", "2026-02-01"], "--from")):
        with pytest.raises(SystemExit) as exc:
            rights_cli.parse_args(argv)
        assert exc.value.code == 2 and f"argument {flag}" in capsys.readouterr().err


def test_reveal_files_stay_inside_their_folder(tmp_path):
    root = tmp_path / "out"
    assert rights_cli._target(root, "data/year=2026/x.gz") == (root / "data/year=2026/x.jsonl").resolve()
    with pytest.raises(rights_cli.UsageError, match="leaves the output folder"):
        rights_cli._target(root, "data/../../../etc/x.gz")
    assert Path(rights_cli._target(root, "x")).name == "x.jsonl"


@pytest.mark.parametrize("how", ["stdin", "argument"])
def test_a_subject_id_that_is_not_utf8_is_refused_without_showing_it(how, tmp_path):
    """No JSON event can hold it: forgetting it would write a tombstone for no one."""
    state = tmp_path / "state"
    argv = [sys.executable, "-m", "tools.rights", "forget", "--state-dir", str(state)]
    given = b"zqx-\xff\xfe"
    if how == "stdin":
        r = subprocess.run([*argv, "-"], input=given, capture_output=True, cwd=ROOT, timeout=60)
    else:
        r = subprocess.run([*argv, given], capture_output=True, cwd=ROOT, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 2
    assert b"is not UTF-8 text" in r.stderr and b"zqx" not in r.stdout + r.stderr
    assert not state.exists()  # refused before the local cloud was looked for


@pytest.mark.parametrize("target", ["forget", "export"])
@pytest.mark.parametrize("subject", [" zq-7731", "\tzq-7731", "  zq-7731@example.com"])
@pytest.mark.parametrize("assign", ["SUBJECT=", "SUBJECT:=", "SUBJECT ::= ", "SUBJECT ?=", "SUBJECT+="])
def test_make_refuses_a_subject_whose_leading_blank_it_would_drop(fake_python, target, subject, assign):
    """make strips the blanks that lead a command-line value, whatever the assignment: " zq" would
    reach the tool as "zq", another subject (a forget cannot be undone). Refused before anything runs."""
    r = subprocess.run(["make", "-s", "-o", ".venv/.installed", f"PY={fake_python}", target, f"{assign}{subject}"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode != 0 and "SUBJECT starts with a blank, which make drops" in r.stderr
    assert "argv" not in r.stdout  # the tool never ran
    assert subject.strip() not in r.stdout + r.stderr


@pytest.mark.parametrize("args", [["reveal", "PURPOSE=support"], ["export", f"SUBJECT={SUBJECT}"], ["forget", f"SUBJECT={SUBJECT}"]])
def test_make_echoes_no_command_so_standard_output_is_the_tools_alone(fake_python, args):
    """Without -s, make echoes each recipe line it runs unless it starts with @: that line would be
    the first of the JSON lines an export or a reveal writes to standard output."""
    r = subprocess.run(["make", "--no-print-directory", "-o", ".venv/.installed", f"PY={fake_python}", *args], cwd=ROOT,
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 1 and json.loads(r.stdout)["argv"][:3] == ["-m", "tools.rights", args[0]]


def test_a_subject_id_far_longer_than_any_is_refused_before_anything_is_sent(tmp_path, capsys, monkeypatch):
    import io

    class Piped:
        buffer = io.BytesIO(b"L" * 10_000_000)

    monkeypatch.setattr(sys, "stdin", Piped())
    assert rights_cli.main(["forget", "-", "--state-dir", str(tmp_path / "state")]) == 2
    err = capsys.readouterr().err
    assert "longer than 4,096 characters" in err and "LLLL" not in err
    assert Piped.buffer.tell() < 20_000  # read no further than the longest id could reach
