"""The way back to upstream's agent (docs/migration.md): soft-stop every shard of the edge so
that upstream's per-network haproxies, already listening next to it, take every guest
connection, and none is lost on the way.

Why the agent itself does this before its proxy stops (`ovnmeta agent --release` asks it to,
agent/handover.py): a request the edge accepted is forwarded to the agent's socket. Were the
agent gone first, a guest connection the kernel handed to the edge in that moment would wait
in the socket's backlog with nobody to answer, until the guest gives up (measured: one request
per migration, 60 ms after the agent stopped, waited out its 10 s timeout). So, in order:
1. `net.ipv4.tcp_migrate_req = 1` in every `ovnmeta-*` namespace: a connection still queued on
   a closing listener of a SO_REUSEPORT group moves to another listener of the group
   (upstream's haproxy) instead of being reset (Linux 5.14+, IPv6 too);
2. SIGUSR1 to each shard's haproxy (its soft stop: the listeners close, the requests in
   flight finish, through the agent that still serves);
3. wait until they exited; a shard still there after the longest request could take is stopped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable

from ovnmeta.agent.dataplane import edge_placement, netns, takeover
from ovnmeta.agent.settings import EdgeSettings
from ovnmeta.core import names, procfs

logger = logging.getLogger(__name__)

GRACE_S = 5.0  # beyond the edge's own timeouts


def edge_pidfiles(settings: EdgeSettings) -> list[str]:
    """Both edge shards' pid files (dataplane/edge_shards)."""
    d = settings.state_dir
    return [os.path.join(d, edge_placement.pidfile_name(s)) for s in edge_placement.SHARDS]


def stop_timeout(settings: EdgeSettings) -> float:
    """The longest a soft-stopped shard may take: its slowest request, plus a grace."""
    return max(settings.timeout_client, settings.timeout_server) + GRACE_S


def allow_migration_everywhere() -> None:
    """tcp_migrate_req on in every `ovnmeta-*` namespace."""
    for name in netns.list_names(names.NAMESPACE_PREFIX):
        try:
            netns.in_namespace(name, takeover.allow_migration)
        except OSError as exc:  # an old kernel: queued connections may be reset
            logger.warning("%s: cannot enable tcp_migrate_req (%s)", name, exc)


def soft_stop_edge(
    settings: EdgeSettings, allow_migration: Callable[[], None] = allow_migration_everywhere
) -> list[int]:
    """Steps 1-3 for every live shard (all signalled first, so they close together); the
    shards' pids stopped."""
    shards = [
        pid
        for f in edge_pidfiles(settings)
        if (pid := procfs.owned_pid(f, settings.state_dir)) is not None
    ]
    if not shards:
        return []
    allow_migration()
    started = time.monotonic()
    for pid in shards:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGUSR1)
    deadline = started + stop_timeout(settings)
    while any(procfs.alive(p) for p in shards) and time.monotonic() < deadline:
        time.sleep(0.02)
    for pid in shards:
        if procfs.alive(pid):
            terminate(pid, "edge haproxy")
    logger.info(
        "edge haproxy %s soft-stopped in %.0f ms",
        ", ".join(map(str, shards)),
        (time.monotonic() - started) * 1000,
    )
    return shards


def terminate(pid: int, what: str, grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while procfs.alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if procfs.alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    logger.info("stopped pid %d (%s)", pid, what)
