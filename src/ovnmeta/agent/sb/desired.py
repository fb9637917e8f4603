"""Index -> NetworkSpec: which networks get a namespace and what it holds (agent-contract.md
sections 4 and 5). Pure: host facts (is IPv6 enabled) come in as arguments."""

from __future__ import annotations

import ipaddress

from ovnmeta.agent.sb.index import Index
from ovnmeta.core import eui64, names
from ovnmeta.core.model import METADATA_IPV4, METADATA_IPV6, NetworkId, NetworkSpec


def spec_for(
    index: Index, network: NetworkId, namer: names.VethNamer, host_ipv6: bool
) -> NetworkSpec | None:
    """The spec for one network, or None when it must be torn down."""
    meta = index.metadata_port(network)
    vifs = [v for v in index.local_vifs(network) if v.has_addresses]
    if meta is None or meta.mac is None or not vifs:
        namer.release(network)
        return None
    ips = [ipaddress.ip_address(ip) for v in vifs for ip in v.ips]
    addresses = {f"{METADATA_IPV4}/32"}
    cidrs = _parse_cidrs(meta.cidrs)
    for ip in ips:
        if ip.version == 4:
            for text, iface in cidrs:
                if ip in iface.network:
                    addresses.add(text)
                    break
    ipv6 = host_ipv6 and any(ip.version == 6 for ip in ips)
    if ipv6:
        addresses.add(f"{METADATA_IPV6}/128")
        addresses.add(f"{eui64.link_local(meta.mac)}/64")
    outer, inner = namer.pair(network)
    return NetworkSpec(
        network=network,
        namespace=names.namespace(network),
        veth_outer=outer,
        veth_inner=inner,
        iface_id=meta.logical_port,
        mac=meta.mac,
        mtu=meta.mtu,
        addresses=frozenset(addresses),
        ipv6=ipv6,
    )


def _parse_cidrs(cidrs: tuple[str, ...]) -> list[tuple[str, ipaddress.IPv4Interface]]:
    """IPv4 entries of `neutron:cidrs`, in order, written canonically; global IPv6 is never
    configured, and a malformed entry is skipped rather than failing the network."""
    parsed = []
    for text in cidrs:
        try:
            iface = ipaddress.ip_interface(text)
        except ValueError:
            continue
        if isinstance(iface, ipaddress.IPv4Interface):
            parsed.append((iface.with_prefixlen, iface))
    return parsed
