"""`ovnmeta agent --cleanup`: take down what the agent leaves running on purpose.

The agent keeps the data plane up across its own restarts; decommissioning a chassis (or a lab
teardown) needs the opposite: stop the edge haproxy and the socket holder started with this
config (found by pid file, checked by command line), unplug the metadata ports and remove every
`ovnmeta-*` namespace.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time

from ovnmeta.agent.dataplane import (
    apply,
    edge_placement,
    haproxy,
    netns,
    observe,
    ovs,
    takeover,
)
from ovnmeta.agent.reconcile import plan
from ovnmeta.agent.settings import Settings
from ovnmeta.core import names, procfs
from ovnmeta.core.errors import OvnmetaError

logger = logging.getLogger(__name__)


STOP_PASSES = 5  # an agent stopping right now may still (re)start its edge once


def run(settings: Settings) -> int:
    base = os.path.join(settings.agent.state_path, "ovnmeta")
    # The agent first: while it runs, it restarts the edge and re-creates namespaces.
    _stop_agent(settings.agent.status_file)
    pidfiles = (*_edge_pidfiles(settings), os.path.join(base, "listener.pid"))
    for _ in range(STOP_PASSES):
        live = [f for f in pidfiles if _live(f)]
        if not live:
            break
        for pidfile in live:
            _stop(pidfile, settings.agent.state_path)
    for pid in _edge_stragglers(settings):
        _terminate(pid, "edge haproxy still finishing connections after a reload")
    switch = ovs.Ovs(settings.ovs)
    try:
        switch.connect()
        ports_of = switch.ports_of
    except OvnmetaError as exc:
        logger.warning("%s: OVS ports are left in place", exc)
        switch = None
        ports_of = _no_ports
    failures = 0
    for name in netns.list_names(names.NAMESPACE_PREFIX):
        try:
            seen = observe.observe(name, (), ports_of)
            apply.apply(plan.teardown(seen), switch or _NoPorts())
            logger.info("%s removed", name)
        except OvnmetaError as exc:
            failures += 1
            logger.error("%s", exc)
    if switch is not None:
        switch.close()
    return 1 if failures else 0


def release(settings: Settings) -> int:
    """`ovnmeta agent --release`: the way back to upstream's agent, which must already serve
    (its haproxies listen next to the edge, its agent took the socket path over). The agent
    stops; the edge gets haproxy's soft stop (SIGUSR1: close the listeners, finish what is in
    flight) after `tcp_migrate_req` is on in every `ovnmeta-*` namespace, so connections queued
    on the edge's listeners move to upstream's; then the holder stops. Namespaces, veths and
    ports are left as they are: upstream's agent uses the same ones."""
    _stop_agent(settings.agent.status_file)
    base = os.path.join(settings.agent.state_path, "ovnmeta")
    for name in netns.list_names(names.NAMESPACE_PREFIX):
        try:
            netns.in_namespace(name, takeover.allow_migration)
        except OSError as exc:
            logger.warning("%s: cannot enable tcp_migrate_req (%s)", name, exc)
    for pidfile in _edge_pidfiles(settings):
        edge = procfs.owned_pid(pidfile, settings.agent.state_path)
        if edge is None:
            continue
        os.kill(edge, signal.SIGUSR1)
        deadline = time.monotonic() + settings.edge.timeout_client + 5
        while procfs.alive(edge) and time.monotonic() < deadline:
            time.sleep(0.05)
        if procfs.alive(edge):
            _terminate(edge, "edge haproxy")
        logger.info("edge haproxy %d soft-stopped", edge)
    # The holder last: the socket path is upstream's now (it bound its own), so nothing new
    # queues on the holder's listener; it is not unlinked.
    _stop(os.path.join(base, "listener.pid"), settings.agent.state_path)
    return 0


def _edge_pidfiles(settings: Settings) -> list[str]:
    """Both edge shards' pid files (dataplane/edge_shards)."""
    d = settings.edge.state_dir
    return [os.path.join(d, edge_placement.pidfile_name(s)) for s in edge_placement.SHARDS]


def _edge_stragglers(settings: Settings) -> list[int]:
    """Older edge processes still serving the connections they had when a reload replaced
    them (no pid file names them; they run the shard's config)."""
    d = settings.edge.state_dir
    configs = [os.path.join(d, edge_placement.config_name(s)) for s in edge_placement.SHARDS]
    return [pid for cfg in configs for pid in haproxy.running(cfg)]


def _stop_agent(status_file: str) -> None:
    """The agent that wrote this config's status file, if it still runs (and is not us)."""
    try:
        with open(status_file) as f:
            pid = int(json.load(f).get("agent_pid") or 0)
    except (OSError, ValueError, AttributeError, TypeError):
        return
    if pid != os.getpid() and procfs.alive(pid) and "agent" in procfs.cmdline(pid).split():
        _terminate(pid, "agent")


def _live(pidfile: str) -> bool:
    return procfs.alive(procfs.read_pid(pidfile))


def _stop(pidfile: str, owner: str) -> None:
    pid = procfs.owned_pid(pidfile, owner)
    if pid is None:
        return
    _terminate(pid, os.path.basename(pidfile))


def _terminate(pid: int, what: str) -> None:
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while procfs.alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if procfs.alive(pid):
        os.kill(pid, signal.SIGKILL)
    logger.info("stopped pid %d (%s)", pid, what)


def _no_ports(_names) -> tuple:
    return ()


class _NoPorts:
    def plug(self, bridge: str, port: str, iface_id: str) -> None:
        raise AssertionError("cleanup never plugs")

    def unplug(self, bridge: str, port: str) -> None:
        pass
