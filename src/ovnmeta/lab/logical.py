"""The logical topology, written to the NB the way neutron-server's ML2/OVN driver does
(names and external_ids per agent-contract.md and lab-recipe section 10)."""

import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from ovnmeta.core.errors import LabError
from ovnmeta.core.eui64 import link_local
from ovnmeta.lab import central
from ovnmeta.lab.addressing import MTU, Subnet, dhcp_options, mac_for
from ovnmeta.lab.proc import run
from ovnmeta.lab.state import InstanceRecord, NetworkRecord
from ovnmeta.lab.topology import Topology

DEFAULT_PROJECT = "5a3c9a1e0f8b4c2d9e7f6a5b4c3d2e1f"


class Northbound:
    """ovn-nbctl / ovn-sbctl against the cluster, retried while it has no leader
    (a one-shot ovn-nbctl fails with 'database connection failed' during an election)."""

    def __init__(self, lab_dir: Path, topo: Topology) -> None:
        self.nb = central.unix_remotes(lab_dir, topo, central.NB)
        self.sb = central.unix_remotes(lab_dir, topo, central.SB)

    def nbctl(self, *args: str, timeout: float = 10, retry_for: float = 20) -> str:
        return self._retry("ovn-nbctl", self.nb, args, timeout, retry_for)

    def sbctl(self, *args: str, timeout: float = 10, retry_for: float = 20) -> str:
        return self._retry("ovn-sbctl", self.sb, args, timeout, retry_for)

    @staticmethod
    def _retry(tool: str, db: str, args: Sequence[str], timeout: float, retry_for: float) -> str:
        cmd = [tool, f"--db={db}", f"--timeout={timeout:g}", *args]
        deadline = time.monotonic() + retry_for
        while True:
            try:
                return run(cmd, timeout=timeout + 5)
            except LabError as exc:
                transient = "connection failed" in str(exc) or "timed out" in str(exc)
                if not transient or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def _ids(pairs: dict[str, str]) -> list[str]:
    return [f'external_ids:"{k}"="{v}"' for k, v in pairs.items()]


def create_network(
    nb: Northbound, name: str, subnets: Sequence[Subnet], metadata: bool, project: str
) -> NetworkRecord:
    return create_networks(nb, [(name, subnets)], metadata, project)[0]


def create_networks(
    nb: Northbound,
    networks: Sequence[tuple[str, Sequence[Subnet]]],
    metadata: bool,
    project: str,
) -> list[NetworkRecord]:
    """Networks (name, subnets) created in one NB transaction: northd and every
    ovn-controller see them as one change (the bench provisions hundreds this way)."""
    planned = [_network_command(name, subnets, metadata, project) for name, subnets in networks]
    args = [arg for _, cmd, _ in planned for arg in cmd]
    created = iter(nb.nbctl(*args, timeout=10 + len(planned)).split())
    for net, _, v4 in planned:
        net.dhcp_options = {s.cidr: next(created) for s in v4}
    return [net for net, _, _ in planned]


def _network_command(
    name: str, subnets: Sequence[Subnet], metadata: bool, project: str
) -> tuple[NetworkRecord, list[str], list[Subnet]]:
    """The record, the ovn-nbctl commands that create it and its IPv4 subnets (one
    DHCP_Options uuid each in ovn-nbctl's output, in this order)."""
    net = NetworkRecord(
        name=name,
        id=str(uuid.uuid4()),
        project=project,
        cidrs=[s.cidr for s in subnets],
        metadata=metadata,
    )
    cmd = [
        "--",
        "ls-add",
        net.switch,
        "--",
        "set",
        "Logical_Switch",
        net.switch,
        *_ids(
            {"neutron:network_name": name, "neutron:mtu": str(MTU), "neutron:revision_number": "1"}
        ),
    ]
    v4 = [s for s in subnets if s.version == 4]
    for subnet in v4:
        options = " ".join(f'"{k}"="{v}"' for k, v in dhcp_options(subnet, metadata).items())
        cmd += [
            "--",
            "create",
            "DHCP_Options",
            f"cidr={subnet.cidr}",
            f"options={{{options}}}",
            *_ids({"subnet_id": str(uuid.uuid4()), "neutron:revision_number": "1"}),
        ]
    if metadata:
        port = str(uuid.uuid4())
        mac = mac_for(port)
        ips = " ".join(s.metadata_ip for s in subnets)
        cidrs = " ".join(f"{s.metadata_ip}/{s.prefixlen}" for s in subnets)
        cmd += [
            "--",
            "lsp-add",
            net.switch,
            port,
            "--",
            "lsp-set-type",
            port,
            "localport",
            "--",
            "lsp-set-addresses",
            port,
            f"{mac} {ips}",
            "--",
            "set",
            "Logical_Switch_Port",
            port,
            *_ids(
                {
                    "neutron:device_owner": "network:distributed",
                    "neutron:device_id": f"ovnmeta-{net.id}",
                    "neutron:cidrs": cidrs,
                    "neutron:project_id": project,
                    "neutron:network_name": net.switch,
                    "neutron:mtu": str(MTU),
                }
            ),
        ]
        net.metadata_port, net.metadata_mac = port, mac
    return net, cmd, v4


def delete_network(nb: Northbound, net: NetworkRecord) -> None:
    cmd = ["--if-exists", "ls-del", net.switch]
    for dhcp in net.dhcp_options.values():
        cmd += ["--", "--if-exists", "destroy", "DHCP_Options", dhcp]
    nb.nbctl(*cmd)


def add_instance_port(
    nb: Northbound, net: NetworkRecord, vm: InstanceRecord, chassis: str | None = None
) -> None:
    """`chassis`: the compute's chassis name, set as `requested-chassis` the way neutron
    does once the port's binding host is known (before nova plugs the VIF)."""
    nb.nbctl(*_instance_port_command(net, vm, chassis))


def add_instance_ports(
    nb: Northbound,
    ports: Sequence[tuple[NetworkRecord, InstanceRecord]],
    chassis: str | None = None,
) -> None:
    """Instance ports (network, port) added in one NB transaction."""
    args = [arg for net, vm in ports for arg in _instance_port_command(net, vm, chassis)]
    nb.nbctl(*args, timeout=10 + len(ports))


def _instance_port_command(
    net: NetworkRecord, vm: InstanceRecord, chassis: str | None = None
) -> list[str]:
    addresses = f"{vm.mac} {' '.join(vm.addresses)}"
    v4 = [s for s in net.cidrs if ":" not in s]
    port_security = addresses
    if len(v4) < len(net.cidrs):
        # OVN 23.03 derives the link-local entry of port security with `ip.ttl == 225`
        # instead of 255, so a guest's neighbour advertisement for its own fe80:: address is
        # dropped and the metadata namespace can never resolve it once its cache expires.
        # Listing the LLA explicitly goes through the correct rule (an allowed address pair).
        port_security += f" {link_local(vm.mac)}"
    cidrs = " ".join(f"{a}/{c.split('/')[1]}" for a, c in zip(vm.addresses, net.cidrs, strict=True))
    cmd = [
        "--",
        "lsp-add",
        net.switch,
        vm.port,
        "--",
        "lsp-set-addresses",
        vm.port,
        addresses,
        "--",
        "lsp-set-port-security",
        vm.port,
        port_security,
        "--",
        "set",
        "Logical_Switch_Port",
        vm.port,
        *_ids(
            {
                "neutron:device_id": vm.id,
                "neutron:device_owner": "compute:nova",
                "neutron:project_id": vm.project,
                "neutron:network_name": net.switch,
                "neutron:cidrs": cidrs,
                "neutron:port_name": "",
            }
        ),
    ]
    if chassis:
        cmd += ["--", "set", "Logical_Switch_Port", vm.port, f"options:requested-chassis={chassis}"]
    if v4:
        cmd += ["--", "lsp-set-dhcpv4-options", vm.port, net.dhcp_options[v4[0]]]
    return cmd


def delete_port(nb: Northbound, port: str) -> None:
    nb.nbctl("--if-exists", "lsp-del", port)


def wait_port_up(nb: Northbound, port: str, timeout: float = 30) -> None:
    nb.sbctl("wait-until", "Port_Binding", port, "up=true", timeout=timeout, retry_for=timeout)


def wait_all_chassis(nb: Northbound, timeout: float = 30) -> None:
    """Barrier: every chassis has installed the flows of the current NB (so a new port is
    reachable from other computes, not only bound on its own)."""
    nb.nbctl("--wait=hv", "sync", timeout=timeout, retry_for=timeout)
