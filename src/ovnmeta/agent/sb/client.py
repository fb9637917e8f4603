"""The one SB connection of this chassis (ovsdbapp): conditional monitoring, changes handed to
the asyncio loop, and the Chassis_Private writes.

Only this module knows that ovsdbapp runs a thread: rows are turned into `sb.changes` values in
the IDL thread and passed on with `loop.call_soon_threadsafe`.

Monitored (agent-contract.md section 3.1, narrowed as it allows, issue 14): Chassis and
Chassis_Private where name == own; Port_Binding where chassis == own, own in
additional_chassis, or datapath is one served here (`sb.interest`: a datapath with a VIF bound
here; this brings its localport); Datapath_Binding of those datapaths only; SB_Global (one
row, nb_cfg only). A network created elsewhere in the cloud sends nothing to this chassis.

The datapath clauses follow the local ports: every Port_Binding change updates
`sb.interest.LocalDatapaths` in the IDL thread and, at the end of the same run(), a changed
set becomes a `monitor_cond_change`. The server sends the rows entering the condition before
its reply, and later changes to them as usual, so nothing is lost while it changes. At most one
condition change is in flight (python-ovs would mark a second one acked with the first reply).

A restart's first monitor request already carries the last run's conditions (`sb.hint`), so
the SB sends the chassis, the ports bound here and their datapaths' rows in one reply; the
conditions are then recomputed from those rows as on any connect, and the snapshot still
waits until they are acked.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
from collections.abc import Callable
from typing import Any

import ovs.stream
from ovsdbapp.backend.ovs_idl import connection, idlutils
from ovsdbapp.schema.ovn_southbound import impl_idl

from ovnmeta.agent import ovsdb_idl
from ovnmeta.agent.sb import changes, events, hint, interest, monitor, registration, rows
from ovnmeta.agent.settings import SbSettings
from ovnmeta.core.errors import SbError
from ovnmeta.core.model import ChassisId, DatapathId

logger = logging.getLogger(__name__)

COLUMNS = {
    "Port_Binding": [
        "logical_port",
        "type",
        "datapath",
        "mac",
        "chassis",
        "additional_chassis",
        "external_ids",
        "requested_chassis",  # OVN >= 21.12; left out where the schema has no such column
    ],
    # tunnel_key is not read, but ovsdbapp indexes every table on its schema index column
    # and python-ovs cannot remove a row from an index on an unmonitored column (the IDL
    # thread raised AttributeError when a Datapath_Binding left the replica)
    "Datapath_Binding": ["external_ids", "tunnel_key"],
    "Chassis": ["name"],
    # registration reads nb_cfg (the first sb-cfg) and writes external_ids, by name
    "Chassis_Private": ["name", "nb_cfg", "external_ids"],
    "SB_Global": ["nb_cfg"],
}

Sink = Callable[[changes.Change], None]
OPTIONAL_COLUMNS = {("Port_Binding", "requested_chassis")}

_DYNAMIC = ("Port_Binding", "Datapath_Binding")  # conditions that follow the local ports


def _chassis_id(chassis: str | None) -> ChassisId | None:
    return ChassisId(chassis) if chassis else None


class SbIdl(ovsdb_idl.Idl):
    def __init__(
        self,
        remote: str,
        helper: Any,
        probe_interval: int,
        own: str,
        sink: Sink,
        retry_max_interval_s: int = 180,
        requested: bool = False,
        hint_path: str | None = None,
    ):
        """`requested`: the schema has Port_Binding.requested_chassis (sb.rows)."""
        super().__init__(remote, helper, probe_interval=probe_interval, leader_only=False)
        # Reconnect backoff: 1 s doubling up to [ovn] ovsdb_retry_max_interval.
        self._session.reconnect.set_backoff(1000, max(retry_max_interval_s, 1) * 1000)
        self._own = own
        self._sink = sink
        self._requested = requested
        self._chassis: str | None = None
        self._monitoring = False
        self._snapshots = 0
        self._snapshot_due = False
        self._local = interest.LocalDatapaths()
        self._replica_ports: events.Ports | None = None
        self._conditioned: frozenset[DatapathId] = frozenset()  # last logged
        self._cond_inputs: tuple[str | None, frozenset[DatapathId]] | None = None  # last set
        self._hint_path = hint_path
        self._saved = hint.load(hint_path) if hint_path else None
        self.cond_change("Chassis", [["name", "==", own]])
        self.cond_change("Chassis_Private", [["name", "==", own]])
        if self._saved is None:
            self._update_conditions()
        else:  # only what to ask for: run() recomputes the conditions from the rows sent
            logger.info("SB condition of the last run: %d datapaths", len(self._saved.datapaths))
            self._set_conditions(self._saved.chassis, self._saved.datapaths)

    def send_request(self, request: Any) -> Any:
        # Every request python-ovs sends on this session passes here (sb.monitor).
        if request.method in monitor.MONITOR_METHODS and request.params[0] == self._db.name:
            request.params[2] = monitor.without_empty_initial(request.params[2])
        return super().send_request(request)

    def _update_conditions(self) -> None:
        """Port_Binding and Datapath_Binding conditions from the chassis and the local
        datapaths; deferred while a change is in flight (run() comes back with its reply)."""
        if any(self.tables[t].condition_state.requested is not None for t in _DYNAMIC):
            return
        dps = self._local.datapaths
        if dps != self._conditioned:
            logger.info("SB condition: %d local datapaths", len(dps))
            self._conditioned = dps
        self._set_conditions(self._chassis, dps)
        self._save_hint(hint.ConditionHint(self._chassis, dps))

    def _set_conditions(self, chassis: str | None, dps: frozenset[DatapathId]) -> None:
        # Built again only when they change: run() comes here for every SB message, and at
        # 1,000 datapaths two lists of 1,000 clauses each time held the GIL for ~0.2 s
        # while a new network was being provisioned (py-spy, issue 14).
        if (chassis, dps) == self._cond_inputs:
            return
        self._cond_inputs = (chassis, dps)
        self.cond_change("Port_Binding", rows.port_binding_condition(chassis, dps, self._requested))
        self.cond_change("Datapath_Binding", rows.datapath_binding_condition(dps))

    def _save_hint(self, current: hint.ConditionHint) -> None:
        if self._hint_path is None or current == self._saved:
            return
        try:
            hint.save(self._hint_path, current)
        except OSError as exc:  # the next start takes the condition rounds: nothing else
            logger.warning("cannot keep the SB conditions in %s: %s", self._hint_path, exc)
        self._saved = current

    def _conditions_settled(self) -> bool:
        return all(
            self.tables[t].condition_state.new is None
            and self.tables[t].condition_state.requested is None
            for t in _DYNAMIC
        )

    def _rebuild_interest(self) -> None:
        ports = events.ports(self.tables["Port_Binding"])
        self._local.reset(ports, _chassis_id(self._chassis))
        self._replica_ports = ports  # the snapshot's too, unless a port changes first

    def run(self) -> Any:
        result = super().run()
        # python-ovs stays in MONITORING while its session is down (until it reconnects):
        # ask the session, so a lost SB shows at once (status file, `ovnmeta healthcheck`).
        monitoring = self.state == self.IDL_S_MONITORING and self._session.is_connected()
        if monitoring and not self._monitoring:
            # A (re)connect just delivered its dump (python-ovs may have cleared the replica
            # without notifying: rebuild the local datapaths from it). The first time, our
            # chassis UUID only becomes known now. The snapshot waits until the conditions
            # stop moving (chassis -> local ports -> their datapaths) and are acked, so the
            # full sync never sees "no local ports" and tears down healthy namespaces.
            self._snapshot_due = True
            self._chassis = self._own_chassis_uuid()
            self._rebuild_interest()
        elif not monitoring and self._monitoring:
            self._sink(changes.Disconnected())
        self._monitoring = monitoring
        if monitoring:
            self._update_conditions()
        if monitoring and self._snapshot_due and self._conditions_settled():
            self._snapshot_due = False
            self._sink(
                events.snapshot(self.tables, self._own, self._snapshots > 0, self._replica_ports)
            )
            self._snapshots += 1
        # python-ovs sends a changed condition only at the start of the next run(), and
        # nothing wakes the IDL thread for it: send it now.
        self.send_cond_change()
        return result

    def _own_chassis_uuid(self) -> str | None:
        for row in self.tables["Chassis"].rows.values():
            if row.name == self._own:
                return str(row.uuid)
        return None

    def notify(self, event: str, row: Any, updates: Any = None) -> None:
        # Rows parsed from a dump (a (re)connect's monitor reply) arrive before the state is
        # MONITORING: run() then takes the chassis, the local datapaths and the snapshot
        # from the whole replica, so a row of the dump is converted once, not three times.
        # Afterwards every change is forwarded as a value.
        if self.state != self.IDL_S_MONITORING:
            return
        table = row._table.name
        if table == "Port_Binding":
            self._replica_ports = None
            change = events.port_change(event, row)
            # Always, a condition change's rows included: the conditions follow the ports.
            self._local.apply(change, _chassis_id(self._chassis))
            if not self._snapshot_due:
                self._sink(change)
            return
        forward = not self._snapshot_due
        if table == "Chassis" and row.name == self._own:
            uuid = None if event == events.ROW_DELETE else str(row.uuid)
            if uuid != self._chassis:
                # Always too: locality (so the conditions) is relative to our chassis UUID.
                self._chassis = uuid
                self._rebuild_interest()
                if forward:
                    self._sink(changes.ChassisFound(uuid))  # type: ignore[arg-type]
            return
        if not forward:
            return
        if table == "Datapath_Binding":
            self._sink(events.datapath_change(event, row))
        elif table == "Chassis_Private" and event == events.ROW_CREATE:
            self._sink(changes.ChassisPrivateCreated(row.nb_cfg))
        elif table == "SB_Global" and event == events.ROW_UPDATE and hasattr(updates, "nb_cfg"):
            self._sink(changes.NbCfgChanged(row.nb_cfg))


class _NoSchemaRetryNoise(logging.Filter):
    """ovsdbapp logs each failed schema fetch at INFO with a bare errno; the agent's retry
    loop logs the first failure once, with the reason (the TLS error for ssl: remotes)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Could not retrieve schema")


_SCHEMA_FILTER = _NoSchemaRetryNoise()


class SbClient:
    def __init__(
        self,
        settings: SbSettings,
        own: str,
        sink: Sink,
        role: registration.Role = registration.METADATA_AGENT,
        hint_path: str | None = None,
    ) -> None:
        logging.getLogger(idlutils.__name__).addFilter(_SCHEMA_FILTER)  # a set: idempotent
        self._settings = settings
        self._own = own
        self._role = role
        self._sink = sink
        self._hint_path = hint_path
        self._api: impl_idl.OvnSbApiIdlImpl | None = None

    def connect(self) -> None:
        """Blocking: fetch the schema, connect, start the IDL thread. Raises SbError."""
        s = self._settings
        remote = s.connection_string
        if any(r.scheme == "ssl" for r in s.ovn_sb_connection):
            ovs.stream.Stream.ssl_set_private_key_file(s.ovn_sb_private_key)
            ovs.stream.Stream.ssl_set_certificate_file(s.ovn_sb_certificate)
            ovs.stream.Stream.ssl_set_ca_cert_file(s.ovn_sb_ca_cert)
        try:
            helper = idlutils.get_schema_helper(remote, "OVN_Southbound")
            known = {t: set(v["columns"]) for t, v in helper.schema_json["tables"].items()}
            for table, columns in COLUMNS.items():
                helper.register_columns(
                    table,
                    [
                        c
                        for c in columns
                        if (table, c) not in OPTIONAL_COLUMNS or c in known.get(table, ())
                    ],
                )
            idl = SbIdl(
                remote,
                helper,
                s.ovsdb_probe_interval,
                self._own,
                self._sink,
                s.ovsdb_retry_max_interval,
                requested="requested_chassis" in known.get("Port_Binding", ()),
                hint_path=self._hint_path,
            )
            conn = connection.Connection(idl, timeout=s.ovsdb_connection_timeout)
            api_class = type(
                "SbApi",
                (impl_idl.OvnSbApiIdlImpl,),
                {
                    "_ovsdb_connection": None,  # ovsdbapp keeps it per class: ours alone
                    "lookup_table": {
                        **impl_idl.OvnSbApiIdlImpl.lookup_table,
                        "Chassis_Private": idlutils.RowLookup("Chassis_Private", "name", None),
                    },
                },
            )
            self._api = api_class(conn)
        except Exception as exc:
            # python-ovs reduces a failed TLS handshake to an errno ("Transport endpoint is
            # not connected"): ask OpenSSL what went wrong, so the one line logged says it.
            problem = self._tls_problem()
            if problem is not None:
                raise SbError(f"ovn_sb_connection {problem}") from exc
            raise SbError(f"ovn_sb_connection {remote}: cannot connect: {exc}") from exc
        logger.info("connected to the southbound database (%s)", remote)

    def _tls_problem(self) -> str | None:
        s = self._settings
        for r in s.ovn_sb_connection:
            if r.scheme != "ssl":
                continue
            problem = tls_problem(
                r.target, s.ovn_sb_private_key, s.ovn_sb_certificate, s.ovn_sb_ca_cert
            )
            if problem is not None:
                return f"{r}: {problem}"
        return None

    def close(self) -> None:
        if self._api is not None:
            self._api.ovsdb_connection.stop(timeout=5)
            self._api = None

    @property
    def connected(self) -> bool:
        return self._api is not None and self._api.idl.is_connected()

    def register(self, agent_id: str, bridge: str, nb_cfg: int) -> None:
        """Blocking. Raises SbError (for example while Chassis_Private does not exist yet)."""
        api = self._require()
        own = self._own
        try:
            with api.transaction(check_error=True) as txn:
                # "add": an existing agent id is never overwritten
                txn.add(
                    api.db_add(
                        "Chassis_Private",
                        own,
                        "external_ids",
                        {self._role.id_key: agent_id},
                    )
                )
                txn.add(
                    api.db_set(
                        "Chassis_Private",
                        own,
                        (
                            "external_ids",
                            {
                                registration.KEY_BRIDGE: bridge,
                                self._role.sb_cfg_key: str(nb_cfg),
                            },
                        ),
                        if_exists=False,
                    )
                )
                txn.add(
                    api.db_remove(
                        "Chassis_Private",
                        own,
                        "external_ids",
                        *self._role.foreign_keys,
                        if_exists=True,
                    )
                )
        except Exception as exc:
            raise SbError(f"Chassis_Private {own}: cannot register: {exc}") from exc

    def write_sb_cfg(self, nb_cfg: int) -> None:
        api = self._require()
        try:
            api.db_set(
                "Chassis_Private",
                self._own,
                ("external_ids", {self._role.sb_cfg_key: str(nb_cfg)}),
                if_exists=False,
            ).execute(check_error=True)
        except Exception as exc:
            raise SbError(f"Chassis_Private {self._own}: cannot write heartbeat: {exc}") from exc

    def _require(self) -> impl_idl.OvnSbApiIdlImpl:
        if self._api is None:
            raise SbError("southbound: not connected")
        return self._api


def tls_problem(target: str, key: str, cert: str, ca: str, timeout: float = 3.0) -> str | None:
    """Why a TLS session with `host:port` fails, in OpenSSL's words; None when it works or
    when the failure is not TLS (unreachable: the caller's own error says that)."""
    host, _, port = target.rpartition(":")
    host = host.strip("[]")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # as python-ovs: CA-verified, no hostname
    ctx.check_hostname = False
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_verify_locations(ca)
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        return f"cannot load the TLS files (key {key}, certificate {cert}, CA {ca}): {exc}"
    try:
        with (
            socket.create_connection((host, int(port)), timeout) as raw,
            ctx.wrap_socket(raw) as tls,
            contextlib.suppress(TimeoutError),
        ):
            # With TLS 1.3 the server checks our certificate after the handshake; its alert
            # comes with the first read. An OVSDB server then waits for us: a timeout is fine.
            tls.settimeout(0.5)
            tls.recv(1)
    except ssl.SSLCertVerificationError as exc:
        return f"TLS: the server's certificate does not verify with CA {ca}: {exc.verify_message}"
    except ssl.SSLError as exc:
        reason = (exc.reason or str(exc)).lower().replace("_", " ")
        if "alert" in reason:
            return f"TLS: the server rejected our certificate {cert} ({reason})"
        return f"TLS: {reason}"
    except OSError:
        return None
    return None
