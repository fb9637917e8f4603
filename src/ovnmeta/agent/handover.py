"""`ovnmeta agent --release`: hand a chassis back to upstream's agent without a failed guest
request (docs/migration.md, "The way back"). Run it first; then start upstream's agent.

What it works around, measured in tests/integration/test_migration_lab.py: upstream's agent
(neutron 29.0.0, both modes) binds `metadata_proxy_socket` (unlink, bind) at the start of its
start-up but accepts on it only at the very end (`UnixDomainMetadataProxy.run()` binds,
`wait()` = `serve_forever()` comes after the sync and the registration); meanwhile it starts
its per-network haproxies, which listen next to ovnmeta's edge (SO_REUSEPORT) and forward to
that path. A guest connection the kernel hands to one of them waits for upstream's start-up
to end: 5-9 s measured on this lab, past a guest's 10 s timeout on a busier host. So:

1. the edge never connects by the path: it uses the listener's second name, `<socket>.ovnmeta`
   (a hard link the socket holder makes when it binds, proxy/holder.py), so upstream taking
   the path over does not reach it;
2. wait for upstream's agent to bind the path (its inode changes); at once keep upstream's
   socket under a second name (`<socket>.upstream`) and put ovnmeta's back on the path:
   upstream's new haproxies (started seconds after the bind) are answered by ovnmeta;
3. wait until upstream answers on its socket and runs a haproxy for every network the edge
   serves; then upstream's socket goes back on the path (a rename: every new connection
   reaches upstream from then on, the edge's too), and what is already queued on ovnmeta's
   drains;
4. the agent releases (SIGUSR1, agent/main.py): its edge soft-stops while its proxy still
   answers (dataplane/handback.py), it exits; then the socket holder stops and the second
   name `<socket>.ovnmeta` is removed. Namespaces, veths and ports stay for upstream.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import time

from ovnmeta.agent import cleanup, healthcheck
from ovnmeta.agent.dataplane import edge_placement, handback, takeover
from ovnmeta.agent.proxy import holder, probe
from ovnmeta.agent.settings import Settings
from ovnmeta.core import procfs

logger = logging.getLogger(__name__)

UPSTREAM_BIND_WAIT_S = 600.0  # for the operator to start upstream's agent
UPSTREAM_READY_WAIT_S = 600.0  # upstream's start-up (tens of seconds on a busy host)
POLL_S = 0.005  # upstream's bind -> ovnmeta back on the path: measured 5-28 s apart here
DRAIN_S = 1.0  # ovnmeta's proxy accepts what was queued before the path went to upstream
PROBE_TIMEOUT_S = 2.0
UPSTREAM_PROBE_S = 30.0  # one probe waits this long in upstream's backlog, then another
PROBE_NETWORK = "00000000-0000-0000-0000-000000000000"  # no network served: any will do
PROBE_IP = "0.0.0.0"  # no port has it: upstream answers 404
AGENT_DRAIN_S = 15.0  # the agent's drain of its workers (main.DRAIN_TIMEOUT_S) and its exit
UPSTREAM_SUFFIX = ".upstream"


def release(settings: Settings) -> int:
    path = settings.proxy.metadata_proxy_socket
    agent = cleanup.agent_pid(settings.agent.status_file)
    if agent is None or not _ovnmeta_answers(path):
        logger.error(
            "%s: ovnmeta's agent must run and answer on it; run --release before "
            "upstream's agent starts (docs/migration.md)",
            path,
        )
        return 1
    ours, theirs = holder.edge_alias(path), path + UPSTREAM_SUFFIX
    if _inode(ours) != _inode(path):  # the edge's name for the listener (proxy.holder)
        holder.alias(path, ours)
    if not _swap_when_upstream_binds(path, ours, theirs):
        return 1
    if not _wait_upstream_ready(settings, theirs):
        return 1
    os.replace(theirs, path)
    logger.info("%s: upstream's socket back on the path", path)
    time.sleep(DRAIN_S)
    _release_agent(settings, agent)
    handback.soft_stop_edge(settings.edge)  # what the agent did not stop (none, normally)
    base = os.path.join(settings.agent.state_path, "ovnmeta")
    cleanup.stop_pidfile(os.path.join(base, "listener.pid"), settings.agent.state_path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(ours)
    logger.info("released: upstream's agent serves this chassis")
    return 0


def _ovnmeta_answers(path: str) -> bool:
    """The agent's backend probe (proxy/probe.py): only ovnmeta answers it with this body."""
    _, body, _ = healthcheck.http_unix(path, {probe.HEADER: probe.VALUE}, PROBE_TIMEOUT_S)
    return body.startswith("metadata backend")


def _inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


def _swap_when_upstream_binds(path: str, ours: str, theirs: str) -> bool:
    """Step 2: True once upstream's socket is `theirs` and ours is back on `path`."""
    mine = _inode(ours)
    logger.info("%s: waiting for upstream's agent to bind it (start it now)", path)
    deadline = time.monotonic() + UPSTREAM_BIND_WAIT_S
    while (now := _inode(path)) in (mine, None):
        if time.monotonic() > deadline:
            logger.error("%s: upstream's agent did not bind it; ovnmeta goes on serving", path)
            return False
        time.sleep(POLL_S)
    holder.alias(path, theirs)
    holder.alias(ours, path)
    logger.info("%s: upstream bound it (inode %d); ovnmeta's listener back on it", path, now)
    return True


def _wait_upstream_ready(settings: Settings, theirs: str) -> bool:
    """Step 3's wait: upstream has a haproxy per served network and answers on `theirs`."""
    networks = _served_networks(settings.edge.state_dir)
    pids_dir = settings.edge.upstream_pids
    deadline = time.monotonic() + UPSTREAM_READY_WAIT_S
    while (left := deadline - time.monotonic()) > 0:
        if any(takeover.upstream_pid(pids_dir, n) is None for n in networks):
            time.sleep(0.1)
            continue
        # One request waits in upstream's backlog until it serves (an answer of any status:
        # this address has no port). Without both headers upstream closes without an answer.
        headers = {
            "X-OVN-Network-ID": (networks or [PROBE_NETWORK])[0],
            "X-Forwarded-For": PROBE_IP,
        }
        status, _, error = healthcheck.http_unix(theirs, headers, min(left, UPSTREAM_PROBE_S))
        if status is not None:
            logger.info("upstream answers (%d) and serves %d networks", status, len(networks))
            return True
        logger.info("upstream's agent not answering yet: %s", error)
        if error and not error.startswith("no answer"):
            time.sleep(0.1)  # refused or closed at once: not a wait in its backlog
    logger.error(
        "upstream's agent not ready in %.0f s; ovnmeta goes on serving; stop upstream's agent, "
        "then remove %s",
        UPSTREAM_READY_WAIT_S,
        theirs,
    )
    return False


def _served_networks(state_dir: str) -> list[str]:
    """The networks both edge shards serve (their networks.json, dataplane/haproxy.py)."""
    found: list[str] = []
    for shard in edge_placement.SHARDS:
        try:
            with open(os.path.join(state_dir, edge_placement.networks_name(shard))) as f:
                found += list(json.load(f))
        except (OSError, ValueError):
            continue
    return sorted(found)


def _release_agent(settings: Settings, agent: int) -> None:
    """Step 4 (agent/main.py): SIGUSR1, then wait for its exit."""
    os.kill(agent, signal.SIGUSR1)
    deadline = time.monotonic() + handback.stop_timeout(settings.edge) + AGENT_DRAIN_S
    while procfs.alive(agent) and time.monotonic() < deadline:
        time.sleep(0.05)
    if procfs.alive(agent):
        handback.terminate(agent, "agent, not released in time")
    else:
        logger.info("agent %d released the edge and exited", agent)
