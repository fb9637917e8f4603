"""Pure address planning for lab networks, the way Neutron lays out a subnet.

The gateway is the first host (reserved even though the lab has no router, as Neutron
reserves it), the metadata port takes the second, instances are allocated from the tenth
host upward. MACs use Neutron's fa:16:3e OUI and are derived from a seed so that a port
keeps its MAC for its whole life.
"""

import hashlib
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ovnmeta.core.errors import UsageError

FIRST_INSTANCE_HOST = 10
MTU = 1442  # 1500 minus the 58-byte Geneve header OVN uses (lab-recipe 11.4, item 6)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Subnet:
    cidr: str
    gateway: str
    metadata_ip: str

    @property
    def version(self) -> int:
        return ipaddress.ip_network(self.cidr).version

    @property
    def prefixlen(self) -> int:
        return ipaddress.ip_network(self.cidr).prefixlen


def _parse(cidr: str) -> IPNetwork:
    try:
        net = ipaddress.ip_network(cidr, strict=True)
    except ValueError as exc:
        raise UsageError(f"invalid CIDR {cidr!r}: {exc}") from None
    smallest = 28 if net.version == 4 else 120
    if net.prefixlen > smallest:
        raise UsageError(f"CIDR {cidr} is too small: use /{smallest} or larger")
    return net


def plan_subnets(cidrs: Sequence[str]) -> tuple[Subnet, ...]:
    """Validate the CIDRs of one network and lay out each subnet."""
    if not cidrs:
        raise UsageError("a network needs at least one --cidr")
    nets = [_parse(c) for c in cidrs]
    if not any(n.version == 4 for n in nets):
        raise UsageError("a network needs an IPv4 --cidr (instances get their address by DHCPv4)")
    for i, a in enumerate(nets):
        for b in nets[i + 1 :]:
            if a.version == b.version and a.overlaps(b):
                raise UsageError(f"CIDR {b} overlaps {a} in the same network")
    return tuple(
        Subnet(
            cidr=str(n), gateway=str(n.network_address + 1), metadata_ip=str(n.network_address + 2)
        )
        for n in nets
    )


def allocate(subnet: Subnet, used: Iterable[str]) -> str:
    """The lowest free instance address of `subnet`."""
    net = ipaddress.ip_network(subnet.cidr)
    taken = {ipaddress.ip_address(a) for a in used}
    last = net.broadcast_address if net.version == 4 else net.network_address + 0xFFFF
    candidate = net.network_address + FIRST_INSTANCE_HOST
    while candidate < last:
        if candidate not in taken:
            return str(candidate)
        candidate += 1
    raise UsageError(f"subnet {subnet.cidr} has no free address left")


def mac_for(seed: str) -> str:
    digest = hashlib.sha256(seed.encode()).digest()
    return "fa:16:3e:" + ":".join(f"{b:02x}" for b in digest[:3])


def dhcp_options(subnet: Subnet, metadata: bool) -> dict[str, str]:
    """OVN DHCP_Options.options for an IPv4 subnet, as Neutron's ML2/OVN driver writes them.

    With metadata enabled (ML2 `ovn_metadata_enabled`), option 121 also routes
    169.254.169.254/32 via the subnet's metadata port.
    """
    routes = f"0.0.0.0/0,{subnet.gateway}"
    if metadata:
        routes = f"169.254.169.254/32,{subnet.metadata_ip}, {routes}"
    routes = "{" + routes + "}"
    return {
        "lease_time": "43200",
        "mtu": str(MTU),
        "router": subnet.gateway,
        "server_id": subnet.gateway,
        "server_mac": mac_for(f"dhcp-server-{subnet.cidr}"),
        "classless_static_route": routes,
    }
