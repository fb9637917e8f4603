"""The edge's haproxies on their own (dataplane/haproxy.py, edge_shards.py): real haproxy,
namespaces in this pytest process's private /run/netns (harness.isolate), no agent."""

import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from ovnmeta.agent import config
from ovnmeta.agent.dataplane import edge_shards, haproxy, netns
from ovnmeta.agent.dataplane.haproxy_conf import Frontend
from ovnmeta.core import procfs
from ovnmeta.core.errors import EdgeError
from ovnmeta.core.model import METADATA_IPV4, METADATA_PORT
from tests.integration.agent import harness

pytestmark = pytest.mark.lab


@pytest.fixture
def edge():
    harness.isolate()
    conf = config.new_conf()
    conf(args=[], default_config_files=[], default_config_dirs=[])
    conf.set_override("state_path", tempfile.mkdtemp(prefix="ovnmeta-edge-test-"))
    shards = edge_shards.ShardedEdge(config.from_conf(conf).edge)
    try:
        yield shards
    finally:
        for shard in (shards.main, shards.young):
            if shard.pid:
                subprocess.run(["kill", str(shard.pid)], check=False)
        for name in netns.list_names("ovnmeta-"):
            netns.remove(name)


def frontend(i: int) -> Frontend:
    name = f"ovnmeta-edge{i}"
    if not netns.exists(name):
        netns.create(name)
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        subprocess.run(
            ["ip", "-n", name, "addr", "add", f"{METADATA_IPV4}/32", "dev", "lo"], check=True
        )
    return Frontend(f"net{i}", name, "lo", False)


def connect_error(fe: Frontend) -> str | None:
    def attempt() -> str | None:
        try:
            socket.create_connection((METADATA_IPV4, METADATA_PORT), 5).close()
            return None
        except OSError as exc:
            return repr(exc)

    return netns.in_namespace(fe.namespace, attempt)


def connects(fe: Frontend) -> bool:
    return connect_error(fe) is None


def test_refused_config_keeps_the_old_one_serving(edge):
    one = frontend(1)
    edge.apply([one])
    assert connects(one)
    ghost = Frontend("net9", "ovnmeta-missing", "lo", False)  # no such namespace
    with pytest.raises(EdgeError, match="refused"):
        edge.apply([one, ghost])
    assert connects(one)
    assert "ovnmeta-missing" not in Path(edge.young.config_path).read_text()
    two = frontend(2)
    edge.apply([one, two])  # and the next good config is taken
    assert connects(one) and connects(two)


def test_merge_moves_networks_to_main_while_connections_keep_succeeding(edge):
    fes = [frontend(i) for i in range(3)]
    edge.apply(fes)
    assert set(edge.young.frontends) == {fe.network for fe in fes} and not edge.main.frontends
    failures: list[str] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            if (error := connect_error(fes[0])) is not None:
                failures.append(error)

    poller = threading.Thread(target=hammer)
    poller.start()
    try:
        assert edge.merge()
    finally:
        stop.set()
        poller.join()
    assert set(edge.main.frontends) == {fe.network for fe in fes} and not edge.young.frontends
    assert failures == []
    assert all(connects(fe) for fe in fes)
    assert not edge.merge()  # nothing left to move


def wait_alone(shard: haproxy.Edge) -> None:
    """Until the shard runs one process: the one a reload replaced has left."""
    deadline = time.monotonic() + 10
    while shard.processes() != [shard.pid]:
        assert time.monotonic() < deadline, (shard.processes(), shard.pid)
        time.sleep(0.05)


def test_a_reload_is_one_new_process_that_takes_the_listeners_over(edge):
    one, two = frontend(1), frontend(2)
    edge.apply([one])
    first = edge.young.pid
    wait_alone(edge.young)
    edge.apply([one, two])
    assert edge.young.pid != first and procfs.read_pid(edge.young.pid_path) == edge.young.pid
    assert connects(one) and connects(two)
    wait_alone(edge.young)  # no master, no worker left behind


def test_a_reload_done_the_same_way_by_someone_else_is_followed(edge):
    one = frontend(1)
    edge.apply([one])
    shard = edge.young
    old = shard.pid
    argv = ["haproxy", "-D", "-f", shard.config_path, "-p", shard.pid_path]
    subprocess.run([*argv, "-x", shard.stats_socket, "-sf", str(old)], check=True)
    wait_alone(shard)
    assert shard.pid not in (None, old)  # not taken for a dead edge (no second process)
    assert connects(one)
