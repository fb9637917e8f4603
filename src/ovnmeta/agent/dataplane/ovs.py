"""The local Open_vSwitch database (ovsdbapp): chassis identity, integration bridge, ports.

Blocking: called from worker threads. OVSDB failures become OvsError / SbError with the
object named.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from ovsdbapp.backend.ovs_idl import connection, idlutils, transaction
from ovsdbapp.schema.open_vswitch import impl_idl

from ovnmeta.agent import ovsdb_idl
from ovnmeta.agent.dataplane.group_commit import GroupCommit
from ovnmeta.agent.dataplane.port_index import PortIndex
from ovnmeta.agent.settings import OvsSettings
from ovnmeta.core.errors import OvsError, SbError
from ovnmeta.core.model import Identity

logger = logging.getLogger(__name__)

# Only the columns read here and those ovsdbapp's add_port / del_port / db_set touch (no
# next_cfg / cur_cfg / ofport: NoWaitTransaction does not wait for ovs-vswitchd, so its
# reconfigurations and port numbers need not reach the agent either). ovn-controller
# keeps a tunnel Port and Interface per other chassis of the cloud, and their statistics,
# status and options were most of what this agent held and parsed at start: with 500
# foreign chassis, start -> ready went from 0.3 to 2.9 s and RSS +7.7 MB
# (bench/synthetic_cloud_bench.py).
COLUMNS = {
    "Open_vSwitch": ("external_ids", "bridges"),
    "Bridge": ("name", "ports"),
    "Port": ("name", "interfaces"),
    "Interface": ("name", "external_ids"),
}

# ... and only the rows it can need (monitor conditions; a row matches if any clause does).
# Columns alone still left a start with 500 tunnels 0.2-0.4 s slower than without (the dump,
# its parsing and ovsdbapp's indexes): Ports without external_ids (OVN tags every port it
# makes: ovn-chassis-id on tunnels, ovn-patch-port / ovn-localnet-port on patch ports; ovsdbapp's
# add_port, like os-vif and neutron's agent, sets none), Interfaces of the types a plugged veth
# has ("" when none is set, or "system"). Bridge.ports may name rows outside them: python-ovs
# skips those, and add_port / del_port change that column by mutation, not by rewriting it.
CONDITIONS = {
    "Port": [["external_ids", "==", ["map", []]]],
    "Interface": [["type", "==", ""], ["type", "==", "system"]],
}


class NoWaitTransaction(transaction.Transaction):
    """A transaction that returns once ovsdb-server has committed it, not after
    ovs-vswitchd's reconfiguration. ovsdbapp's own (`OvsVsctlTransaction`, as ovs-vsctl)
    bumps `next_cfg` and then blocks the IDL thread until `cur_cfg` reaches it; at 1,000
    networks on the lab's userspace OVS that was 2.8 s of a new network's `apply`, during
    which no other OVSDB transaction of the agent ran. Nothing the agent does next needs it:
    the edge listens in the namespace, not on br-int, and ovn-controller installs the
    localport's flows when ovs-vswitchd has given the interface its ofport, whether or not
    anyone waits. Nor did the wait ever fail a plug: ovsdbapp logs an interface without an
    ofport, or a reconfiguration that did not end in time, and returns (its post_commit
    catches every exception)."""

    def pre_commit(self, txn: Any) -> None:
        txn.expected_ifaces = set()  # add_port records the new Interface here


class _Idl(ovsdb_idl.Idl):
    """Counts the changes to the rows `Ovs.ports_of` indexes. The IDL's change_seqno moves
    with every update (ovn-controller keeps changing Interface rows), which at 1,000
    networks rebuilt the index for nearly every network a full sync observed (1,000 walks of
    ~2,000 ports in a cProfile of a restart)."""

    port_changes = 0

    def notify(self, event: str, row: Any, updates: Any = None) -> None:
        if row._table.name in ("Bridge", "Port"):
            self.port_changes += 1
        super().notify(event, row, updates)

    def restart_fsm(self) -> None:  # a reconnect may clear the replica without a notify
        self.port_changes += 1
        super().restart_fsm()


class Ovs:
    def __init__(self, settings: OvsSettings) -> None:
        self._settings = settings
        self._api: impl_idl.OvsdbIdl | None = None
        self._ports: PortIndex[Any] = PortIndex()  # ports_of's: port name -> bridge
        self._ports_seqno: int | None = None  # the IDL's port_changes it was refreshed at
        self._ports_lock = threading.Lock()
        self._plugs: GroupCommit[tuple[str, str, str]] = GroupCommit(self._plug_all)

    def connect(self) -> None:
        remote = str(self._settings.ovsdb_connection)
        try:
            helper = idlutils.get_schema_helper(remote, "Open_vSwitch")
            for table, columns in COLUMNS.items():
                helper.register_columns(table, list(columns))
            idl = _Idl(remote, helper, probe_interval=self._settings.ovsdb_probe_interval)
            for table, condition in CONDITIONS.items():
                idl.cond_change(table, condition)  # before the first monitor request
            conn = connection.Connection(idl, timeout=self._settings.ovsdb_connection_timeout)
            # A class of our own: ovsdbapp keeps the connection on the class.
            api_class = type("OvsApi", (impl_idl.OvsdbIdl,), {"_ovsdb_connection": None})
            self._api = api_class(conn)
        except Exception as exc:
            raise SbError(
                f"ovsdb_connection {remote}: cannot connect: {exc} (is ovsdb-server running?)"
            ) from exc

    def close(self) -> None:
        if self._api is not None:
            self._api.ovsdb_connection.stop(timeout=5)
            self._api = None

    @property
    def api(self) -> impl_idl.OvsdbIdl:
        if self._api is None:
            raise OvsError("local OVSDB: not connected")
        return self._api

    def identity(self) -> Identity | None:
        """system-id and ovn-bridge (default br-int); None while system-id is missing."""
        rows = list(self.api.tables["Open_vSwitch"].rows.values())
        if not rows:
            return None
        ext = rows[0].external_ids
        system_id = ext.get("system-id")
        if not system_id:
            return None
        return Identity(system_id, ext.get("ovn-bridge") or "br-int")

    def bridge_exists(self, name: str) -> bool:
        return any(b.name == name for b in self.api.tables["Bridge"].rows.values())

    def ports_of(self, names: Iterable[str]) -> tuple[tuple[str, str, str | None], ...]:
        """Asked once per network observed: the bridge of each port comes from an index kept
        from the bridges' `ports` columns (dataplane/port_index.py), refreshed when a Bridge
        or Port row changed (_Idl.port_changes); the interfaces are read for the ports asked
        for only."""
        ports = self.api.tables["Port"].rows
        seqno = self.api.idl.port_changes
        with self._ports_lock:  # workers observe side by side; the index is not thread-safe
            if seqno != self._ports_seqno:
                self._ports.refresh(self._bridge_ports(), lambda u: _name(ports.get(u)))
                self._ports_seqno = seqno
            wanted = [(name, self._ports.lookup(name)) for name in set(names)]
        found = []
        for name, located in wanted:
            for bridge, uuid in located:
                iface_id = None
                try:
                    for iface in ports[uuid].interfaces:
                        iface_id = iface.external_ids.get("iface-id", iface_id)
                except (KeyError, AttributeError):  # a row the IDL thread is removing now
                    continue
                found.append((bridge, name, iface_id))
        return tuple(sorted(found))

    def _bridge_ports(self) -> list[tuple[str, list[Any]]]:
        """(name, port UUIDs) per bridge, read from the committed column (`Row._data`)
        without turning each port into a Row."""
        out = []
        for bridge in list(self.api.tables["Bridge"].rows.values()):
            datum = bridge._data.get("ports")
            if datum is not None:
                out.append((bridge.name, [atom.value for atom in list(datum.values)]))
        return out

    def plug(self, bridge: str, port: str, iface_id: str) -> None:
        """Plugs made at the same time from several workers share one transaction:
        dataplane/group_commit.py. Returns once ovsdb-server has it (NoWaitTransaction)."""
        if not self.bridge_exists(bridge):
            raise OvsError(
                f"{bridge}: cannot plug {port}: bridge not found (is ovn-controller running?)"
            )
        self._plugs.submit((bridge, port, iface_id))

    def _plug_all(self, plugs: Sequence[tuple[str, str, str]]) -> None:
        api = self.api
        try:
            with self._transaction() as txn:
                for bridge, port, iface_id in plugs:
                    txn.add(api.add_port(bridge, port, may_exist=True))
                    ids = ("external_ids", {"iface-id": iface_id})
                    txn.add(api.db_set("Interface", port, ids))
        except Exception as exc:
            what = ", ".join(port for _, port, _ in plugs)
            raise OvsError(f"{plugs[0][0]}: cannot plug {what}: {exc}") from exc

    def unplug(self, bridge: str, port: str) -> None:
        try:
            with self._transaction() as txn:
                txn.add(self.api.del_port(port, bridge=bridge, if_exists=True))
        except Exception as exc:
            raise OvsError(f"{bridge}: cannot unplug {port}: {exc}") from exc

    def _transaction(self) -> NoWaitTransaction:
        api = self.api
        return NoWaitTransaction(api, api.ovsdb_connection, check_error=True)


def _name(port: Any) -> str | None:
    try:
        return None if port is None else str(port.name)
    except AttributeError:  # removed by the IDL thread meanwhile
        return None
