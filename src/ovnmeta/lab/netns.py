"""Network namespaces and veths for lab nodes and instances (iproute2 and ethtool)."""

import os

from ovnmeta.lab.proc import run

NETNS_DIR = "/run/netns"


def existing() -> set[str]:
    try:
        return set(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return set()


def add(name: str, *, ipv6: bool) -> None:
    """A namespace with lo up; IPv6 off unless asked (keeps node underlays quiet)."""
    run(["ip", "netns", "add", name])
    script = "ip link set lo up"
    if not ipv6:
        script += (
            "; sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1"
        )
    shell(name, script)


def delete(name: str) -> None:
    run(["ip", "netns", "delete", name], check=False)


def pids(name: str) -> list[int]:
    return [int(p) for p in run(["ip", "netns", "pids", name], check=False).split()]


def shell(name: str, script: str) -> str:
    """Run a short shell script inside a namespace: one process spawn for several steps."""
    return run(["sh", "-ec", script], netns=name)


def tx_off(dev: str) -> str:
    """Shell snippet: TX checksum offload off, without which OVS's userspace datapath
    forwards TCP with unfilled checksums (lab-recipe section 5)."""
    return f"ethtool -K {dev} tx off tso off >/dev/null"


def veth(outer_ns: str, outer: str, inner_ns: str, inner: str = "eth0") -> None:
    run(
        [
            "ip",
            "-n",
            outer_ns,
            "link",
            "add",
            outer,
            "type",
            "veth",
            "peer",
            "name",
            inner,
            "netns",
            inner_ns,
        ]
    )
