"""One edge haproxy (a shard of the edge, dataplane/edge_shards.py): start, adopt, reload.

One haproxy process per shard, no master: daemonised into its own session, so it outlives
agent restarts and keeps guests served while the agent is away; on start the agent adopts it
through the pid file under state_path. A config change starts a new process on the new config
that takes the listening sockets over from the running one through its stats socket (`-x`,
`expose-fd listeners`) and, once it has bound every listener, tells it to finish its
connections and leave (`-sf`): reloads refuse nothing. `haproxy -D` returns only after that,
so a reload is done when the command returns: only then may another shard stop serving a
network this one took over. A config haproxy refuses leaves the running process serving.
A master process (`-W`) would do the same for ~13 MB more per shard (docs/agent.md).
"""

from __future__ import annotations

import json
import logging
import os
import resource
import subprocess
import time
from collections.abc import Callable, Iterable

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


# A start or reload of 1,000 frontends takes 0.2-2 s on a busy 2-core host; past this the
# new process is taken for hung (it is then killed, the running one keeps serving).
START_TIMEOUT_S = 60


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
        self.config_path = os.path.join(d, edge_placement.config_name(shard))
        self.pid_path = os.path.join(d, edge_placement.pidfile_name(shard))
        self.stats_socket = os.path.join(d, haproxy_conf.stats_socket_name(shard))
        self.networks_path = os.path.join(d, edge_placement.networks_name(shard))
        self._text: str | None = None
        self._pid: int | None = None
        # While a reload runs, the process it replaces may leave before the new pid is known:
        # the edge is not down meanwhile (the supervisor must not restart it).
        self._reloading = False
        self.frontends: dict[NetworkId, Frontend] = {}  # what it serves (once apply returned)
        # ... as this process last rendered it (not set by adopt: the adopted text may come
        # from other settings, so the first apply after a restart renders and compares)
        self._applied: list[Frontend] | None = None

    @property
    def pid(self) -> int | None:
        if self._pid is not None and (self._reloading or procfs.alive(self._pid)):
            return self._pid
        if self._pid is not None and (pid := self.read_pid()) is not None:
            self._pid = pid  # reloaded by someone else, the same way (-p our pid file)
            return pid
        return None

    def read_pid(self) -> int | None:
        """The pid if the pid file names a live haproxy running our config."""
        return procfs.owned_pid(self.pid_path, self.config_path)

    def processes(self) -> list[int]:
        """Every live haproxy on this shard's config: the current one and any older one
        still finishing its connections after a reload (haproxy's hard-stop-after bounds it)."""
        return running(self.config_path)

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
        if frontends == self._applied and self.pid is not None:
            # What this process last rendered, from the same settings: the same text. Main
            # is offered its frontends on every commit; rendering 1,000 of them to compare
            # was a few ms of the GIL per new network, more on a busy host.
            return False
        text = haproxy_conf.render(frontends, self._s, self._fd_limit, self.shard)
        if text == self._text and self.pid is not None:
            return False
        self._log_limits(haproxy_conf.limits(frontends, self._s, self._fd_limit))
        os.makedirs(self._s.state_dir, exist_ok=True)
        started = time.monotonic()
        old = self.pid
        restart = old is None and self._pid is not None
        self._spawn(text, old)
        if old is None:
            logger.info("edge haproxy (%s) started: pid %d", self.label, self._pid)
            if restart:
                self._on_restart()
        else:
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
        self._applied = frontends
        self.frontends = {fe.network: fe for fe in frontends}
        return True

    def _spawn(self, text: str, old: int | None) -> None:
        """Start a haproxy on `text`; with `old` running, take its listeners over (-x) and
        tell it to finish and leave (-sf) once every listener is bound. No `haproxy -c` first:
        the new process checks the config as it starts, and a second parse on every change
        cost about as much as the reload (50 ms idle, 100-400 ms on a busy host). A refused
        config puts the running one's file back; that process never heard of the new one."""
        previous = self._text
        _write(self.config_path, text)
        pidfile = self.pid_path + ".new"  # haproxy truncates its pid file before it binds
        if os.path.exists(pidfile):
            os.unlink(pidfile)
        argv = [self._s.haproxy_binary, "-D", "-f", self.config_path, "-p", pidfile]
        if old is not None:
            argv += ["-x", self.stats_socket, "-sf", str(old)]
        self._reloading = old is not None
        try:
            proc = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                check=False,
                start_new_session=True,  # its own session: it outlives the agent
                stdin=subprocess.DEVNULL,
                timeout=START_TIMEOUT_S,
            )
            pid = procfs.read_pid(pidfile) if proc.returncode == 0 else None
            if pid is None:
                self._refused(text, previous, old, proc.stdout + proc.stderr)
            os.replace(pidfile, self.pid_path)
            self._pid = pid
        except subprocess.TimeoutExpired as exc:
            self._refused(text, previous, old, f"no answer in {exc.timeout:.0f} s")
        finally:
            self._reloading = False

    def _refused(self, text: str, previous: str | None, old: int | None, output: str) -> None:
        """The running process (if any) keeps serving: put its config back and say why."""
        if old is not None and previous is not None:
            _write(self.config_path, previous)
        refused = self.config_path + ".refused"
        _write(refused, text)
        detail = " | ".join(output.strip().splitlines()[-3:])
        what = "new config refused" if old is not None else "cannot start"
        raise EdgeError(f"edge haproxy ({self.label}): {what} (see {refused}): {detail}")

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


def running(config_path: str) -> list[int]:
    """Live haproxy processes whose command line runs `config_path` (`-f <path> `)."""
    marker = f" -f {config_path} "
    return [
        pid for pid in procfs.pids() if marker in procfs.cmdline(pid) + " " and procfs.alive(pid)
    ]


def _write(path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
