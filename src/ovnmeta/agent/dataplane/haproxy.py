"""One edge haproxy (a shard of the edge, dataplane/edge_shards.py): start, adopt, reload.

Master-worker mode, daemonised into its own session, so it outlives agent restarts and keeps
guests served while the agent is away; on start the agent adopts it through the pid file under
state_path. A config change is applied with SIGUSR2 to the master: new workers take the
listening sockets over from the old ones, which finish their connections, so reloads refuse
nothing. A reload is done once the master's CLI lists a new
worker (it forks it after the listeners are bound): only then may another shard stop serving
a network this one took over. A config the master refuses leaves the old workers serving.
"""

from __future__ import annotations

import json
import logging
import os
import re
import resource
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ovnmeta.agent.dataplane import edge_placement, haproxy_conf
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
    def __init__(
        self,
        settings: EdgeSettings,
        shard: str = "",
        on_restart: Callable[[], None] = lambda: None,
    ) -> None:
        """`shard`: the prefix of this haproxy's files in state_dir ("" for the main one).
        `on_restart` is called when the edge this agent started or adopted had died and a
        new one is started (the first start of an agent's life is not a restart)."""
        self._s = settings
        self.shard = shard
        self.label = shard.rstrip("-") or "main"  # in log lines
        self._on_restart = on_restart
        self._fd_limit = fd_limit()
        self._clamped = False
        d = settings.state_dir
        self.config_path = os.path.join(d, f"{shard}haproxy.cfg")
        self.pid_path = os.path.join(d, edge_placement.pidfile_name(shard))
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
        started = time.monotonic()
        if self.pid is None:
            candidate = self.config_path + ".new"
            _write(candidate, text)
            self._check(candidate)
            os.replace(candidate, self.config_path)
            self._start()
        else:
            self._reload(text)
            logger.info(
                "edge haproxy (%s) %d reloaded: %d networks in %.0f ms",
                self.label,
                self._pid,
                len(frontends),
                (time.monotonic() - started) * 1000,
            )
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
        self._text = text
        self.frontends = {fe.network: fe for fe in frontends}
        return True

    def _reload(self, text: str) -> None:
        """SIGUSR2 with the new config in place, then wait for the master's verdict on its CLI:
        a new worker (forked once the listeners are bound), or a failed reload, after which
        the old workers go on serving the old config. No `haproxy -c` first: the master
        checks the config as it re-executes itself, and a second parse on every change cost
        about as much as the reload (50 ms idle, 100-400 ms on a busy host); `-c` runs only
        for a refused config, for its reason."""
        before = self._proc()
        previous = self._text
        _write(self.config_path, text)
        os.kill(self._pid, signal.SIGUSR2)  # type: ignore[arg-type]
        deadline = time.monotonic() + RELOAD_TIMEOUT_S
        while time.monotonic() < deadline:
            now = _proc(self.master_socket)  # None while the master re-executes itself
            if now is not None and now.reloads > before.reloads:
                if now.workers - before.workers:
                    return
                if now.failed:
                    self._refused(text, previous)
            if self.pid is None:
                raise EdgeError(f"edge haproxy ({self.label}): master died during a reload")
            time.sleep(0.005)
        raise EdgeError(
            f"edge haproxy ({self.label}): no new worker {RELOAD_TIMEOUT_S} s after a reload"
        )

    def _proc(self) -> Proc:
        """The master's state before a reload (it answers at once unless it is reloading)."""
        deadline = time.monotonic() + RELOAD_TIMEOUT_S
        while (proc := _proc(self.master_socket)) is None:
            if time.monotonic() > deadline or self.pid is None:
                raise EdgeError(f"edge haproxy ({self.label}): master CLI not answering")
            time.sleep(0.01)
        return proc

    def _refused(self, text: str, previous: str | None) -> None:
        """The master kept the old workers: put their config back and say why."""
        if previous is not None:
            _write(self.config_path, previous)
        refused = self.config_path + ".refused"
        _write(refused, text)
        self._check(refused)
        raise EdgeError(f"edge haproxy ({self.label}): new config refused (see {refused})")

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
                logger.info("edge haproxy (%s) started: master pid %d", self.label, pid)
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


@dataclass(frozen=True, slots=True)
class Proc:
    reloads: int  # of the master
    failed: int  # failed reloads since the last good one
    workers: frozenset[int]  # current (not old) worker pids


def _proc(master_socket: str) -> Proc | None:
    """The master CLI's `show proc`; None while it does not answer."""
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
    return parse_proc(b"".join(chunks).decode(errors="replace"))


def parse_proc(text: str) -> Proc | None:
    """The master's reload counters and the pids under `# workers` (not `# old workers`)."""
    master = re.search(r"^\d+\s+master\s+(\d+)\s+\[failed:\s*(\d+)\]", text, re.MULTILINE)
    if master is None or "# workers" not in text:
        return None
    section = text.split("# workers", 1)[1].split("#", 1)[0]
    workers = frozenset(
        int(fields[0])
        for line in section.splitlines()
        if (fields := line.split()) and fields[0].isdigit() and fields[1:2] == ["worker"]
    )
    return Proc(int(master[1]), int(master[2]), workers)


def _write(path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
