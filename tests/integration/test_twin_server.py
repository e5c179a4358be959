"""The local cloud's server: started once, found again, stopped without a trace, and never a
server or a port that is not ours."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import psutil
import pytest

from tests.integration.conftest import free_port, gone
from twin import server
from twin.pipeline import ROOT


def _twin(*argv: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TWIN_PORT"}
    return subprocess.run([sys.executable, "-m", "twin", *argv], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=env)


def _state(folder) -> dict:
    return json.loads((folder / server.STATE_FILE).read_text())


def test_the_command_line_starts_keeps_and_stops_the_local_cloud(tmp_path):
    state, out, port = tmp_path / "state", tmp_path / "out", free_port()
    r = _twin("run", "--events", "300", "--state-dir", str(state), "--port", str(port), "--out", str(out))
    assert r.returncode == 0, r.stderr
    pid = _state(state)["pid"]
    assert f"(local cloud http://127.0.0.1:{port}, moto server pid {pid}, started by this command)" in r.stdout
    for word in ("produced", "delivered", "redacted", "quarantined", "objects written", "elapsed", "counts add up       yes",
                 "local lake          s3://pii-scrub-lake-123456789012-us-east-1/ holds 1 data object",
                 f"{out} holds a copy of the local lake"):
        assert word in r.stdout
    assert server.port_open(port) and not gone(pid)  # left running for the next command

    delivered_by_run = json.loads((out / "summary.json").read_text())["delivered"]
    events = tmp_path / "events.jsonl"
    from producer.events import EventFactory

    events.write_text("".join(json.dumps(e) + "\n" for e in EventFactory(seed=1, subjects=3).events(5)) + "{oops\n")
    r = _twin("push", str(events), "--state-dir", str(state), "--out", str(out))
    assert r.returncode == 1, r.stderr  # a refused line: the exit status says so
    assert f"moto server pid {pid}, already running" in r.stdout and "line 6: not JSON (column 2)" in r.stdout
    assert "oops" not in r.stdout + r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["delivered"] == 5 and summary["lake"]["events"] == delivered_by_run + 5

    r = _twin("down", "--state-dir", str(state))
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"stopped the twin's server (pid {pid}); port {port} is closed; the local lake, keys and resources are gone\n"
    assert not server.port_open(port) and gone(pid) and not (state / server.STATE_FILE).exists()
    r = _twin("down", "--state-dir", str(state))
    assert (r.returncode, r.stdout) == (0, f"no twin server is recorded in {state / server.STATE_FILE}; nothing to stop\n")


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _stale(state, port: int) -> None:
    state.mkdir(parents=True, exist_ok=True)
    (state / server.STATE_FILE).write_text(json.dumps({
        "written_by": server.WRITTEN_BY, "pid": _dead_pid(), "port": port, "create_time": 1.0, "token": "old"}))


def test_a_stale_state_file_is_said_and_a_new_server_started(tmp_path, capsys):
    state, port = tmp_path / "state", free_port()
    _stale(state, port)
    cloud = server.ensure_running(state)
    try:
        assert cloud.started_now and cloud.port == port  # the recorded port, when free
        err = capsys.readouterr().err
        assert "is no longer running; what it held (lake, keys, streams) went with it. Starting a new one." in err
        assert _state(state)["token"] == cloud.token != "old"
    finally:
        server.stop(state)
    assert gone(cloud.pid) and not server.port_open(port)


@pytest.fixture
def plain_listener():
    """A port held by a program that is not a moto server (a web server answering every request)."""
    import http.server
    import threading

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"hello": "world"}')

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_a_port_held_by_another_program_is_never_used(tmp_path, plain_listener, capsys):
    with pytest.raises(server.ServerError, match=f"^port {plain_listener} is in use by another program "
                                                 r"\(not a moto server\); or choose a free port: TWIN_PORT=<port> make run$"):
        server.ensure_running(tmp_path / "a", plain_listener)
    _stale(tmp_path / "b", plain_listener)  # a stale state file whose port was taken since
    with pytest.raises(server.ServerError, match="in use by another program"):
        server.ensure_running(tmp_path / "b")
    assert "is no longer running" in capsys.readouterr().err
    assert not (tmp_path / "a" / server.STATE_FILE).exists() and not (tmp_path / "b" / server.STATE_FILE).exists()


def test_a_moto_server_that_is_not_ours_is_never_used(tmp_path):
    from moto.server import ThreadedMotoServer

    port = free_port()
    other = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    other.start()
    try:
        with pytest.raises(server.ServerError, match=f"port {port} is in use by a moto server that is not the twin's"):
            server.ensure_running(tmp_path / "state", port)
        assert server.stop(tmp_path / "state", port).startswith("no twin server is recorded")  # not stopped
        assert server.port_open(port)
    finally:
        other.stop()


def test_another_checkouts_server_is_never_used_nor_stopped(tmp_path, local_cloud, monkeypatch):
    with pytest.raises(server.ServerError, match=f"port {local_cloud.port} is in use by the twin server of another "
                                                 f"checkout \\(state folder {local_cloud.state_dir}\\)"):
        server.ensure_running(tmp_path / "mine", local_cloud.port)
    assert server.stop(tmp_path / "mine", local_cloud.port).startswith("no twin server is recorded")
    assert server.port_open(local_cloud.port) and not gone(local_cloud.pid)
    # the same state folder asking for another port: refused, the server stays where it is
    with pytest.raises(server.ServerError, match=f"already runs on port {local_cloud.port}"):
        server.ensure_running(local_cloud.state_dir, free_port())
    with monkeypatch.context() as m:
        m.setenv("TWIN_PORT", str(free_port()))  # TWIN_PORT too
        with pytest.raises(server.ServerError, match=f"already runs on port {local_cloud.port}"):
            server.ensure_running(local_cloud.state_dir)
        m.setenv("TWIN_PORT", str(local_cloud.port))
        assert server.ensure_running(local_cloud.state_dir).token == local_cloud.token


def test_down_never_stops_a_process_that_is_not_the_recorded_server(tmp_path):
    """A state file naming a live process (here, this test's) that does not listen on the port."""
    state = tmp_path / "state"
    state.mkdir()
    me = psutil.Process()
    (state / server.STATE_FILE).write_text(json.dumps({
        "written_by": server.WRITTEN_BY, "pid": me.pid, "port": free_port(), "create_time": me.create_time(),
        "token": "x"}))
    with pytest.raises(server.ServerError, match=f"pid {me.pid}\\) runs but does not listen on port"):
        server.stop(state)
    with pytest.raises(server.ServerError, match="runs but does not answer"):
        server.ensure_running(state)
    assert (state / server.STATE_FILE).exists()  # still recorded: nothing was decided for the user


@pytest.mark.parametrize("text", ["not json", "[]", '{"pid": 1}'])
def test_a_state_file_that_is_not_the_twins_is_refused(tmp_path, text):
    (tmp_path / server.STATE_FILE).write_text(text)
    with pytest.raises(server.ServerError, match="twin's state file; if no twin server runs, remove it"):
        server.ensure_running(tmp_path)
    assert (tmp_path / server.STATE_FILE).read_text() == text
