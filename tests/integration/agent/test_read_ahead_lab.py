"""A full sync's read-ahead on real namespaces (dataplane/read_ahead.py, netns.in_each_namespace):
it sees what observe sees namespace by namespace, in this pytest process's private netns
(harness.isolate), no agent."""

import subprocess
import threading

import pytest

from ovnmeta.agent import adapters
from ovnmeta.agent.dataplane import netns, observe
from ovnmeta.agent.dataplane.read_ahead import ReadAhead
from ovnmeta.agent.reconcile.observed import NamespaceState
from tests.integration.agent import harness

pytestmark = pytest.mark.lab

NAMES = ("ovnmeta-ra1", "ovnmeta-ra2")


@pytest.fixture
def namespaces():
    harness.isolate()
    for i, name in enumerate(NAMES):
        netns.create(name)
        outer, inner = f"tapra00000{i}-20", f"tapra00000{i}-21"
        subprocess.run(
            ["ip", "link", "add", outer, "type", "veth", "peer", "name", inner, "netns", name],
            check=True,
        )
        subprocess.run(
            ["ip", "-n", name, "addr", "add", f"10.0.{i}.2/24", "dev", inner], check=True
        )
        subprocess.run(["ip", "-n", name, "link", "set", inner, "up"], check=True)
        subprocess.run(["ip", "link", "set", outer, "up"], check=True)
    try:
        yield NAMES
    finally:
        for name in NAMES:
            netns.remove(name)
        for i in range(len(NAMES)):
            subprocess.run(["ip", "link", "delete", f"tapra00000{i}-20"], capture_output=True)


def no_ports(names):
    return ()


def test_read_ahead_sees_what_observe_sees(namespaces):
    ahead = ReadAhead(adapters._read_namespaces)
    ahead.start([*namespaces, "ovnmeta-gone"])
    for name in namespaces:
        reading = ahead.take(name)
        assert reading is not None
        assert observe.observe(name, (), no_ports, reading) == observe.observe(name, (), no_ports)
        assert reading.inside[0] is NamespaceState.PRESENT
        assert len(reading.inside[1]) == 1
    gone = ahead.take("ovnmeta-gone")
    assert gone is not None and gone.inside[0] is NamespaceState.ABSENT


def test_each_namespace_is_joined_by_one_thread_that_then_ends(namespaces):
    seen: dict[str, tuple[str, int]] = {}

    def here() -> tuple[str, int]:
        with open("/proc/thread-self/net/dev") as f:
            return f.read(), threading.get_native_id()

    thread = netns.in_each_namespace(
        namespaces, here, lambda name, outcome: seen.setdefault(name, outcome)
    )
    thread.join(10)
    assert not thread.is_alive()
    assert "tapra000000-21" in seen[NAMES[0]][0] and "tapra000001-21" not in seen[NAMES[0]][0]
    assert "tapra000001-21" in seen[NAMES[1]][0]
    assert seen[NAMES[0]][1] == seen[NAMES[1]][1]  # one thread for both
