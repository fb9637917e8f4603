"""Parse what the listener hands us: the network header and the guest address.

The edge sets both after deleting any client copy; duplicates or garbage therefore mean a
misconfigured or bypassed listener, and get a 404/400 rather than a guess.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from ovnmeta.agent.proxy import reply
from ovnmeta.core.model import NetworkId

NETWORK_HEADER = "X-OVN-Network-ID"
FORWARDED_FOR = "X-Forwarded-For"
ROUTER_HEADER = "X-Neutron-Router-ID"
# Set by the edge when the guest's request carried X-Forwarded-For (which the edge replaces):
# a proxy inside the guest relayed it, and a token PUT is then refused.
GUEST_FORWARDED = "X-OVN-Guest-Forwarded"


@dataclass(frozen=True, slots=True)
class Guest:
    network: NetworkId
    address: ipaddress.IPv4Address | ipaddress.IPv6Address


def parse(
    network_values: Sequence[str],
    forwarded_values: Sequence[str],
    router_values: Sequence[str],
) -> Guest | reply.Reply:
    """Header values (all copies, in order) -> the guest, or the reply to send instead."""
    if router_values and network_values:
        return reply.bad_request("Both network and router headers are set.")
    if len(network_values) != 1 or not network_values[0].strip():
        # No network header: health probes; several: a client copy slipped through.
        return reply.not_found(", ".join(network_values))
    network = NetworkId(network_values[0].strip())
    if len(forwarded_values) != 1:
        return reply.not_found(network)
    text = forwarded_values[0].strip()
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])  # never a zone from the edge
    except ValueError:
        return reply.not_found(network)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return Guest(network, address)
