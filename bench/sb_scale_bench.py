"""What networks elsewhere in the cloud cost an agent (issue 14), on a 1+1 lab.

The compute serves one network (one instance). Then N more networks, each a switch with a
Neutron-style metadata localport and nothing on this compute, are written to the NB in one
transaction; the agent's RSS and CPU (utime + stime of /proc/<pid>/stat) are read before and
WINDOW_S seconds after. Also: bind -> first 200 for a network that gets its first local VIF
afterwards (its datapath enters the SB condition at that moment).
Usage: python bench/sb_scale_bench.py [NETWORKS]   (default 2000)
"""

import json
import os
import sys
import time
import uuid
from pathlib import Path

from agent_bench import first_ok_after_bind
from benchkit import Table

from ovnmeta.core.errors import LabError
from ovnmeta.lab import scale, services
from ovnmeta.lab.lab import Lab

WINDOW_S = 25.0
TICK = os.sysconf("SC_CLK_TCK")


def agent_process(lab: Lab) -> int:
    """The agent's python process (the pidfile may name the nsenter that started it)."""
    pid = lab.agent_pid(1)
    assert pid is not None, "no agent"
    for _ in range(3):
        if Path(f"/proc/{pid}/comm").read_text().strip() != "nsenter":
            return pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pid = int(children[0])
    return pid


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def wait_200(lab: Lab, vm: str, timeout: float = 60) -> None:
    url = "http://169.254.169.254/"
    argv = ["curl", "-s", "-o", "/dev/null", "-m", "2", "-w", "%{http_code}", url]
    deadline = time.monotonic() + timeout
    while True:
        try:
            if lab.run_in(vm, argv).strip() == "200":
                return
        except LabError:
            pass  # not served yet
        if time.monotonic() > deadline:
            raise TimeoutError(f"{vm}: no 200 within {timeout} s")
        time.sleep(0.05)


def main(networks: int) -> int:
    table = Table()
    lab = Lab("sbs" + uuid.uuid4().hex[:5])
    try:
        lab.up(controllers=1, computes=1)
        lab.create_network("home", ["10.0.0.0/24"])
        lab.create_network("later", ["10.0.0.0/24"])  # first_ok_after_bind's subnet
        lab.boot("vm1", "home", 1)
        wait_200(lab, "vm1")
        time.sleep(3)  # let start-up settle
        pid = agent_process(lab)
        rss0, cpu0 = rss_mb(pid), cpu_s(pid)
        nb = lab.northbound()
        before = scale.datapath_count(nb)
        t0 = time.monotonic()
        scale.create_remote_networks(nb, networks)
        table.row(f"{networks} networks: NB transaction", f"{time.monotonic() - t0:.1f} s")
        scale.wait_datapaths(nb, before + networks)
        table.row(f"{networks} networks: in the SB after", f"{time.monotonic() - t0:.1f} s")
        time.sleep(max(0.0, WINDOW_S - (time.monotonic() - t0)))
        rss1, cpu1 = rss_mb(pid), cpu_s(pid)
        table.row(
            "agent RSS before -> after",
            f"{rss0:.1f} -> {rss1:.1f} MB ({rss1 - rss0:+.1f})",
            "no growth",
        )
        table.row(f"agent CPU within {WINDOW_S:g} s", f"{cpu1 - cpu0:.2f} s", "~0 (nothing to do)")
        status = json.loads(
            services.agent_status_file(lab.dir, lab.topology().compute(1)).read_text()
        )
        table.row("agent SB index", json.dumps(status.get("sb_index", "n/a")))
        first = first_ok_after_bind(lab, "vm2", "later")
        table.row("first local VIF of a network: bind -> first 200", f"{first * 1000:.0f} ms")
        net = lab.state().networks["later"].id[:8]
        log = services.agent_log(lab.dir, lab.topology().compute(1)).read_text()
        # The agent's share: when the SB condition grew, when the network was served.
        for line in log.splitlines():
            if f"[net {net}] provisioned" in line or "SB condition" in line:
                table.row("  agent log", line[11:23] + " " + line.split(" ", 5)[-1])
    finally:
        lab.down()
    table.print()
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
