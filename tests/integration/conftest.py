"""The local cloud of the integration tests: a moto server of their own, on a free port, started
once per test session (per xdist worker) and stopped at its end. No test uses a server left running
(the default port is never touched), and the teardown checks that none is left behind.

Tests share the server, not resources: each takes a configuration with its own name prefix, hence
its own stream, keys, keyring, delivery stream and lake."""

from __future__ import annotations

import itertools
import json
import socket
import uuid

import psutil
import pytest

from stacks.config import load_from_cdk_json
from twin import server
from twin.pipeline import ROOT

_prefixes = itertools.count()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gone(pid: int) -> bool:
    """The process has ended (a zombie waiting for its parent to reap it has ended too)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def fresh_config(**override):
    """cdk.json's configuration, with a name prefix no other test uses (and ``override`` merged)."""
    prefix = f"t{next(_prefixes)}-{uuid.uuid4().hex[:10]}"
    return load_from_cdk_json(ROOT / "cdk.json", json.dumps({"name_prefix": prefix, **override}))


@pytest.fixture(scope="session")
def local_cloud(tmp_path_factory):
    state = tmp_path_factory.mktemp("twin-state")
    cloud = server.ensure_running(state, free_port())
    assert cloud.started_now
    yield cloud
    server.stop(state)
    assert not server.port_open(cloud.port), "the local cloud's port is still open"
    assert gone(cloud.pid), "the local cloud's server is still running"
    assert not (state / server.STATE_FILE).exists()
