"""Instances: a namespace with a veth into its compute's br-int, addressed by OVN's DHCP.

The instance side gets only its MAC and MTU from us; its IPv4 address and routes come from
OVN native DHCP through busybox udhcpc, as a cloud image's DHCP client would get them.
"""

import hashlib
import ipaddress
from collections.abc import Sequence
from pathlib import Path

from ovnmeta.lab import compute, netns
from ovnmeta.lab.addressing import MTU
from ovnmeta.lab.proc import run, stop
from ovnmeta.lab.state import InstanceRecord
from ovnmeta.lab.topology import Compute

# udhcpc hook: applies the lease and writes what it got, for `lab status` and the tests.
UDHCPC_SCRIPT = """#!/bin/sh
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    [ -z "$mtu" ] || ip link set "$interface" mtu "$mtu"
    if [ -n "$staticroutes" ]; then
      set -- $staticroutes
      while [ $# -ge 2 ]; do
        ip route replace "$1" via "$2" dev "$interface" proto dhcp; shift 2
      done
    elif [ -n "$router" ]; then
      set -- $router; ip route replace default via "$1" dev "$interface" proto dhcp
    fi
    printf 'ip=%s\\nmask=%s\\nmtu=%s\\nstaticroutes=%s\\nrouter=%s\\nserverid=%s\\n' \\
      "$ip" "$mask" "$mtu" "$staticroutes" "$router" "$serverid" > "$LEASE_FILE" ;;
esac
"""


def vif_name(vm: str) -> str:
    """The compute-side veth end: unique per instance name, within IFNAMSIZ."""
    return "vif-" + hashlib.sha256(vm.encode()).hexdigest()[:10]


def write_dhcp_script(lab_dir: Path) -> Path:
    path = lab_dir / "udhcpc.sh"
    path.write_text(UDHCPC_SCRIPT)
    path.chmod(0o755)
    return path


def plug(lab_dir: Path, cmp: Compute, vm: InstanceRecord, ipv6: bool) -> None:
    attach(cmp, vm, ipv6)
    bind(lab_dir, cmp, vm.vif, vm.port)


def attach(cmp: Compute, vm: InstanceRecord, ipv6: bool) -> None:
    """The instance namespace and its veth, up, but not yet on br-int (no binding)."""
    netns.add(vm.netns, ipv6=ipv6)
    netns.veth(cmp.netns, vm.vif, vm.netns)
    netns.shell(
        vm.netns,
        f"ip link set eth0 address {vm.mac} mtu {MTU}; {netns.tx_off('eth0')}; ip link set eth0 up",
    )
    netns.shell(cmp.netns, f"ip link set {vm.vif} up")


def bind(lab_dir: Path, cmp: Compute, device: str, port: str, *ovs_args: str) -> None:
    """Plug a device into br-int as the logical port `port`: ovn-controller binds it."""
    bind_many(lab_dir, cmp, [(device, port)], *ovs_args)


def bind_many(
    lab_dir: Path,
    cmp: Compute,
    ports: Sequence[tuple[str, str]],
    *ovs_args: str,
    timeout: float = 30,
) -> None:
    """Plug devices into br-int as logical ports (device, port) in one OVS transaction:
    ovs-vswitchd reconfigures once for all of them."""
    args: list[str] = []
    for device, port in ports:
        args += ["--", "add-port", "br-int", device]
        args += ["--", "set", "Interface", device, f"external_ids:iface-id={port}", *ovs_args]
    compute.vsctl(lab_dir, cmp, *args[1:], timeout=timeout)


def configure_static_ipv6(vm: InstanceRecord, cidrs: list[str]) -> None:
    """The lab has no router to send RAs, so IPv6 fixed IPs are configured as a config
    drive would; IPv4 always comes from DHCP."""
    script = []
    for addr, cidr in zip(vm.addresses, cidrs, strict=True):
        if ipaddress.ip_address(addr).version == 6:
            script.append(f"ip addr add {addr}/{cidr.split('/')[1]} dev eth0 nodad")
    if script:
        netns.shell(vm.netns, "; ".join(script))


def run_dhcp(lab_dir: Path, vm: InstanceRecord, timeout: int = 20) -> dict[str, str]:
    lease = lab_dir / f"lease-{vm.name}"
    lease.unlink(missing_ok=True)
    run(
        [
            "busybox",
            "udhcpc",
            "-i",
            "eth0",
            "-f",
            "-q",
            "-n",
            "-t",
            str(timeout),
            "-T",
            "1",
            "-A",
            "1",
            "-s",
            str(lab_dir / "udhcpc.sh"),
        ],
        netns=vm.netns,
        env={"LEASE_FILE": str(lease)},
        timeout=timeout + 10,
    )
    return dict(line.split("=", 1) for line in lease.read_text().splitlines() if "=" in line)


def unplug(lab_dir: Path, cmp: Compute, vm: InstanceRecord) -> None:
    compute.vsctl(lab_dir, cmp, "--if-exists", "del-port", "br-int", vm.vif)
    stop(netns.pids(vm.netns))
    netns.delete(vm.netns)
