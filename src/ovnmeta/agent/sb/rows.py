"""SB rows -> model. The only module that knows OVN column names and external_ids keys.

`sb/events.py` copies the columns it needs out of the live IDL row into the plain records below
(references as UUID strings), so nothing here touches ovsdbapp and tests build rows by hand.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ovnmeta.core import names
from ovnmeta.core.model import ChassisId, Datapath, DatapathId, MetadataPort, Vif

VIF_TYPES = frozenset({"", "external"})
LOCALPORT = "localport"
METADATA_OWNER = "network:distributed"

_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")


@dataclass(frozen=True, slots=True)
class PortBindingRow:
    uuid: str
    logical_port: str
    type: str = ""
    datapath: str | None = None
    mac: tuple[str, ...] = ()
    chassis: tuple[str, ...] = ()
    additional_chassis: tuple[str, ...] = ()
    external_ids: Mapping[str, str] = field(default_factory=dict)
    requested_chassis: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DatapathBindingRow:
    uuid: str
    external_ids: Mapping[str, str] = field(default_factory=dict)


def parse_mac_column(entries: tuple[str, ...]) -> tuple[str | None, tuple[str, ...]]:
    """First entry only (agent-contract.md section 3.4): (MAC or None, canonical IPs)."""
    if not entries:
        return None, ()
    tokens = entries[0].split()
    if not tokens or not _MAC.match(tokens[0]):
        return None, ()
    ips = []
    for token in tokens[1:]:
        try:
            ips.append(str(ipaddress.ip_address(token)))
        except ValueError:
            continue  # not an address ("unknown", garbage): never matched
    return tokens[0].lower(), tuple(ips)


def parse_mtu(value: str | None) -> int:
    try:
        mtu = int(value or 0)
    except ValueError:
        return 0
    return mtu if mtu > 0 else 0


def to_port(row: PortBindingRow) -> Vif | MetadataPort | None:
    """A VIF, the network's metadata port, or None for every other Port_Binding type."""
    ext = row.external_ids
    datapath = DatapathId(row.datapath) if row.datapath else None
    mac, ips = parse_mac_column(row.mac)
    if row.type == LOCALPORT:
        if ext.get("neutron:device_owner") != METADATA_OWNER:
            return None
        return MetadataPort(
            uuid=row.uuid,
            logical_port=row.logical_port,
            datapath=datapath,
            mac=mac,
            cidrs=tuple(ext.get("neutron:cidrs", "").split()),
            mtu=parse_mtu(ext.get("neutron:mtu")),
        )
    if row.type not in VIF_TYPES:
        return None
    return Vif(
        uuid=row.uuid,
        logical_port=row.logical_port,
        datapath=datapath,
        mac=mac,
        ips=ips,
        chassis=tuple(ChassisId(c) for c in row.chassis[:1]),
        additional_chassis=frozenset(ChassisId(c) for c in row.additional_chassis),
        device_id=ext.get("neutron:device_id", ""),
        project_id=ext.get("neutron:project_id", ""),
        requested_chassis=ChassisId(row.requested_chassis[0]) if row.requested_chassis else None,
    )


def to_datapath(row: DatapathBindingRow) -> Datapath:
    return Datapath(
        uuid=DatapathId(row.uuid),
        network=names.network_of_datapath_name(row.external_ids.get("name", "")),
    )


# -- monitor conditions (OVSDB clauses; the clauses of one condition are ORed) ----------------


def port_binding_condition(
    chassis: str | None, datapaths: frozenset[DatapathId], requested: bool = False
) -> list[object]:
    """Ports bound here (or here as a migration target) and every port of a datapath served
    here, which includes its localport: OVSDB cannot AND `type == localport` with a datapath,
    and a localport must not be monitored cloud-wide (issue 14). `requested`: also the ports
    whose requested_chassis is here (an SB schema with that column), as ovn-controller
    monitors them: neutron sets it before the VIF is plugged, so a new network's datapath and
    localport are here before ovn-controller binds its first port, not a condition round
    after it.

    Every clause is `==`: ovsdb-server (and a relay) hashes a condition's `==` clauses by
    column, but one clause of another function makes it test each row against every clause,
    ~1,000 datapath clauses over the whole cloud's Port_Binding table at each start. So a
    migration target is matched by `additional_chassis == {here}`, what neutron writes (one
    target); a port with several additional chassis is seen here only through its datapath."""
    if chassis is None:
        return _datapath_clauses("datapath", datapaths) or [False]
    ref = ["uuid", chassis]
    return [
        ["chassis", "==", ref],
        ["additional_chassis", "==", ["set", [ref]]],
        *([["requested_chassis", "==", ref]] if requested else []),
        *_datapath_clauses("datapath", datapaths),
    ]


def datapath_binding_condition(datapaths: frozenset[DatapathId]) -> list[object]:
    return _datapath_clauses("_uuid", datapaths) or [False]


def _datapath_clauses(column: str, datapaths: frozenset[DatapathId]) -> list[object]:
    return [[column, "==", ["uuid", dp]] for dp in sorted(datapaths)]
