"""Networks elsewhere in the cloud: many Neutron-style switches, each with its metadata
localport and nothing bound on any lab compute, written to the NB in one transaction.

They are not recorded in lab.json (no instance can boot on them); they exist to show that an
agent does not pay for networks it does not serve (issue 14).
"""

from __future__ import annotations

import time
import uuid

from ovnmeta.lab.addressing import mac_for
from ovnmeta.lab.logical import Northbound


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
