"""One edge haproxy (a shard of the edge, dataplane/edge_shards.py): start, adopt, reload.

Master-worker mode, daemonised into its own session, so it outlives agent restarts and keeps
guests served while the agent is away; on start the agent adopts it through the pid file under
state_path. A config change is checked (`haproxy -c`) and then applied with SIGUSR2 to the
master: new workers take the listening sockets over from the old ones, which finish their
connections, so reloads refuse nothing. A reload is done once the master's CLI lists a new
worker (it forks it after the listeners are bound): only then may another shard stop serving
a network this one took over.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import signal
import socket
import subprocess
import time
from collections.abc import Iterable

from ovnmeta.agent.dataplane import haproxy_conf
from ovnmeta.agent.dataplane.haproxy_conf import Frontend
from ovnmeta.agent.settings import EdgeSettings
from ovnmeta.core import procfs
from ovnmeta.core.errors import EdgeError
from ovnmeta.core.model import NetworkId

logger = logging.getLogger(__name__)


def fd_limit() -> int:
    """The hard RLIMIT_NOFILE haproxy inherits: the most descriptors it can raise itself to."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return 1 << 20 if hard == resource.RLIM_INFINITY else hard


RELOAD_TIMEOUT_S = 30  # a reload of 1,000 frontends takes 0.2-2 s on a busy 2-core host


class Edge:
    def __init__(self, settings: EdgeSettings, shard: str = "") -> None:
        """`shard`: the prefix of this haproxy's files in state_dir ("" for the main one)."""
        self._s = settings
        self.shard = shard
        self.label = shard.rstrip("-") or "main"  # in log lines
        self._fd_limit = fd_limit()
        self._clamped = False
        d = settings.state_dir
        self.config_path = os.path.join(d, f"{shard}haproxy.cfg")
        self.pid_path = os.path.join(d, f"{shard}haproxy.pid")
        self.master_socket = os.path.join(d, f"{shard}master.sock")
        self.networks_path = os.path.join(d, f"{shard}networks.json")
        self._text: str | None = None
        self._pid: int | None = None
        self.frontends: dict[NetworkId, Frontend] = {}  # what it serves (once apply returned)

    @property
    def pid(self) -> int | None:
        if self._pid is not None and procfs.alive(self._pid):
            return self._pid
        return None

    def read_pid(self) -> int | None:
        """The master pid if the pid file names a live haproxy running our config."""
        return procfs.owned_pid(self.pid_path, self.config_path)

    def adopt(self) -> dict[NetworkId, Frontend]:
        """Take over a running edge from a previous agent; returns the frontends it serves
        (empty if nothing to adopt)."""
        pid = self.read_pid()
        if pid is None:
            return {}
        self._pid = pid
        try:
            with open(self.config_path) as f:
                self._text = f.read()
            with open(self.networks_path) as f:
                raw = json.load(f)
            frontends = {
                NetworkId(net): Frontend(NetworkId(net), v["namespace"], v["interface"], v["ipv6"])
                for net, v in raw.items()
            }
        except (OSError, ValueError, KeyError, TypeError):
            logger.warning("edge haproxy %d adopted without a readable state; rewriting", pid)
            self._text = None
            return {}
        logger.info(
            "adopted edge haproxy (%s) %d serving %d networks", self.label, pid, len(frontends)
        )
        self.frontends = dict(frontends)
        return frontends

    def apply(self, frontends: Iterable[Frontend]) -> bool:
        """Make the edge serve exactly `frontends`; True if it had to change."""
        frontends = sorted(frontends)
        text = haproxy_conf.render(frontends, self._s, self._fd_limit, self.shard)
        if text == self._text and self.pid is not None:
            return False
        self._log_limits(haproxy_conf.limits(frontends, self._s, self._fd_limit))
        os.makedirs(self._s.state_dir, exist_ok=True)
        candidate = self.config_path + ".new"
        _write(candidate, text)
        started = time.monotonic()
        self._check(candidate)
        checked_ms = (time.monotonic() - started) * 1000
        os.replace(candidate, self.config_path)
        _write(
            self.networks_path,
            json.dumps(
                {
                    fe.network: {
                        "namespace": fe.namespace,
                        "interface": fe.interface,
                        "ipv6": fe.ipv6,
                    }
                    for fe in frontends
                },
                indent=1,
            ),
        )
        if self.pid is None:
            self._start()
        else:
            before = _workers(self.master_socket)
            os.kill(self._pid, signal.SIGUSR2)  # type: ignore[arg-type]
            self._wait_new_worker(before)
            logger.info(
                "edge haproxy (%s) %d reloaded: %d networks (config check %.0f ms, total %.0f ms)",
                self.label,
                self._pid,
                len(frontends),
                checked_ms,
                (time.monotonic() - started) * 1000,
            )
        self._text = text
        self.frontends = {fe.network: fe for fe in frontends}
        return True

    def _wait_new_worker(self, before: frozenset[int] | None) -> None:
        """Until the master lists a worker that was not there before the reload (its CLI is
        away while the master re-executes itself)."""
        deadline = time.monotonic() + RELOAD_TIMEOUT_S
        while time.monotonic() < deadline:
            now = _workers(self.master_socket)
            if now and (before is None or now - before):
                return
            if self.pid is None:
                raise EdgeError(f"edge haproxy ({self.label}): master died during a reload")
            time.sleep(0.005)
        raise EdgeError(
            f"edge haproxy ({self.label}): no new worker {RELOAD_TIMEOUT_S} s after a reload"
        )

    def _check(self, path: str) -> None:
        proc = subprocess.run(
            [self._s.haproxy_binary, "-c", "-q", "-f", path],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            detail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
            raise EdgeError(f"edge haproxy: new config refused: {detail}")

    def _start(self) -> None:
        for stale in (self.pid_path, self.master_socket):
            if os.path.exists(stale):
                os.unlink(stale)
        argv = [
            self._s.haproxy_binary,
            "-W",
            "-D",
            "-f",
            self.config_path,
            "-p",
            self.pid_path,
            "-S",
            f"{self.master_socket},mode,600",
        ]
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            check=False,
            start_new_session=True,  # its own session: it outlives the agent
            stdin=subprocess.DEVNULL,
        )
        if proc.returncode != 0:
            detail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
            raise EdgeError(f"edge haproxy: cannot start: {detail}")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            pid = self.read_pid()
            if pid is not None:
                self._pid = pid
                logger.info("edge haproxy (%s) started: master pid %d", self.label, pid)
                return
            time.sleep(0.01)
        raise EdgeError(f"edge haproxy: started but no live pid in {self.pid_path}")

    def _log_limits(self, lim: haproxy_conf.EdgeLimits) -> None:
        """Say once when the descriptor limit forces smaller per-network limits, and when
        that ends."""
        if lim.clamped and not self._clamped:
            logger.warning(
                "edge haproxy: %d connections per network instead of edge_network_maxconn "
                "%d: the hard open-files limit %d allows %d in all (raise LimitNOFILE)",
                lim.network_maxconn,
                self._s.network_maxconn,
                self._fd_limit,
                lim.maxconn,
            )
        elif self._clamped and not lim.clamped:
            logger.info("edge haproxy: edge_network_maxconn %d again", self._s.network_maxconn)
        self._clamped = lim.clamped


def _workers(master_socket: str) -> frozenset[int] | None:
    """Current worker pids from the master CLI's `show proc`; None while it does not answer."""
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(2)
            sock.connect(master_socket)
            sock.sendall(b"show proc\n")
            sock.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    except OSError:
        return None
    return parse_workers(b"".join(chunks).decode(errors="replace"))


def parse_workers(text: str) -> frozenset[int] | None:
    """The pids under `# workers` (not `# old workers`) of `show proc`'s answer."""
    if "# workers" not in text:
        return None
    section = text.split("# workers", 1)[1].split("#", 1)[0]
    return frozenset(
        int(fields[0])
        for line in section.splitlines()
        if (fields := line.split()) and fields[0].isdigit() and fields[1:2] == ["worker"]
    )


def _write(path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
