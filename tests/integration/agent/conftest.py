import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.integration.agent import harness

BINARIES = (
    "ovsdb-server",
    "ovs-vswitchd",
    "ovsdb-tool",
    "ovs-vsctl",
    "ovn-sbctl",
    "haproxy",
    "ip",
    "curl",
    "ethtool",
)


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    missing = [b for b in BINARIES if shutil.which(b) is None]
    if missing:
        return f"missing binaries: {', '.join(missing)}"
    return None


@pytest.fixture
def node():
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    harness.isolate()
    root = Path(tempfile.mkdtemp(prefix="ovnmeta-agent-lab-"))
    chassis = f"ovnmeta-test-{uuid.uuid4().hex[:8]}"
    daemons = harness.Daemons(root, chassis)
    nova = harness.FakeNova()
    agent = None

    def cleanup():
        if agent is not None:
            agent.stop()
        harness.kill_pidfile(root / "state" / "ovnmeta" / "edge" / "haproxy.pid", str(root))
        harness.kill_pidfile(root / "state" / "ovnmeta" / "listener.pid", str(root))
        nova.stop()
        daemons.stop()
        for name in os.listdir("/run/netns"):
            subprocess.run(["ip", "netns", "delete", name], capture_output=True)
        for link in ("tap-vm1", "tap-vm2"):
            subprocess.run(["ip", "link", "delete", link], capture_output=True)
        if os.environ.get("OVNMETA_KEEP_LAB"):
            print(f"lab kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    harness.cleanups[id(cleanup)] = cleanup
    try:
        daemons.start()
        nova.start()
        ini = harness.write_ini(root, daemons, nova.port)
        agent = harness.AgentProcess(root, ini)
        yield Node(root, chassis, daemons, harness.Sb(daemons), nova, agent)
    finally:
        cleanup()
        harness.cleanups.pop(id(cleanup), None)  # only now: a SIGTERM mid-way re-runs it


class Node:
    def __init__(self, root, chassis, daemons, sb, nova, agent):
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
