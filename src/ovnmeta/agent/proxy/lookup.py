"""Find the instance behind a guest address (agent-contract.md section 10).

Reads ports through `PortIndex`, which `sb.index.Index` satisfies; the proxy never imports sb.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ovnmeta.agent.proxy.request import Guest
from ovnmeta.core import eui64
from ovnmeta.core.model import InstanceId, NetworkId, Vif


class PortIndex(Protocol):
    def ports_by_ip(self, network: NetworkId, ip: str) -> Sequence[Vif]: ...

    def ports_by_mac(self, network: NetworkId, mac: str) -> Sequence[Vif]: ...


@dataclass(frozen=True, slots=True)
class Found:
    instance_id: InstanceId
    tenant_id: str
    port: str


@dataclass(frozen=True, slots=True)
class NotFound:
    reason: str


@dataclass(frozen=True, slots=True)
class Ambiguous:
    ports: tuple[str, ...]


Outcome = Found | NotFound | Ambiguous


def find(index: PortIndex, guest: Guest) -> Outcome:
    address = guest.address
    if isinstance(address, ipaddress.IPv6Address) and address.is_link_local:
        mac = eui64.mac_of(address)
        if mac is None:
            return NotFound(f"{address} is link-local but not EUI-64")
        ports = index.ports_by_mac(guest.network, mac)
    else:
        ports = index.ports_by_ip(guest.network, guest.ip)
    if not ports:
        return NotFound(f"no port with {address} on network {guest.network}")
    if len(ports) > 1:
        return Ambiguous(tuple(p.uuid for p in ports))
    port = ports[0]
    if not port.device_id:
        return NotFound(f"port {port.uuid} has no neutron:device_id")
    return Found(InstanceId(port.device_id), port.project_id, port.uuid)
