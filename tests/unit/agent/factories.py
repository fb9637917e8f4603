"""Row and spec builders shared by the unit tests."""

from ovnmeta.agent.sb import changes, rows

OWN = "c0000000-0000-0000-0000-000000000001"
OTHER = "c0000000-0000-0000-0000-000000000002"
NET_A = "f3dc8112-273e-4653-af3c-6069330ad350"
NET_B = "0b1c2d3e-4f50-4617-8899-aabbccddeeff"
DP_A = "d0000000-0000-0000-0000-00000000000a"
DP_B = "d0000000-0000-0000-0000-00000000000b"
META_MAC = "fa:16:3e:11:22:33"


def datapath(dp, net):
    return changes.DatapathUpdated(
        rows.to_datapath(rows.DatapathBindingRow(dp, {"name": f"neutron-{net}", "name2": "x"}))
    )


def vif(
    uuid,
    dp,
    mac="fa:16:3e:00:00:01 10.0.0.11",
    chassis=(OWN,),
    additional=(),
    device_id="inst-1",
    project="proj-1",
    type_="",
    requested=(),
):
    row = rows.PortBindingRow(
        uuid=uuid,
        logical_port=f"lp-{uuid}",
        type=type_,
        datapath=dp,
        mac=(mac,) if mac is not None else (),
        chassis=tuple(chassis),
        additional_chassis=tuple(additional),
        external_ids={
            "neutron:device_id": device_id,
            "neutron:project_id": project,
            "neutron:device_owner": "compute:nova",
        },
        requested_chassis=tuple(requested),
    )
    return changes.PortUpdated(uuid, rows.to_port(row))


def meta(
    uuid, dp, net, mac=f"{META_MAC} 10.0.0.2 10.0.1.2", cidrs="10.0.0.2/24 10.0.1.2/24", mtu=None
):
    ext = {
        "neutron:device_owner": "network:distributed",
        "neutron:device_id": f"ovnmeta-{net}",
        "neutron:cidrs": cidrs,
    }
    if mtu is not None:
        ext["neutron:mtu"] = str(mtu)
    row = rows.PortBindingRow(
        uuid=uuid,
        logical_port=f"mp-{uuid}",
        type="localport",
        datapath=dp,
        mac=(mac,) if mac else (),
        external_ids=ext,
    )
    return changes.PortUpdated(uuid, rows.to_port(row))
