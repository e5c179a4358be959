"""The twin's local cloud: one moto server on 127.0.0.1 that outlives the commands using it.

``python -m twin`` (run, push) starts the server if none of this checkout's is running, and leaves
it running, so the lake, the keys and the resources are there for the next command; ``python -m
twin down`` stops it. The server runs no Lambda code (moto needs Docker for that): the handlers run
in the twin's own process and reach the server through boto3 ``endpoint_url``.

What is ours is decided, never guessed. The state file (``<state dir>/server.json``, ``.twin/``
by default) records the server's pid, the pid's start time and the port, and a token; right after
starting, the twin stores a marker in the server itself (a Secrets Manager secret, ``MARKER``)
holding the same token and the state folder. A server is used only if the recorded process is alive
(same start time), listens on the recorded port, and answers with the recorded token. Anything else
is reported with a message saying what was found and what to do: a stale state file (the process
is gone: its lake is gone with it, and a new server is started), a port held by another program, by
a moto server that is not the twin's, or by the twin's server of another checkout.

The state file also holds, per delivery stream, the last sequence number delivered from each shard
(``delivered``), so that each command delivers what is pending, once. It belongs to one server:
a new server starts with a new state file. Commands of one checkout take a lock
(``<state dir>/lock``) so that two never deliver the same records at once.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

CHECKOUT = Path(__file__).resolve().parent.parent
DEFAULT_PORT = 4566
HOST = "127.0.0.1"
REGION = "us-east-1"
STATE_FILE = "server.json"
LOG_FILE = "server.log"
MARKER = "twin-local-cloud/owner"
WRITTEN_BY = "python -m twin"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
# moto ignores credentials; these never leave the machine, and keep any real ones out of requests.
FAKE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "aws_session_token": "testing"}

_started: dict[int, subprocess.Popen] = {}  # servers this process started (reaped when stopped)


class ServerError(Exception):
    """The local cloud cannot be used. The message says what was found and what to do."""


def port_from_env() -> int | None:
    text = os.environ.get("TWIN_PORT", "").strip()
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ServerError(f"TWIN_PORT must be a port number (1-65535), got {text!r}")
    return int(text)


@dataclass
class LocalCloud:
    state_dir: Path
    port: int
    pid: int
    token: str
    started_now: bool = False  # started by this command
    _session: object = field(default=None, repr=False, compare=False)

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def session(self):
        """One boto3 session per cloud: its clients share the loaded service models."""
        if self._session is None:
            import boto3

            self._session = boto3.Session(region_name=REGION, **FAKE_CREDENTIALS)
        return self._session

    def client(self, service: str, **kw):
        return self.session().client(service, endpoint_url=self.endpoint, **kw)

    def delivered(self, delivery_stream: str) -> dict[str, str]:
        """Per shard, the last sequence number delivered by this server's delivery stream."""
        return dict(_read_state(self.state_dir).get("delivered", {}).get(delivery_stream, {}))

    def save_delivered(self, delivery_stream: str, positions: dict[str, str]) -> None:
        self._update(lambda state: state.setdefault("delivered", {}).__setitem__(delivery_stream, dict(positions)))

    def runs(self) -> int:
        """How many ``run`` commands this server has seen (their default seeds differ)."""
        return int(_read_state(self.state_dir).get("runs", 0))

    def count_run(self) -> None:
        self._update(lambda state: state.__setitem__("runs", int(state.get("runs", 0)) + 1))

    def _update(self, change) -> None:
        state = _read_state(self.state_dir)
        if state.get("token") != self.token:
            raise ServerError(f"{self.state_dir / STATE_FILE} changed during the command; nothing recorded")
        change(state)
        _write_state(self.state_dir, state)


# -- state file and lock ------------------------------------------------------------------------


def _read_state(state_dir: Path) -> dict:
    path = state_dir / STATE_FILE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        raise ServerError(f"{path} cannot be read as the twin's state file; if no twin server runs, remove it") from None
    if not isinstance(doc, dict) or doc.get("written_by") != WRITTEN_BY:
        raise ServerError(f"{path} is not the twin's state file; if no twin server runs, remove it")
    return doc


def _write_state(state_dir: Path, state: dict) -> None:
    tmp = state_dir / (STATE_FILE + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the server's token
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchmod(fd, 0o600)
        fh.write(json.dumps(state, indent=2))
    os.replace(tmp, state_dir / STATE_FILE)


def _private_dir(state_dir: Path) -> None:
    """The state folder, owner-only: the state file holds the server's token, the log its requests."""
    if state_dir.exists() and not state_dir.is_dir():
        raise ServerError(f"{state_dir}: the twin's state folder is not a folder")
    try:
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        state_dir.chmod(0o700)
    except OSError as exc:
        raise ServerError(f"{state_dir}: the twin's state folder cannot be made ({exc.strerror or type(exc).__name__})") from None


@contextmanager
def command_lock(state_dir: Path):
    """One twin command at a time per state folder (created if missing)."""
    _private_dir(state_dir)
    with os.fdopen(os.open(state_dir / "lock", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another twin command using {state_dir} to finish...", file=sys.stderr)
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# -- probing --------------------------------------------------------------------------------------


def port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1.0):
            return True
    except OSError:
        return False


def _is_moto(port: int) -> bool:
    """Whether the listener on ``port`` answers moto's own API (``/moto-api/config``)."""
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/moto-api/config", timeout=2.0) as r:
            doc = json.loads(r.read(65536))
    except (OSError, ValueError, urllib.error.URLError):
        return False
    return isinstance(doc, dict) and "lambda" in doc


def _marker(port: int) -> dict | None:
    """The twin's marker in the moto server on ``port``, or None if it has none."""
    from botocore.config import Config
    from botocore.exceptions import ClientError

    client = LocalCloud(Path("."), port, 0, "").client(
        "secretsmanager", config=Config(connect_timeout=2, read_timeout=5, retries={"total_max_attempts": 1}))
    try:
        secret = client.get_secret_value(SecretId=MARKER)["SecretString"]
        doc = json.loads(secret)
    except ClientError:
        return None
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _process(pid: int, create_time: float | None) -> psutil.Process | None:
    """The process ``pid`` if it runs and is the one recorded (same start time), else None."""
    try:
        p = psutil.Process(pid)
        if p.status() == psutil.STATUS_ZOMBIE:
            return None
        if create_time is not None and abs(p.create_time() - create_time) > 0.01:
            return None  # the pid was reused by another process
        return p
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def _listens(p: psutil.Process, port: int) -> bool:
    try:
        conns = p.net_connections(kind="tcp")
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    return any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port for c in conns)


def _describe_holder(port: int, state_dir: Path) -> str:
    """Who holds ``port``, for an error message."""
    if not _is_moto(port):
        return f"port {port} is in use by another program (not a moto server)"
    marker = _marker(port)
    if marker is None:
        return f"port {port} is in use by a moto server that is not the twin's (it has no {MARKER} marker)"
    where = marker.get("state_dir", "?")
    if where == str(state_dir):
        return (f"port {port} is in use by a twin server started with this state folder (pid {marker.get('pid', '?')}), "
                f"but {state_dir / STATE_FILE} does not record it; stop it with `python -m twin down --port {port}`")
    return f"port {port} is in use by the twin server of another checkout (state folder {where}); stop it there with `make down`"


# -- start, find, stop --------------------------------------------------------------------------


def _recorded(state: dict) -> psutil.Process | None:
    """The recorded server process, if it runs (same pid and start time) and listens on its port."""
    p = _process(int(state["pid"]), state.get("create_time"))
    return p if p is not None and _listens(p, int(state["port"])) else None


def _ours(state: dict) -> bool:
    """The recorded process runs, listens on its port, and the server there holds our marker."""
    port = int(state["port"])
    if _recorded(state) is None or not _is_moto(port):
        return False
    marker = _marker(port)
    return marker is not None and marker.get("token") == state.get("token")


def ensure_running(state_dir: str | Path, port: int | None = None) -> LocalCloud:
    """This checkout's server: the one recorded in the state file if it is alive and ours, else a
    new one on ``port`` (default ``TWIN_PORT``, else the port of a stale state file, else
    ``DEFAULT_PORT``). Raises ServerError rather than use anything that is not ours."""
    state_dir = Path(state_dir).absolute()
    _private_dir(state_dir)
    state = _read_state(state_dir)
    if state:
        if _ours(state):
            wanted = port if port is not None else port_from_env()
            if wanted is not None and wanted != state["port"]:
                raise ServerError(f"the twin's server already runs on port {state['port']} (pid {state['pid']}); "
                                  f"stop it with `make down` to start one on port {wanted}")
            return LocalCloud(state_dir, int(state["port"]), int(state["pid"]), state["token"])
        if _process(int(state["pid"]), state.get("create_time")) is not None:
            raise ServerError(f"the twin's server recorded in {state_dir / STATE_FILE} (pid {state['pid']}) runs but "
                              f"does not answer on port {state['port']} with the twin's marker (was it reset?); "
                              "stop it with `make down` and run again")
        print(f"note: the twin's server recorded in {state_dir / STATE_FILE} (pid {state['pid']}, port {state['port']}) "
              "is no longer running; what it held (lake, keys, streams) went with it. Starting a new one.", file=sys.stderr)
        (state_dir / STATE_FILE).unlink()
        if port is None:
            port = port_from_env() or int(state["port"])  # where the stale one was, unless told otherwise
    return _start(state_dir, port if port is not None else port_from_env() or DEFAULT_PORT)


def running(state_dir: str | Path) -> LocalCloud:
    """This checkout's server if it runs (recorded, alive and ours); never starts one: commands that
    read what earlier ones left (the subject-rights commands) have nothing to read without it."""
    state_dir = Path(state_dir).absolute()
    state = _read_state(state_dir)
    if not state or not _ours(state):
        raise ServerError(f"no local cloud is running (none recorded in {state_dir / STATE_FILE} answers): "
                          "run `make run` first")
    return LocalCloud(state_dir, int(state["port"]), int(state["pid"]), state["token"])


def _start(state_dir: Path, port: int) -> LocalCloud:
    if port_open(port):
        raise ServerError(f"{_describe_holder(port, state_dir)}; or choose a free port: TWIN_PORT=<port> make run")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    log_fd = os.open(state_dir / LOG_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(log_fd, "ab") as log:
        proc = subprocess.Popen(
            # moto's server, with its transactions made fast (twin.moto_server says why)
            [sys.executable, "-m", "twin.moto_server", "-H", HOST, "-p", str(port)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=state_dir,
            start_new_session=True,  # not in the caller's process group: Ctrl-C on a command leaves it running
        )
    _started[proc.pid] = proc
    deadline = time.monotonic() + START_TIMEOUT_S
    p = psutil.Process(proc.pid)
    while not (_listens(p, port) and _is_moto(port)):
        if proc.poll() is not None:
            _started.pop(proc.pid, None)
            raise ServerError(f"the moto server did not start on port {port} (exit status {proc.returncode}; "
                              f"see {state_dir / LOG_FILE})")
        if time.monotonic() > deadline:
            _terminate(proc.pid)
            raise ServerError(f"the moto server did not answer on port {port} within {START_TIMEOUT_S:.0f} s "
                              f"(see {state_dir / LOG_FILE})")
        time.sleep(0.1)
    cloud = LocalCloud(state_dir, port, proc.pid, uuid.uuid4().hex, started_now=True)
    marker = {"token": cloud.token, "state_dir": str(state_dir), "checkout": str(CHECKOUT), "pid": proc.pid}
    try:
        cloud.client("secretsmanager").create_secret(Name=MARKER, SecretString=json.dumps(marker))
    except Exception:
        _terminate(proc.pid)
        raise
    _write_state(state_dir, {
        "written_by": WRITTEN_BY, "endpoint": cloud.endpoint, "port": port, "pid": proc.pid,
        "create_time": p.create_time(), "token": cloud.token, "log": LOG_FILE,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "delivered": {},
    })
    return cloud


def _terminate(pid: int) -> None:
    """SIGTERM, then SIGKILL after STOP_TIMEOUT_S; returns once the process is gone (reaped if it
    is our child)."""
    proc = _started.pop(pid, None)
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + STOP_TIMEOUT_S
    killed = False
    while True:
        if proc is not None:
            if proc.poll() is not None:
                return
        elif _process(pid, None) is None:
            return
        if time.monotonic() > deadline:
            if killed:
                raise ServerError(f"the twin's server (pid {pid}) did not stop")
            os.kill(pid, signal.SIGKILL)
            killed, deadline = True, time.monotonic() + STOP_TIMEOUT_S
        time.sleep(0.05)


def stop(state_dir: str | Path, port: int | None = None) -> str:
    """Stop this checkout's server; returns what was done, in one line. Never stops a process that
    is not the recorded server (same pid, start time, port and marker)."""
    state_dir = Path(state_dir).absolute()
    state = _read_state(state_dir)
    if not state:
        port = port if port is not None else port_from_env() or DEFAULT_PORT
        marker = _marker(port) if _is_moto(port) else None
        if not marker or marker.get("state_dir") != str(state_dir):
            return f"no twin server is recorded in {state_dir / STATE_FILE}; nothing to stop"
        # ours by its marker, though the state file is gone: the pid must listen on that port
        p = _process(int(marker.get("pid", 0)), None)
        if p is None or not _listens(p, port):
            raise ServerError(f"port {port}: the server's marker names pid {marker.get('pid')}, which does not listen "
                              "there; nothing stopped")
        state = {"pid": p.pid, "port": port, "create_time": p.create_time(), "token": marker.get("token")}
    pid, port = int(state["pid"]), int(state["port"])
    if _recorded(state) is None:
        if _process(pid, state.get("create_time")) is not None:
            raise ServerError(f"the process recorded in {state_dir / STATE_FILE} (pid {pid}) runs but does not listen "
                              f"on port {port}; not stopped: end it yourself (kill {pid}), then run this again")
        (state_dir / STATE_FILE).unlink(missing_ok=True)
        return f"the twin's server (pid {pid}, port {port}) was no longer running; state file removed"
    _terminate(pid)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while port_open(port):
        if time.monotonic() > deadline:
            raise ServerError(f"port {port} is still open after the twin's server (pid {pid}) stopped")
        time.sleep(0.05)
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    return f"stopped the twin's server (pid {pid}); port {port} is closed; the local lake, keys and resources are gone"
