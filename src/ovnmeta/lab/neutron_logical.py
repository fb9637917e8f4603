"""The lab's tenants through neutron's REST API (`lab up --neutron`): neutron's ML2/OVN driver
writes the NB, not the lab (`lab.logical` is the imitation used without --neutron).

Addresses and MACs stay the lab's plan (`lab.addressing`): ports are created with them as
fixed IPs, so a lab behaves the same with or without neutron. A port is bound with
`binding:host_id` = the compute's `Chassis.hostname`, as Nova does.
"""

import time
from collections.abc import Sequence

from ovnmeta.core.errors import LabError
from ovnmeta.lab.addressing import Subnet
from ovnmeta.lab.neutron_client import Neutron
from ovnmeta.lab.state import InstanceRecord, NetworkRecord

METADATA_OWNER = "network:distributed"


def create_network(
    neutron: Neutron, name: str, subnets: Sequence[Subnet], project: str
) -> NetworkRecord:
    net = neutron.create("network", name=name, project_id=project, admin_state_up=True)
    try:
        subnet_ids = {}
        for s in subnets:
            fields = {
                "network_id": net["id"],
                "project_id": project,
                "cidr": s.cidr,
                "ip_version": s.version,
                "gateway_ip": s.gateway,
                "enable_dhcp": True,
            }
            if s.version == 6:
                fields |= {"ipv6_address_mode": "dhcpv6-stateful", "ipv6_ra_mode": None}
            subnet_ids[s.cidr] = neutron.create("subnet", **fields)["id"]
        port = _metadata_port(neutron, net["id"])
    except BaseException:
        neutron.delete("network", net["id"], missing_ok=True)
        raise
    return NetworkRecord(
        name=name,
        id=net["id"],
        project=project,
        cidrs=[s.cidr for s in subnets],
        metadata=True,
        metadata_port=port["id"],
        metadata_mac=port["mac_address"],
        dhcp_options={},
        subnet_ids=subnet_ids,
    )


def _metadata_port(neutron: Neutron, network_id: str, timeout: float = 30) -> dict:
    """The localport ML2/OVN creates with the first DHCP-enabled subnet."""
    deadline = time.monotonic() + timeout
    while True:
        ports = neutron.find("port", network_id=network_id, device_owner=METADATA_OWNER)
        if ports:
            return ports[0]
        if time.monotonic() > deadline:
            raise LabError(f"neutron made no metadata port for network {network_id}")
        time.sleep(0.2)


def delete_network(neutron: Neutron, net: NetworkRecord) -> None:
    neutron.delete("network", net.id, missing_ok=True)


def add_instance_port(
    neutron: Neutron, net: NetworkRecord, vm: InstanceRecord, hostname: str
) -> str:
    """Create the port with the record's MAC and addresses; its id (neutron picks ids)."""
    fixed = [
        {"subnet_id": net.subnet_ids[cidr], "ip_address": address}
        for address, cidr in zip(vm.addresses, net.cidrs, strict=False)  # bind_vif: v4 only
    ]
    return neutron.create(
        "port",
        network_id=net.id,
        project_id=vm.project,
        mac_address=vm.mac,
        fixed_ips=fixed,
        device_id=vm.id,
        device_owner="compute:nova",
        name=vm.name,
        **{"binding:host_id": hostname},
    )["id"]


def delete_port(neutron: Neutron, port: str) -> None:
    neutron.delete("port", port, missing_ok=True)
