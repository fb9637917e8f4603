"""In-place migration from upstream: retire the per-network haproxies an upstream agent left
running, once the edge serves their networks (docs/migration.md).

Upstream runs one haproxy per network inside `ovnmeta-<net>`, bound to 169.254.169.254:80 (and
`fe80::a9fe:a9fe:80` on `tap<net10>1`), its pid in `<external_pids>/<net>.pid.haproxy`. haproxy
binds its listeners with SO_REUSEPORT, and so does the edge: once the edge serves a network, both
listen on the same address and the kernel spreads new connections over them. Then the upstream
haproxy is retired:
1. `net.ipv4.tcp_migrate_req = 1` in the namespace (Linux 5.14+; it covers IPv6 too): when a
   listener of a SO_REUSEPORT group closes, the connections still in its accept queue move to
   another listener of the group (the edge's) instead of being reset;
2. SIGUSR1, haproxy's soft stop: it closes its listeners, finishes the requests in flight and
   exits;
3. its pid file is removed, so no agent (ovnmeta or upstream, after a migration back) takes the
   exiting process for a running proxy.

Only a process whose command line is a haproxy naming the network is signalled.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal

from ovnmeta.agent.dataplane import netns
from ovnmeta.core import procfs

logger = logging.getLogger(__name__)

PIDFILE_SUFFIX = ".pid.haproxy"
MIGRATE_REQ = "/proc/sys/net/ipv4/tcp_migrate_req"


def pidfile(pids_dir: str, network: str) -> str:
    return os.path.join(pids_dir, network + PIDFILE_SUFFIX)


def upstream_pid(pids_dir: str, network: str) -> int | None:
    """The live upstream haproxy of `network`, by its pid file and command line."""
    pid = procfs.read_pid(pidfile(pids_dir, network))
    if pid is None or not procfs.alive(pid):
        return None
    argv = procfs.cmdline(pid)
    return pid if "haproxy" in argv.split(" ", 1)[0] and network in argv else None


def allow_migration() -> None:
    """tcp_migrate_req on, for the namespace the calling thread is in."""
    with open(MIGRATE_REQ, "w") as f:
        f.write("1\n")


def retire(pids_dir: str, network: str, namespace: str) -> int | None:
    """Soft-stop upstream's haproxy of `network` (the edge must already listen); its pid, or
    None when there was none."""
    pid = upstream_pid(pids_dir, network)
    if pid is None:
        return None
    try:
        netns.in_namespace(namespace, allow_migration)
    except OSError as exc:  # an old kernel: queued connections may be reset, as on a reload
        logger.warning("%s: cannot enable tcp_migrate_req (%s)", namespace, exc)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGUSR1)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(pidfile(pids_dir, network))
    logger.info(
        "took the listeners of %s over from upstream's haproxy %d (soft stop)", namespace, pid
    )
    return pid


def retire_all(pids_dir: str, served: dict[str, str]) -> list[int]:
    """`served`: network -> namespace the edge listens in now. The pids soft-stopped."""
    # One listing per edge commit, not a pid-file read per served network: after a migration
    # the directory is empty while the edge may serve a thousand networks.
    try:
        names = os.listdir(pids_dir) if pids_dir else []
    except OSError:  # no upstream agent ever ran here
        return []
    left = {n[: -len(PIDFILE_SUFFIX)] for n in names if n.endswith(PIDFILE_SUFFIX)}
    done = []
    for network, namespace in sorted(served.items()):
        if network not in left:
            continue
        pid = retire(pids_dir, network, namespace)
        if pid is not None:
            done.append(pid)
    return done
