"""Live-row conversion, with stand-ins shaped like python-ovs rows (references as raw UUIDs)."""

import types
import uuid

from ovnmeta.agent.sb import changes, events
from ovnmeta.core.model import MetadataPort, Vif


class Atom:
    def __init__(self, value):
        self.value = value


def datum(*uuids):
    return types.SimpleNamespace(values={Atom(uuid.UUID(u)): None for u in uuids})


DP = "d0000000-0000-0000-0000-00000000000a"
OWN = "c0000000-0000-0000-0000-000000000001"
OTHER = "c0000000-0000-0000-0000-000000000002"


def pb(
    type_="", mac=("fa:16:3e:00:00:11 10.0.0.11",), chassis=(OWN,), additional=(OTHER,), ext=None
):
    return types.SimpleNamespace(
        uuid=uuid.UUID("00000000-0000-0000-0000-0000000000b1"),
        logical_port="lp1",
        type=type_,
        mac=list(mac),
        external_ids=ext or {"neutron:device_id": "i1", "neutron:project_id": "p1"},
        _data={
            "datapath": datum(DP),
            "chassis": datum(*chassis),
            "additional_chassis": datum(*additional),
        },
    )


def test_vif_row_keeps_references_to_chassis_we_do_not_monitor():
    change = events.port_change(events.ROW_UPDATE, pb())
    assert isinstance(change, changes.PortUpdated)
    port = change.port
    assert isinstance(port, Vif)
    assert port.datapath == DP
    assert port.chassis == (OWN,) and port.additional_chassis == {OTHER}
    assert port.is_local(OWN) and port.is_local(OTHER)


def test_metadata_row_and_delete():
    row = pb(
        type_="localport",
        chassis=(),
        additional=(),
        ext={"neutron:device_owner": "network:distributed", "neutron:cidrs": "10.0.0.2/24"},
    )
    assert isinstance(events.port_change(events.ROW_CREATE, row).port, MetadataPort)
    assert events.port_change(events.ROW_DELETE, row) == changes.PortDeleted(str(row.uuid))


def test_datapath_row():
    row = types.SimpleNamespace(uuid=uuid.UUID(DP), external_ids={"name": "neutron-net1"})
    change = events.datapath_change(events.ROW_CREATE, row)
    assert change.datapath.network == "net1"
    assert events.datapath_change(events.ROW_DELETE, row) == changes.DatapathDeleted(DP)
