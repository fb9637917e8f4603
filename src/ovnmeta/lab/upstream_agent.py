"""Upstream's own metadata agent (PyPI neutron, pinned) on a lab compute, started and stopped
with full cleanup: the baseline of `make bench-upstream` and the other side of migrations.

Two upstream modes, each with its own ini file as a deployment would have:
- `metadata-agent`: `neutron-ovn-metadata-agent --config-file neutron_ovn_metadata_agent.ini`;
- `ovn-agent`: its successor, `neutron-ovn-agent --config-file ovn_agent.ini` with
  `[agent] extensions = metadata`.

How it runs (issue 10): from the cached venv of `lab.neutron_venv` (never the project's);
`[agent] root_helper = env`, so it runs as root without sudo and spawns `privsep-helper` from the
venv's bin directory (first on PATH); inside the compute's network namespace (where its
ovs-vswitchd plugs ports) and mount namespace (so its `ovnmeta-<net>` namespaces land in the
compute's own /run/netns), exactly as ovnmeta's agent does; `[ovs] ovsdb_connection` = the
compute's OVS DB socket, `[ovn] ovn_sb_connection = tcp:<ctl1>:6642`, the lab's metadata API as
`nova_metadata_host` and the lab's shared secret. Its `state_path` is
`<lab>/<cmpN>/upstream-<mode>/`, so every process it starts carries that directory in its
command line (the agent and its metadata workers, `privsep-helper --config-file ...`,
`haproxy -f <state>/ovn-metadata-proxy/<net>.conf`): that marker is how they are found and
stopped, by pid, and how a lab teardown catches them too. Debian's `iptables` must be
installed (scripts/setup does): the agent fills checksums with it on a netdev datapath.

Only one metadata agent may serve a compute: stop ovnmeta's first (`decommission_ovnmeta`, or
leave its data plane for upstream to adopt), and upstream's before ovnmeta starts again.

    from ovnmeta.lab.upstream_agent import UpstreamAgent, decommission_ovnmeta
    decommission_ovnmeta(lab, 1)             # ovnmeta's agent, edge and namespaces gone
    up = UpstreamAgent(lab, 1, mode="metadata-agent", workers=4)
    up.start()                               # returns the agent's pid
    up.wait_registered()                     # Chassis_Private row, UNIX socket listening
    up.wait_served({net.id})                 # a haproxy alive per network
    up.haproxy_pids()                        # {network id: pid}, from upstream's pid files
    up.haproxy_pidfile(net.id)               # <state>/external/pids/<net>.pid.haproxy
    up.processes()                           # every live pid of it (agent, workers, privsep,
                                             # haproxies): for RSS and CPU accounting
    up.stop()                                # SIGTERM, then SIGKILL by pid; haproxies,
                                             # privsep, namespaces and tap ports removed
    up.stop(leave_dataplane=True)            # agent and privsep only: namespaces, veths and
                                             # haproxies stay up for another agent to adopt
    up.kill()                                # kill -9 of the agent alone (a crash)

`stop()` is idempotent and safe to call when `start()` failed half-way. Without
`leave_dataplane`, it removes every `ovnmeta-*` namespace of the compute that was not there
when this object first started its agent, plus those it served (its haproxy pid files), with
their `tap<net>0` ports on br-int; namespaces another agent left for upstream to adopt are
therefore upstream's to remove once it has served them.
"""

import os
import re
import signal
import time
from collections.abc import Iterable
from pathlib import Path

from ovnmeta.core.errors import LabError, UsageError
from ovnmeta.core.procfs import alive, carries, cmdline, read_pid
from ovnmeta.lab import compute, neutron_venv, services
from ovnmeta.lab.lab import Lab
from ovnmeta.lab.proc import marked_pids, run, spawn, stop, wait_until
from ovnmeta.lab.topology import SB_CLIENT_PORT, Compute

MODES = ("metadata-agent", "ovn-agent")
_BINARY = {"metadata-agent": "neutron-ovn-metadata-agent", "ovn-agent": "neutron-ovn-agent"}
_INI = {"metadata-agent": "neutron_ovn_metadata_agent.ini", "ovn-agent": "ovn_agent.ini"}
# The Chassis_Private external_ids key each mode registers with (neutron's ovn constants).
REGISTRATION_KEY = {
    "metadata-agent": "neutron:ovn-metadata-id",
    "ovn-agent": "neutron:ovn-neutron-agent-id",
}
NS_PREFIX = "ovnmeta-"
_PIDFILE = re.compile(r"^([0-9a-f-]{36})\.pid\.haproxy$")


def veth_names(network_id: str) -> tuple[str, str]:
    """Upstream's veth pair for a network: `tap<first 10>0` on br-int, `...1` inside."""
    return f"tap{network_id[:10]}0", f"tap{network_id[:10]}1"


def render_ini(
    mode: str,
    *,
    state: Path,
    ovsdb: Path,
    sb_remote: str,
    api_host: str,
    api_port: int,
    secret: str,
    workers: int,
) -> str:
    """The ini file a deployment of `mode` would have, pointed at the lab."""
    if mode not in MODES:
        raise UsageError(f"unknown upstream mode {mode!r} (one of: {', '.join(MODES)})")
    extensions = "extensions = metadata\n" if mode == "ovn-agent" else ""
    return (
        "[DEFAULT]\n"
        f"state_path = {state}\n"
        f"metadata_proxy_socket = {state / 'metadata_proxy'}\n"
        f"nova_metadata_host = {api_host}\n"
        f"nova_metadata_port = {api_port}\n"
        f"metadata_proxy_shared_secret = {secret}\n"
        f"metadata_workers = {workers}\n"
        f"log_file = {state / 'agent.log'}\n"
        "[agent]\n"
        "root_helper = env\n"
        f"{extensions}"
        "[ovs]\n"
        f"ovsdb_connection = unix:{ovsdb}\n"
        "[ovn]\n"
        f"ovn_sb_connection = {sb_remote}\n"
    )


class UpstreamAgent:
    def __init__(
        self,
        lab: Lab,
        compute_ref: str | int = 1,
        mode: str = "metadata-agent",
        workers: int = 2,
        venv: neutron_venv.NeutronVenv | None = None,
    ) -> None:
        if mode not in MODES:
            raise UsageError(f"unknown upstream mode {mode!r} (one of: {', '.join(MODES)})")
        self.lab, self.mode, self.workers = lab, mode, workers
        self.compute: Compute = lab.topology().compute(compute_ref)
        self.state = compute.node_dir(lab.dir, self.compute) / f"upstream-{mode}"
        self.ini = self.state / _INI[mode]
        self.log = self.state / "agent.log"
        self._venv = venv
        self._pid: int | None = None
        self._namespaces_before: set[str] | None = None

    # --- start -------------------------------------------------------------------------

    @property
    def marker(self) -> str:
        """In the command line of every process this agent starts."""
        return str(self.state) + "/"

    @property
    def pid(self) -> int | None:
        pid = self._pid or read_pid(self.state / "agent.pid")
        # carries: nsenter execs the agent, and its command line reads empty meanwhile (taken
        # for an exit, twice today a loaded make test failed an upstream agent that ran)
        return pid if pid and carries(pid, self.marker) else None

    def start(self) -> int:
        """Write the ini file and start the agent; returns its pid (does not wait)."""
        if self.pid is not None:
            raise UsageError(f"upstream {self.mode} already runs on {self.compute.name}")
        venv = self._venv or neutron_venv.ensure()
        self.state.mkdir(parents=True, exist_ok=True)
        topo = self.lab.topology()
        self.ini.write_text(
            render_ini(
                self.mode,
                state=self.state,
                ovsdb=compute.db_sock(self.lab.dir, self.compute),
                sb_remote=f"tcp:{topo.controllers[0].ip}:{SB_CLIENT_PORT}",
                api_host=topo.controllers[0].ip,
                api_port=services.API_PORT,
                secret=services.write_secret(self.lab.dir),
                workers=self.workers,
            )
        )
        self.ini.chmod(0o600)
        if self._namespaces_before is None:  # what another agent left: not ours to remove
            self._namespaces_before = set(self.namespaces())
        argv = [str(venv.bin(_BINARY[self.mode])), "--config-file", str(self.ini)]
        path = f"{venv.root / 'bin'}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"
        self._pid = spawn(
            compute.nsenter_argv(self.lab.dir, self.compute, argv),
            pidfile=self.state / "agent.pid",
            log=self.state / "agent.stderr",
            env={"PATH": path},
        )
        return self._pid

    def wait_registered(self, timeout: float = 120) -> None:
        """Registered in its Chassis_Private row and listening on its UNIX socket."""
        key = REGISTRATION_KEY[self.mode]
        socket = self.state / "metadata_proxy"
        nb = self.lab.northbound()

        def registered() -> bool:
            self._check_running()
            ids = nb.sbctl(
                "--bare", "--columns=external_ids", "find", "Chassis_Private",
                f"name={self.compute.chassis}",
            )  # fmt: skip
            return key in ids and socket.exists()

        wait_until(f"upstream {self.mode} on {self.compute.name} to register", registered, timeout)

    def wait_served(self, networks: Iterable[str], timeout: float = 300) -> None:
        """Every network in `networks` (ids) has a live haproxy of this agent's."""
        want = set(networks)

        def served() -> bool:
            self._check_running()
            return want <= set(self.haproxy_pids())

        wait_until(f"upstream {self.mode} to serve {len(want)} networks", served, timeout, 0.05)

    # --- what runs ---------------------------------------------------------------------

    def haproxy_pidfile(self, network_id: str) -> Path:
        return self.state / "external" / "pids" / f"{network_id}.pid.haproxy"

    def haproxy_pids(self) -> dict[str, int]:
        """{network id: pid} of the live haproxies upstream's pid files name."""
        found: dict[str, int] = {}
        pids_dir = self.state / "external" / "pids"
        for entry in pids_dir.iterdir() if pids_dir.is_dir() else ():
            match = _PIDFILE.match(entry.name)
            pid = read_pid(entry) if match else None
            if match and pid and carries(pid, self.marker):
                found[match[1]] = pid
        return found

    def processes(self) -> list[int]:
        """Every live process of this agent: itself, its workers, privsep, haproxies. Not
        ovnmeta's own (agent, socket holder, edge haproxy): during an in-place migration they
        run on this agent's ini file and state path, so the marker alone would match them."""
        return sorted(p for p in marked_pids(self.marker) if not _ovnmeta_process(cmdline(p)))

    def namespaces(self) -> list[str]:
        """The compute's `ovnmeta-*` namespaces (its own /run/netns)."""
        own = compute.netns_dir(self.lab.dir, self.compute)
        return sorted(p.name for p in own.iterdir() if p.name.startswith(NS_PREFIX))

    def tap_ports(self) -> list[str]:
        """br-int ports named like upstream's metadata veths."""
        out = compute.vsctl(self.lab.dir, self.compute, "list-ports", "br-int")
        return sorted(p for p in out.split() if re.fullmatch(r"tap[0-9a-f-]{10}0", p))

    # --- stop --------------------------------------------------------------------------

    def kill(self) -> None:
        """kill -9 of the agent process alone, as a crash would (workers and the rest stay)."""
        pid = self.pid
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            wait_until("the upstream agent to die", lambda: not alive(pid), 15)

    def stop(self, leave_dataplane: bool = False, grace: float = 10.0) -> None:
        """SIGTERM the agent (SIGKILL after `grace`), then its other processes by pid; without
        `leave_dataplane` also its haproxies, namespaces and tap ports."""
        served = set(self.haproxy_pids())
        pid = self.pid
        if pid is not None:
            stop([pid], grace=grace)
        haproxies = set(self.haproxy_pids().values())
        deadline = time.monotonic() + 30
        while True:  # workers and privsep daemons exit with the agent; a straggler is killed
            left = [p for p in self.processes() if p not in haproxies or not leave_dataplane]
            if not left:
                break
            if time.monotonic() > deadline:
                raise LabError(
                    f"upstream {self.mode}: processes left after stop: "
                    + ", ".join(f"{p} ({cmdline(p)[:60]})" for p in left)
                )
            stop(left, grace=5.0)
        self._pid = None
        if leave_dataplane:
            return
        before = self._namespaces_before or set()
        doomed = {ns for ns in self.namespaces() if ns not in before}
        doomed |= {NS_PREFIX + net for net in served}
        for ns in sorted(doomed):
            self._remove_namespace(ns)

    def _remove_namespace(self, ns: str) -> None:
        outer, _ = veth_names(ns.removeprefix(NS_PREFIX))
        compute.vsctl(self.lab.dir, self.compute, "--if-exists", "del-port", "br-int", outer)
        on_compute = compute.nsenter_argv(self.lab.dir, self.compute, [])
        run([*on_compute, "ip", "link", "del", outer], check=False)
        run([*on_compute, "ip", "netns", "delete", ns], check=False)

    def _check_running(self) -> None:
        if self.pid is None:
            raise LabError(f"upstream {self.mode} on {self.compute.name} exited: {self._tail()}")

    def _tail(self) -> str:
        """Why it exited: the last error line of its log, else of its stderr (python
        warnings end up there, the traceback of a crash in the log), else their last lines."""
        last = []
        for path in (self.log, self.state / "agent.stderr"):
            lines = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
            errors = [ln for ln in lines if any(k in ln for k in ("ERROR", "CRITICAL", "Error"))]
            if errors:
                return errors[-1][-300:]
            last += lines[-1:]
        return " | ".join(ln[-200:] for ln in last) or "no output"


def _ovnmeta_process(argv: str) -> bool:
    return " -m ovnmeta" in argv or "/ovnmeta/edge/" in argv


def decommission_ovnmeta(lab: Lab, compute_ref: str | int = 1) -> None:
    """Stop ovnmeta's agent on a compute and remove its data plane (`ovnmeta agent --cleanup`:
    edge, socket holder, metadata ports, `ovnmeta-*` namespaces), so upstream starts clean."""
    lab.stop_agent(compute_ref)
    cmp = lab.topology().compute(compute_ref)
    etc = services.config_dir(lab.dir, cmp.name)
    lab.run_on_compute(
        compute_ref, [*services.OVNMETA, "agent", "--cleanup", "--config-dir", str(etc)], 120
    )
