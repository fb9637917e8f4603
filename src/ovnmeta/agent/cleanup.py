"""`ovnmeta agent --cleanup`: take down what the agent leaves running on purpose.

The agent keeps the data plane up across its own restarts; decommissioning a chassis (or a lab
teardown) needs the opposite: stop the edge haproxy and the socket holder started with this
config (found by pid file, checked by command line), unplug the metadata ports and remove every
`ovnmeta-*` namespace.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os

from ovnmeta.agent.dataplane import apply, edge_placement, handback, haproxy, netns, observe, ovs
from ovnmeta.agent.proxy import holder
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
    pidfiles = (*handback.edge_pidfiles(settings.edge), os.path.join(base, "listener.pid"))
    for _ in range(STOP_PASSES):
        live = [f for f in pidfiles if _live(f)]
        if not live:
            break
        for pidfile in live:
            stop_pidfile(pidfile, settings.agent.state_path)
    for pid in _edge_stragglers(settings):
        handback.terminate(pid, "edge haproxy still finishing connections after a reload")
    with contextlib.suppress(FileNotFoundError):  # the edge's name for the listener
        os.unlink(holder.edge_alias(settings.proxy.metadata_proxy_socket))
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


def _edge_stragglers(settings: Settings) -> list[int]:
    """Older edge processes still serving the connections they had when a reload replaced
    them (no pid file names them; they run the shard's config)."""
    d = settings.edge.state_dir
    configs = [os.path.join(d, edge_placement.config_name(s)) for s in edge_placement.SHARDS]
    return [pid for cfg in configs for pid in haproxy.running(cfg)]


def agent_pid(status_file: str) -> int | None:
    """The agent that wrote this config's status file, if it still runs (and is not us)."""
    try:
        with open(status_file) as f:
            pid = int(json.load(f).get("agent_pid") or 0)
    except (OSError, ValueError, AttributeError, TypeError):
        return None
    if pid != os.getpid() and procfs.alive(pid) and "agent" in procfs.cmdline(pid).split():
        return pid
    return None


def _stop_agent(status_file: str) -> None:
    pid = agent_pid(status_file)
    if pid is not None:
        handback.terminate(pid, "agent")


def _live(pidfile: str) -> bool:
    return procfs.alive(procfs.read_pid(pidfile))


def stop_pidfile(pidfile: str, owner: str) -> None:
    pid = procfs.owned_pid(pidfile, owner)
    if pid is not None:
        handback.terminate(pid, os.path.basename(pidfile))


def _no_ports(_names) -> tuple:
    return ()


class _NoPorts:
    def plug(self, bridge: str, port: str, iface_id: str) -> None:
        raise AssertionError("cleanup never plugs")

    def unplug(self, bridge: str, port: str) -> None:
        pass
