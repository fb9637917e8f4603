"""The agent's root tests run on the lab's single-node host, inside this pytest process's
own mount and network namespaces (see harness.isolate)."""

import os
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from ovnmeta.lab.host import SingleNodeHost
from ovnmeta.lab.lab import check_programs
from tests.integration.agent import harness
from tests.support import fake_http
from tests.support.fake_http import FakeHttp

# Beyond the host's own daemons: the agent's edge, and the guests' tools.
PROGRAMS = {"haproxy": "haproxy", "ip": "iproute2", "curl": "curl", "ethtool": "ethtool"}


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    node = getattr(item, "funcargs", {}).get("node")
    if report.failed and isinstance(node, Node):
        report.sections.append(("agent log", node.agent.logs()))
        report.sections.append(("single-node host logs", node.daemons.logs()))
    return report


@pytest.fixture
def node():
    check_programs(PROGRAMS)
    harness.isolate()
    root = Path(tempfile.mkdtemp(prefix="ovnmeta-agent-lab-"))
    chassis = f"ovnmeta-test-{uuid.uuid4().hex[:8]}"
    host = SingleNodeHost(root, chassis)
    nova = FakeHttp(fake_http.nova)
    agent = None

    def cleanup():
        if agent is not None:
            agent.stop()
        nova.stop()
        keep = bool(os.environ.get("OVNMETA_KEEP_LAB"))
        host.down(keep_files=keep)  # also the edge and socket holder the agent leaves running
        for name in os.listdir("/run/netns"):
            subprocess.run(["ip", "netns", "delete", name], capture_output=True)
        for link in ("tap-vm1", "tap-vm2"):
            subprocess.run(["ip", "link", "delete", link], capture_output=True)
        if keep:
            print(f"lab kept in {root}")

    harness.cleanups[id(cleanup)] = cleanup
    try:
        host.up()
        nova.start()
        ini = harness.write_ini(root, host, nova.port)
        agent = harness.AgentProcess(root, ini)
        yield Node(root, chassis, host, harness.Sb(host), nova, agent)
    finally:
        cleanup()
        harness.cleanups.pop(id(cleanup), None)  # only now: a SIGTERM mid-way re-runs it


class Node:
    """What a test drives: the host (`daemons`: vsctl, sbctl, the SB server), SB rows, the fake
    Nova and the agent process, all under `root`."""

    def __init__(self, root: Path, chassis: str, daemons: SingleNodeHost, sb, nova, agent):
        self.root = root
        self.chassis = chassis
        self.daemons = daemons
        self.sb = sb
        self.nova = nova
        self.agent = agent

    def plug_vm(self, name: str, mac: str, cidr: str, gateway_ip: str) -> str:
        """A guest: a namespace on br-int with TX checksum off, routing 169.254.169.254 via
        the metadata port IP (as DHCP option 121 would)."""
        ns = f"vmtest-{name}"
        subprocess.run(["ip", "netns", "add", ns], check=True)
        subprocess.run(
            [
                "ip",
                "link",
                "add",
                f"tap-{name}",
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                ns,
            ],
            check=True,
        )
        run_ns = ["ip", "netns", "exec", ns]
        subprocess.run(["ip", "-n", ns, "link", "set", "eth0", "address", mac], check=True)
        subprocess.run(
            [*run_ns, "ethtool", "-K", "eth0", "tx", "off"], check=True, capture_output=True
        )
        subprocess.run(["ip", "-n", ns, "addr", "add", cidr, "dev", "eth0"], check=True)
        subprocess.run(["ip", "-n", ns, "link", "set", "eth0", "up"], check=True)
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        subprocess.run(["ip", "link", "set", f"tap-{name}", "up"], check=True)
        subprocess.run(
            ["ip", "-n", ns, "route", "add", "169.254.169.254/32", "via", gateway_ip], check=True
        )
        self.daemons.vsctl("add-port", "br-int", f"tap-{name}")
        return ns

    def curl(
        self,
        ns: str,
        path: str = "/openstack/latest/meta_data.json",
        *extra: str,
        timeout: float = 5,
    ) -> tuple[str, str]:
        proc = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                ns,
                "curl",
                "-s",
                "-m",
                str(timeout),
                "-o",
                "-",
                "-w",
                "\n%{http_code}",
                *extra,
                f"http://169.254.169.254{path}",
            ],
            capture_output=True,
            text=True,
        )
        body, _, code = proc.stdout.rpartition("\n")
        return code, body
