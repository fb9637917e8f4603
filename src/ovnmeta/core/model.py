"""The agent's vocabulary: ids and frozen records shared by sb, reconcile, dataplane and proxy.

Nothing here knows about OVSDB rows or netlink; `sb/rows.py` builds these from rows and
`dataplane/` turns specs into host objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NewType

NetworkId = NewType("NetworkId", str)  # the Neutron network UUID
DatapathId = NewType("DatapathId", str)  # SB Datapath_Binding _uuid
ChassisId = NewType("ChassisId", str)  # SB Chassis _uuid
InstanceId = NewType("InstanceId", str)

METADATA_IPV4 = "169.254.169.254"
METADATA_IPV6 = "fe80::a9fe:a9fe"
METADATA_PORT = 80
# Session tokens (agent.proxy.tokens): the path the edge and the agent both know, and the
# packet mark the edge sets on a token's answer for the namespace's hop-limit rule.
TOKEN_PATH = "/latest/api/token"
HOP_LIMIT_MARK = 0x0A9FEA9F


@dataclass(frozen=True, slots=True)
class Vif:
    """A Port_Binding of type "" or "external": a guest port that can ask for metadata."""

    uuid: str
    logical_port: str
    datapath: DatapathId | None
    mac: str | None  # None: no addresses, "unknown", or an invalid first token
    ips: tuple[str, ...]  # canonical text (ipaddress), from the first `mac` entry
    chassis: tuple[ChassisId, ...]
    additional_chassis: frozenset[ChassisId]
    device_id: str
    project_id: str
    # The chassis neutron asked for (`requested-chassis`, set once the binding host is known,
    # before the VIF is plugged); None if unset or the SB has no such column.
    requested_chassis: ChassisId | None = None

    def is_local(self, own: ChassisId | None) -> bool:
        return own is not None and (own in self.chassis or own in self.additional_chassis)

    @property
    def has_addresses(self) -> bool:
        return self.mac is not None and bool(self.ips)


@dataclass(frozen=True, slots=True)
class MetadataPort:
    """The per-network `localport` with device_owner network:distributed."""

    uuid: str
    logical_port: str
    datapath: DatapathId | None
    mac: str | None
    cidrs: tuple[str, ...]  # `neutron:cidrs` entries, as written ("10.0.0.2/24")
    mtu: int  # 0: not set


@dataclass(frozen=True, slots=True)
class Datapath:
    uuid: DatapathId
    network: NetworkId | None  # None: not a Neutron network (no `neutron-` name)


@dataclass(frozen=True, slots=True)
class Identity:
    """This chassis as the local OVSDB names it: `external_ids:system-id` and `ovn-bridge`."""

    system_id: str
    bridge: str  # the integration bridge, br-int unless ovn-bridge says otherwise


@dataclass(frozen=True, slots=True)
class NetworkSpec:
    """Everything the host must hold for one provisioned network (agent-contract.md section 5)."""

    network: NetworkId
    namespace: str
    veth_outer: str  # root end, plugged into the integration bridge
    veth_inner: str  # namespace end, carries the metadata MAC and addresses
    iface_id: str  # the metadata port's logical_port
    mac: str
    mtu: int  # 0: leave the MTU alone
    addresses: frozenset[str]  # CIDRs on the namespace end
    ipv6: bool  # also serve [fe80::a9fe:a9fe]:80
