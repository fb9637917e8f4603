"""The one edge haproxy for every network on this chassis: start, adopt, reload.

Master-worker mode, daemonised into its own session, so it outlives agent restarts and keeps
guests served while the agent is away; on start the agent adopts it through the pid file under
state_path. A config change is checked (`haproxy -c`) and then applied with SIGUSR2 to the
master: new workers take the listening sockets over from the old ones, which finish their
connections, so reloads refuse nothing.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import signal
import subprocess
import time
from collections.abc import Callable, Iterable

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


class Edge:
    def __init__(
        self, settings: EdgeSettings, on_restart: Callable[[], None] = lambda: None
    ) -> None:
        """`on_restart` is called when the edge this agent started or adopted had died and a
        new one is started (the first start of an agent's life is not a restart)."""
        self._s = settings
        self._on_restart = on_restart
        self._fd_limit = fd_limit()
        self._clamped = False
        d = settings.state_dir
        self.config_path = os.path.join(d, "haproxy.cfg")
        self.pid_path = os.path.join(d, "haproxy.pid")
        self.master_socket = os.path.join(d, "master.sock")
        self.networks_path = os.path.join(d, "networks.json")
        self._text: str | None = None
        self._pid: int | None = None

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
        logger.info("adopted edge haproxy %d serving %d networks", pid, len(frontends))
        return frontends

    def apply(self, frontends: Iterable[Frontend]) -> bool:
        """Make the edge serve exactly `frontends`; True if it had to change."""
        frontends = sorted(frontends)
        text = haproxy_conf.render(frontends, self._s, self._fd_limit)
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
            os.kill(self._pid, signal.SIGUSR2)  # type: ignore[arg-type]
            logger.info(
                "edge haproxy %d reloaded: %d networks (config check %.0f ms)",
                self._pid,
                len(frontends),
                checked_ms,
            )
        self._text = text
        return True

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
        restart = self._pid is not None
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
                logger.info("edge haproxy started: master pid %d", pid)
                if restart:
                    self._on_restart()
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


def _write(path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
