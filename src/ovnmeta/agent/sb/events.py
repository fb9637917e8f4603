"""Live IDL rows -> `sb.changes` values. Runs in ovsdbapp's IDL thread, at notify time, so
rows are read while they are consistent; the values then cross to the asyncio loop.

References are read as raw UUIDs (`row._data`): with conditional monitoring the referenced
Chassis of another host is not in our replica, and python-ovs would silently drop it.
"""

from __future__ import annotations

from typing import Any

from ovnmeta.agent.sb import changes, rows
from ovnmeta.core.model import ChassisId, MetadataPort, Vif

ROW_CREATE, ROW_UPDATE, ROW_DELETE = "create", "update", "delete"


def uuids(row: Any, column: str) -> tuple[str, ...]:
    datum = row._data.get(column)
    if datum is None:
        return ()
    return tuple(sorted(str(atom.value) for atom in datum.values))


def port_row(row: Any) -> rows.PortBindingRow:
    dps = uuids(row, "datapath")
    return rows.PortBindingRow(
        uuid=str(row.uuid),
        logical_port=row.logical_port,
        type=row.type,
        datapath=dps[0] if dps else None,
        mac=tuple(row.mac),
        chassis=uuids(row, "chassis"),
        additional_chassis=uuids(row, "additional_chassis"),
        external_ids=dict(row.external_ids),
        requested_chassis=uuids(row, "requested_chassis"),
    )


def datapath_row(row: Any) -> rows.DatapathBindingRow:
    return rows.DatapathBindingRow(uuid=str(row.uuid), external_ids=dict(row.external_ids))


def port_change(event: str, row: Any) -> changes.Change:
    if event == ROW_DELETE:
        return changes.PortDeleted(str(row.uuid))
    return changes.PortUpdated(str(row.uuid), rows.to_port(port_row(row)))


def datapath_change(event: str, row: Any) -> changes.Change:
    if event == ROW_DELETE:
        return changes.DatapathDeleted(str(row.uuid))
    return changes.DatapathUpdated(rows.to_datapath(datapath_row(row)))


Ports = tuple[tuple[str, Vif | MetadataPort | None], ...]


def ports(table: Any) -> Ports:
    return tuple((str(r.uuid), rows.to_port(port_row(r))) for r in table.rows.values())


def snapshot(
    tables: dict[str, Any], own: str, reconnect: bool, converted: Ports | None = None
) -> changes.Snapshot:
    """`converted`: the Port_Binding rows already converted (`ports`), if none changed since."""
    chassis = next((r for r in tables["Chassis"].rows.values() if r.name == own), None)
    private = next((r for r in tables["Chassis_Private"].rows.values() if r.name == own), None)
    sb_global = next(iter(tables["SB_Global"].rows.values()), None)
    return changes.Snapshot(
        chassis=ChassisId(str(chassis.uuid)) if chassis is not None else None,
        ports=converted if converted is not None else ports(tables["Port_Binding"]),
        datapaths=tuple(
            rows.to_datapath(datapath_row(r)) for r in tables["Datapath_Binding"].rows.values()
        ),
        nb_cfg=sb_global.nb_cfg if sb_global is not None else None,
        chassis_private_nb_cfg=private.nb_cfg if private is not None else None,
        reconnect=reconnect,
    )
