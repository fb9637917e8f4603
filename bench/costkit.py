"""What a lab compute's processes spend, from the kernel: CPU and RSS from /proc, bytes received
on SB connections from TCP_INFO (`ss -ti` in the compute's namespace), and a wait until the
lab's own daemons are quiet. Used by bench/synthetic_cloud_bench.py."""

import contextlib
import re
import threading
import time
from pathlib import Path

from benchkit import agent_processes, cpu_seconds, in_ns

from ovnmeta.core.errors import LabError
from ovnmeta.lab.lab import Lab
from ovnmeta.lab.proc import marked_pids, wait_until
from ovnmeta.lab.topology import SB_CLIENT_PORT

_BYTES_RE = re.compile(r"bytes_received:(\d+)")
_PEER_RE = re.compile(r":(\d+)\s+users:")


def agent_pids(lab: Lab) -> list[int]:
    """The agent's processes on cmp1 (agent, socket holder, edge haproxy), by command line."""
    return agent_processes(lab)


def cpu_s(pids: list[int]) -> float:
    """utime + stime + cutime + cstime: a process's own CPU and that of children it reaped."""
    return cpu_seconds(pids, reaped_children=True)


def sb_sockets(lab: Lab, pids: list[int]) -> dict[str, int]:
    """bytes_received (TCP_INFO) of each SB connection of `pids`, by local address."""
    topo = lab.topology()
    # the members' port too: upstream's agent always connects to them
    ports = {r.rsplit(":", 1)[1] for r in topo.sb_client_remotes().split(",")}
    ports.add(str(SB_CLIENT_PORT))
    found = {}
    for line in in_ns(topo.compute(1).netns, "ss", "-tinpOH", "state", "established").splitlines():
        peer, received = _PEER_RE.search(line), _BYTES_RE.search(line)
        mine = any(f"pid={pid}," in line for pid in pids)
        if mine and peer and peer[1] in ports and received:
            found[line.split()[2]] = int(received[1])  # Recv-Q Send-Q Local Peer ...
    return found


def sb_bytes(lab: Lab, pids: int | list[int]) -> int:
    """bytes_received of the SB connections of `pids`, summed."""
    wanted = [pids] if isinstance(pids, int) else pids
    found = sb_sockets(lab, wanted)
    if not found:
        raise LabError(f"no SB connection of pids {wanted}")
    return sum(found.values())


class SocketMeter:
    """Samples the SB sockets of a process set while it starts: a connection that closes
    (a reconnect while it digests the dump) still counts with the last bytes seen."""

    def __init__(self, lab: Lab, pids) -> None:
        self._lab, self._pids = lab, pids
        self.seen: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.3):
            with contextlib.suppress(LabError, OSError):
                self.seen |= sb_sockets(self._lab, self._pids())

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        with contextlib.suppress(LabError, OSError):
            self.seen |= sb_sockets(self._lab, self._pids())
        return sum(self.seen.values())


def load() -> str:
    """The machine's load (other work shares it): the context of the wall-clock figures."""
    return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])


def quiet(lab: Lab, timeout: float = 180) -> float:
    """Until the lab's own daemons (SB servers, relays, northd, ovn-controller, vswitchd) use
    under 5 % of a core for 2 s, so a start is not measured while they still digest a
    change; returns the seconds waited."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        pids = [p for p in marked_pids(str(lab.dir) + "/") if p not in agent_pids(lab)]
        before = cpu_s(pids)
        time.sleep(2)
        if cpu_s(pids) - before < 0.1:
            break
    return time.monotonic() - t0


def leader_cpu(lab: Lab) -> float:
    pid = lab.controller_db_pid("ctl1", "sb")
    assert pid is not None, "no SB ovsdb-server"
    return cpu_s([pid])


def relays_cpu(lab: Lab) -> float:
    """The SB relays' CPU: they answer the agent's monitor and its condition changes."""
    pids = [lab.relay_pid(r.index) for r in lab.topology().relays]
    return cpu_s([p for p in pids if p is not None])


def main_pid(pid: int, timeout: float = 30) -> int:
    """The agent itself below the nsenter that started it: nsenter execs in place or forks,
    and either may not have happened yet when the pid is read."""

    def below() -> int | None:
        current = pid
        for _ in range(3):
            if Path(f"/proc/{current}/comm").read_text().strip() != "nsenter":
                return current
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
            if not children:
                return None
            current = int(children[0])
        return None

    return wait_until(f"the process below nsenter {pid}", below, timeout)
