"""A synthetic cloud as Southbound rows: what thousands of other chassis and their networks
put in the SB, as OVSDB `transact` operations (issue 14, item 4).

Written straight into the SB with ovn-northd paused (bench/synthetic_cloud_bench.py,
docs/agent.md "Scale"): northd would take minutes and gigabytes for 10,000 switches on this
machine, and would delete SB datapaths that have no NB switch. The rows are shaped like those
northd, ovn-controller and a Neutron metadata agent leave behind:

- per foreign chassis: an `Encap` (geneve, an address of its own), a `Chassis` (hostname,
  other_config as ovn-controller writes it) and a `Chassis_Private` (nb_cfg, and the
  `neutron:ovn-metadata-id` a metadata agent registers);
- per network: a `Datapath_Binding` (external_ids `logical-switch`, `name` = neutron-<id>,
  `name2`) and its Neutron-style metadata localport (`network:distributed`, tunnel key 1);
- per port: a VIF `Port_Binding` of one of those networks, bound (`chassis`, `up`,
  `requested_chassis` and its option) to a foreign chassis, with the external_ids
  neutron-server sets.

Everything is derived from the indexes (uuid5 of a seed), so a run is reproducible and rows of
two calls never collide. Ports go round-robin: port j on network j % networks and chassis
j % chassis.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ovnmeta.core.errors import UsageError

DB = "OVN_Southbound"
FIRST_DATAPATH_KEY = 1_000_000  # far above the keys northd hands out to the lab's networks
MAX_DATAPATH_KEY = 16_777_215
MAX_PORT_KEY = 32_767
MAX_CHASSIS = 50 << 16  # encap addresses 10.200.0.0 - 10.249.255.255
PROJECT = "c10d0000000000000000000000000000"
_NS = uuid.UUID("5f0c1a2e-0b1d-4c3e-9a8f-7e6d5c4b3a29")

Op = dict[str, object]


@dataclass(frozen=True)
class CloudSpec:
    networks: int = 10_000
    ports: int = 50_000
    chassis: int = 500
    seed: str = "cloud"
    first_key: int = FIRST_DATAPATH_KEY  # of the datapaths' tunnel keys
    first_chassis: int = 0  # of the encap addresses: two clouds in one SB never share one

    def __post_init__(self) -> None:
        if self.networks < 0 or self.ports < 0 or self.chassis < 0:
            raise UsageError("a synthetic cloud needs counts >= 0")
        if self.ports and not (self.networks and self.chassis):
            raise UsageError("ports need at least one network and one foreign chassis")
        if self.networks and -(-self.ports // self.networks) + 1 > MAX_PORT_KEY:
            raise UsageError(f"more than {MAX_PORT_KEY - 1} ports on one network")
        if self.first_key < 1 or self.first_key + self.networks - 1 > MAX_DATAPATH_KEY:
            raise UsageError(f"datapath tunnel keys beyond 1..{MAX_DATAPATH_KEY}")
        if not 0 <= self.first_chassis <= MAX_CHASSIS - self.chassis:
            raise UsageError(f"at most {MAX_CHASSIS} foreign chassis (encap addresses)")

    def uid(self, kind: str, index: int) -> str:
        return str(uuid.uuid5(_NS, f"{self.seed}/{kind}/{index}"))

    def ports_of(self, network: int) -> range:
        """Indexes of the ports on `network` (round-robin)."""
        return range(network, self.ports, self.networks) if self.networks else range(0)


def _map(pairs: dict[str, str]) -> list[object]:
    return ["map", sorted(pairs.items())]


def _mac(kind: int, index: int) -> str:
    """fa:16:3e (Neutron's prefix), then a kind nibble and 20 bits of index."""
    n = (kind << 20) | (index & 0xFFFFF)
    return f"fa:16:3e:{n >> 16 & 0xFF:02x}:{n >> 8 & 0xFF:02x}:{n & 0xFF:02x}"


def chassis_name(spec: CloudSpec, index: int) -> str:
    return spec.uid("chassis", index)


def encap_ip(spec: CloudSpec, index: int) -> str:
    """An address per foreign chassis, outside the lab's underlay (10.255.0.0/24)."""
    index += spec.first_chassis
    return f"10.{200 + (index >> 16)}.{index >> 8 & 0xFF}.{index & 0xFF}"


def chassis_ops(spec: CloudSpec) -> list[Op]:
    """Encap, Chassis and Chassis_Private of every foreign chassis, in that order each: the
    Chassis row's uuid is the result at position 3 * index + 1."""
    ops: list[Op] = []
    for i in range(spec.chassis):
        name = chassis_name(spec, i)
        encap, chassis = f"e{i}", f"c{i}"
        ops += [
            {
                "op": "insert",
                "table": "Encap",
                "uuid-name": encap,
                "row": {
                    "type": "geneve",
                    "ip": encap_ip(spec, i),
                    "chassis_name": name,
                    "options": _map({"csum": "true"}),
                },
            },
            {
                "op": "insert",
                "table": "Chassis",
                "uuid-name": chassis,
                "row": {
                    "name": name,
                    "hostname": f"compute-{i:05d}",
                    "encaps": ["named-uuid", encap],
                    "other_config": _map(
                        {
                            "datapath-type": "system",
                            "iface-types": "geneve,internal,system,tap,vxlan",
                            "is-interconn": "false",
                            "ovn-bridge-mappings": "",
                            "ovn-chassis-mac-mappings": "",
                            "ovn-cms-options": "",
                            "ovn-enable-lflow-cache": "true",
                            "ovn-limit-lflow-cache": "",
                            "ovn-memlimit-lflow-cache-kb": "",
                            "ovn-monitor-all": "false",
                            "ovn-trim-limit-lflow-cache": "",
                            "ovn-trim-wmark-perc-lflow-cache": "",
                            "port-up-notif": "true",
                        }
                    ),
                },
            },
            {
                "op": "insert",
                "table": "Chassis_Private",
                "row": {
                    "name": name,
                    "chassis": ["named-uuid", chassis],
                    "nb_cfg": 1,
                    "nb_cfg_timestamp": 1_700_000_000_000,
                    "external_ids": _map(
                        {
                            "neutron:ovn-metadata-id": spec.uid("agent", i),
                            "neutron:ovn-metadata-sb-cfg": "1",
                        }
                    ),
                },
            },
        ]
    return ops


def chassis_uuids(results: Sequence[dict]) -> list[str]:
    """The Chassis rows' uuids from the results of `chassis_ops`."""
    return [str(r["uuid"][1]) for r in results[1::3]]


def network_ops(spec: CloudSpec, network: int, chassis: Sequence[str]) -> list[Op]:
    """One network: its Datapath_Binding, metadata localport and VIFs bound to `chassis`
    (the Chassis uuids, indexed like the spec's chassis)."""
    net = spec.uid("network", network)
    dp = f"d{network}"
    ops: list[Op] = [
        {
            "op": "insert",
            "table": "Datapath_Binding",
            "uuid-name": dp,
            "row": {
                "tunnel_key": spec.first_key + network,
                "external_ids": _map(
                    {
                        "logical-switch": spec.uid("switch", network),
                        "name": f"neutron-{net}",
                        "name2": f"cloud-net-{network}",
                    }
                ),
            },
        },
        {
            "op": "insert",
            "table": "Port_Binding",
            "row": {
                "logical_port": spec.uid("localport", network),
                "type": "localport",
                "datapath": ["named-uuid", dp],
                "tunnel_key": 1,
                "mac": f"{_mac(1, network)} 10.0.0.2",
                "port_security": ["set", []],
                "options": _map({"requested-chassis": ""}),
                "external_ids": _map(
                    {
                        "neutron:cidrs": "10.0.0.2/16",
                        "neutron:device_id": f"ovnmeta-{net}",
                        "neutron:device_owner": "network:distributed",
                        "neutron:network_name": f"neutron-{net}",
                        "neutron:project_id": PROJECT,
                        "neutron:revision_number": "1",
                    }
                ),
            },
        },
    ]
    for key, port in enumerate(spec.ports_of(network), start=2):
        on = port % spec.chassis
        host = key + 8  # 10.0.0.10 and up: .1 is the router, .2 the localport
        address = f"{_mac(2, port)} 10.0.{host >> 8}.{host & 0xFF}"
        ops.append(
            {
                "op": "insert",
                "table": "Port_Binding",
                "row": {
                    "logical_port": spec.uid("port", port),
                    "type": "",
                    "datapath": ["named-uuid", dp],
                    "tunnel_key": key,
                    "mac": address,
                    "port_security": address,
                    "chassis": ["uuid", chassis[on]],
                    "requested_chassis": ["uuid", chassis[on]],  # northd's, from the option
                    "up": True,
                    "options": _map({"requested-chassis": f"compute-{on:05d}"}),
                    "external_ids": _map(
                        {
                            "neutron:cidrs": f"{address.split()[1]}/16",
                            "neutron:device_id": spec.uid("instance", port),
                            "neutron:device_owner": "compute:nova",
                            "neutron:network_name": f"neutron-{net}",
                            "neutron:port_name": "",
                            "neutron:project_id": PROJECT,
                            "neutron:revision_number": "2",
                        }
                    ),
                },
            }
        )
    return ops


def network_batches(
    spec: CloudSpec, chassis: Sequence[str], ops_per_batch: int = 4000
) -> Iterator[list[Op]]:
    """Every network's ops, grouped into transactions of about `ops_per_batch` operations
    (a network never spans two: its named uuids live in one transaction)."""
    if len(chassis) < spec.chassis:
        raise UsageError(f"{spec.chassis} foreign chassis needed, {len(chassis)} given")
    batch: list[Op] = []
    for network in range(spec.networks):
        batch += network_ops(spec, network, chassis)
        if len(batch) >= ops_per_batch:
            yield batch
            batch = []
    if batch:
        yield batch


def vif_uuids(ops: Sequence[Op], results: Sequence[dict]) -> list[str]:
    """The uuids of the VIFs a batch inserted (its Port_Binding rows that are not localports)."""
    return [
        str(res["uuid"][1])
        for op, res in zip(ops, results, strict=False)
        if op["table"] == "Port_Binding" and op["row"]["type"] == ""  # type: ignore[index]
    ]


def rebind_op(port: str, chassis: str) -> Op:
    """A foreign port moving to another foreign chassis (what a live migration leaves)."""
    return {
        "op": "update",
        "table": "Port_Binding",
        "where": [["_uuid", "==", ["uuid", port]]],
        "row": {"chassis": ["uuid", chassis], "requested_chassis": ["uuid", chassis], "up": True},
    }
