"""`ovnmeta agent --cleanup`: take down what the agent leaves running on purpose.

The agent keeps the data plane up across its own restarts; decommissioning a chassis (or a lab
teardown) needs the opposite: stop the edge haproxy and the socket holder started with this
config (found by pid file, checked by command line), unplug the metadata ports and remove every
`ovnmeta-*` namespace.
"""

from __future__ import annotations

import logging
import os
import signal
import time

from ovnmeta.agent.dataplane import apply, netns, observe, ovs
from ovnmeta.agent.reconcile import plan
from ovnmeta.agent.settings import Settings
from ovnmeta.core import names, procfs
from ovnmeta.core.errors import OvnmetaError

logger = logging.getLogger(__name__)


def run(settings: Settings) -> int:
    base = os.path.join(settings.agent.state_path, "ovnmeta")
    for pidfile in (
        os.path.join(settings.edge.state_dir, "haproxy.pid"),
        os.path.join(base, "listener.pid"),
    ):
        _stop(pidfile, settings.agent.state_path)
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


def _stop(pidfile: str, owner: str) -> None:
    pid = procfs.owned_pid(pidfile, owner)
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while procfs.alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if procfs.alive(pid):
        os.kill(pid, signal.SIGKILL)
    logger.info("stopped pid %d (%s)", pid, os.path.basename(pidfile))


def _no_ports(_names) -> tuple:
    return ()


class _NoPorts:
    def plug(self, bridge: str, port: str, iface_id: str) -> None:
        raise AssertionError("cleanup never plugs")

    def unplug(self, bridge: str, port: str) -> None:
        pass
