"""Parse what the listener hands us: the network header and the guest address.

The edge sets both after deleting any client copy; duplicates or garbage therefore mean a
misconfigured or bypassed listener, and get a 404/400 rather than a guess.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

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
    # str(address), made once: the slots, the forward and the log keys all want the text,
    # and ipaddress formats it anew on every str() (three times a request before).
    ip: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ip", str(self.address))


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
    address = _address(forwarded_values[0])
    if address is None:
        return reply.not_found(network)
    return Guest(network, address)


@functools.lru_cache(maxsize=4096)
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The edge's forwarded-for value -> the guest address (None: garbage). Cached: a
    guest asks from the same address again and again, and parsing was a tenth of our code's
    CPU per request; 4096 addresses bound it like the guest log's keys."""
    try:
        address = ipaddress.ip_address(text.strip().split("%", 1)[0])  # never a zone from the edge
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
