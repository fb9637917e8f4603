"""Networks elsewhere in the cloud: many Neutron-style switches, each with its metadata
localport and nothing bound on any lab compute, written to the NB in one transaction; and a
whole synthetic cloud (foreign chassis, their networks and bound ports, `lab.cloud_rows`)
written straight into the SB.

They are not recorded in lab.json (no instance can boot on them); they exist to show that an
agent does not pay for networks it does not serve (issue 14).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ovnmeta.lab import central, cloud_rows
from ovnmeta.lab.addressing import mac_for
from ovnmeta.lab.logical import Northbound
from ovnmeta.lab.ovsdb_rpc import OvsdbRpc
from ovnmeta.lab.topology import Topology


def create_remote_networks(nb: Northbound, count: int, timeout: float = 300) -> list[str]:
    """`count` switches with a localport each, in one NB transaction; returns their ids.

    Plain `create`s with named uuids, no name lookups, so ovn-nbctl stays linear."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    if not ids:
        return ids
    cmd: list[str] = []
    for i, net in enumerate(ids):
        port = str(uuid.uuid4())
        cmd += [
            "--",
            f"--id=@p{i}",
            "create",
            "Logical_Switch_Port",
            f"name={port}",
            "type=localport",
            f'addresses="{mac_for(port)} 10.0.0.2"',
            'external_ids:"neutron:device_owner"="network:distributed"',
            f'external_ids:"neutron:device_id"="ovnmeta-{net}"',
            'external_ids:"neutron:cidrs"="10.0.0.2/24"',
            "--",
            "create",
            "Logical_Switch",
            f"name=neutron-{net}",
            f"ports=@p{i}",
            f'external_ids:"neutron:network_name"="remote-{i}"',
        ]
    nb.nbctl(*cmd, timeout=timeout, retry_for=timeout)
    return ids


def datapath_count(nb: Northbound) -> int:
    out = nb.sbctl("--bare", "--columns=_uuid", "list", "Datapath_Binding", timeout=60)
    return len(out.split())


def wait_datapaths(nb: Northbound, at_least: int, timeout: float = 300) -> float:
    """Until northd has written them to the SB; returns the seconds waited."""
    start = time.monotonic()
    while datapath_count(nb) < at_least:
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"fewer than {at_least} datapaths in the SB after {timeout} s")
        time.sleep(0.2)
    return time.monotonic() - start


@dataclass
class Cloud:
    """What `write_cloud` put in the SB: uuids to change later, and how long it took."""

    chassis: list[str] = field(default_factory=list)
    vifs: list[str] = field(default_factory=list)
    seconds: float = 0.0


def sb_socket(lab_dir: Path, topo: Topology) -> Path:
    """The first SB member's UNIX socket (a follower forwards writes to the leader)."""
    return central.SB.files(central.node_dir(lab_dir, topo.controllers[0]))["sock"]


def pause_northd(lab_dir: Path, topo: Topology) -> None:
    """Before writing SB rows of our own: northd would delete datapaths without a switch."""
    for ctl in topo.controllers:
        central.pause_northd(lab_dir, ctl)


def write_cloud(
    lab_dir: Path, topo: Topology, spec: cloud_rows.CloudSpec, chassis: list[str] | None = None
) -> Cloud:
    """The spec's foreign chassis (unless `chassis` gives existing ones) and networks, in
    transactions of a few thousand rows, straight into the SB. northd must be paused."""
    start = time.monotonic()
    cloud = Cloud()
    with OvsdbRpc(sb_socket(lab_dir, topo)) as db:
        if chassis is None:
            results = db.transact(cloud_rows.DB, cloud_rows.chassis_ops(spec))
            chassis = cloud_rows.chassis_uuids(results)
        cloud.chassis = chassis
        for ops in cloud_rows.network_batches(spec, chassis):
            cloud.vifs += cloud_rows.vif_uuids(ops, db.transact(cloud_rows.DB, ops))
    cloud.seconds = time.monotonic() - start
    return cloud


def rebind_ports(lab_dir: Path, topo: Topology, moves: list[tuple[str, str]]) -> float:
    """Each (port, chassis) as a transaction of its own, as ovn-controllers write them;
    returns the seconds taken."""
    start = time.monotonic()
    with OvsdbRpc(sb_socket(lab_dir, topo)) as db:
        for port, chassis in moves:
            db.transact(cloud_rows.DB, [cloud_rows.rebind_op(port, chassis)])
    return time.monotonic() - start


def sb_counts(nb: Northbound, tables: tuple[str, ...]) -> dict[str, int]:
    """Rows per SB table (what landed)."""
    return {
        t: len(nb.sbctl("--bare", "--columns=_uuid", "list", t, timeout=120).split())
        for t in tables
    }
