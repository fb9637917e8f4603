"""How the SB's transport changes what one compute pays and what the SB leader does (issue 14
items 2 and 3): the same 3+1 lab four ways — direct TCP to the RAFT members, through SB
relays, over SSL, and SSL through relays — measured in one run, so the ratios against the
plain lab are what to compare.

Per way: lab up; agent cold start (nothing provisioned) -> the guest's first 200, with the
CPU the agent, the SB leader, all SB members and the relays spent in that time; the SB
leader's CPU while the agent idles (its heartbeat and monitors); with relays, the relay the
agent uses SIGKILLed under a polling guest -> the agent on another relay, and failed requests.
"""

import json
import subprocess
import sys
import time
from dataclasses import dataclass

from agent_bench import FIRST_OK, POLLER, PY
from benchkit import Table, agent_processes, cpu_seconds, lab_prefix

from ovnmeta.lab import services
from ovnmeta.lab.lab import Lab
from ovnmeta.lab.proc import wait_until

IDLE_WINDOW_S = 15.0
TABLE = Table()
row = TABLE.row


@dataclass(frozen=True)
class Way:
    label: str
    relays: int
    ssl: bool


WAYS = (
    Way("tcp to members", 0, False),
    Way("tcp via 2 relays", 2, False),
    Way("ssl to members", 0, True),
    Way("ssl via 2 relays", 2, True),
)


@dataclass
class Figures:
    up_s: float
    first_ok_s: float
    agent_cpu_s: float
    leader_cpu_s: float
    members_cpu_s: float
    relays_cpu_s: float
    idle_leader_ms_per_s: float
    idle_members_ms_per_s: float
    failover: str = ""


def sb_pids(lab: Lab) -> tuple[int, list[int], list[int]]:
    """The SB leader's pid, every SB member's and every relay's."""
    topo = lab.topology()
    leader = lab.leader("sb")
    assert leader is not None, "no SB leader"
    members = [lab.controller_db_pid(c.name, "sb") for c in topo.controllers]
    relays = [lab.relay_pid(r.name) for r in topo.relays]
    return (
        lab.controller_db_pid(leader, "sb") or 0,
        [p for p in members if p],
        [p for p in relays if p],
    )


def cold_start(lab: Lab, vm_ns: str) -> tuple[float, float, float, float, float]:
    """Agent start with nothing provisioned -> the guest's first 200; CPU seconds of the
    agent's processes, the SB leader, all members and the relays in that time."""
    lab.stop_agent(1)
    conf_dir = services.config_dir(lab.dir, "cmp1")
    lab.run_on_compute(
        1, [sys.executable, "-m", "ovnmeta", "agent", "--config-dir", str(conf_dir), "--cleanup"]
    )
    leader, members, relays = sb_pids(lab)
    poller = subprocess.Popen(
        ["ip", "netns", "exec", vm_ns, PY, "-c", FIRST_OK, "169.254.169.254", "60"],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5)  # the poller's own start-up is not the agent's
    before = [cpu_seconds([leader]), cpu_seconds(members), cpu_seconds(relays)]
    t0 = time.time()
    lab.start_agent(1)
    first = float(poller.communicate(timeout=90)[0] or "nan") - t0
    agent_cpu = cpu_seconds(agent_processes(lab))  # all of it is this start's
    after = [cpu_seconds([leader]), cpu_seconds(members), cpu_seconds(relays)]
    return first, agent_cpu, *(a - b for a, b in zip(after, before, strict=True))


def idle_cost(lab: Lab) -> tuple[float, float]:
    """SB leader and all members, CPU ms per second while the served agent idles."""
    time.sleep(3)  # the start's full sync and registration settle
    leader, members, _ = sb_pids(lab)
    before = cpu_seconds([leader]), cpu_seconds(members)
    time.sleep(IDLE_WINDOW_S)
    after = cpu_seconds([leader]), cpu_seconds(members)
    return tuple((a - b) * 1000 / IDLE_WINDOW_S for a, b in zip(after, before, strict=True))


def relay_failover(lab: Lab, vm_ns: str) -> str:
    """SIGKILL the relay the agent is on while the guest polls: seconds until the agent is
    connected through another relay, and the guest's answers meanwhile."""
    names = {r.port: r.name for r in lab.topology().relays}
    agent = lab.agent_pid(1)
    (port,) = lab.sb_peer_ports(1, pid=agent)
    poller = subprocess.Popen(
        ["ip", "netns", "exec", vm_ns, PY, "-c", POLLER, "169.254.169.254", "8"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.5)
        killed = time.monotonic()
        lab.stop_relay(names[port])
        others = set(names) - {port}
        wait_until(
            "the agent on another relay",
            lambda: (
                lab.sb_peer_ports(1, pid=agent) <= others and bool(lab.sb_peer_ports(1, pid=agent))
            ),
            30,
            0.02,
        )
        moved = time.monotonic() - killed
        counts = json.loads(poller.communicate(timeout=60)[0])
    finally:
        if poller.poll() is None:
            poller.kill()
        lab.start_relay(names[port])
    failed = sum(v for k, v in counts.items() if k != "200")
    return f"{moved:.2f} s; {failed} of {sum(counts.values())} guest requests failed"


def measure(way: Way) -> Figures:
    lab = Lab(lab_prefix("s"))
    try:
        t0 = time.monotonic()
        lab.up(controllers=3, computes=1, sb_relays=way.relays, ssl=way.ssl)
        up = time.monotonic() - t0
        lab.create_network("n0", ["10.0.0.0/24"])
        vm = lab.boot("vm", "n0", 1)
        first, agent_cpu, leader_cpu, members_cpu, relays_cpu = cold_start(lab, vm.netns)
        idle_leader, idle_members = idle_cost(lab)
        figures = Figures(
            up, first, agent_cpu, leader_cpu, members_cpu, relays_cpu, idle_leader, idle_members
        )
        if way.relays:
            figures.failover = relay_failover(lab, vm.netns)
        return figures
    finally:
        lab.down()


def ratio(value: float, base: float) -> str:
    return f"x{value / base:.2f}" if base > 0 else "-"


def main() -> int:
    print("scale-out benchmark: 3 controllers + 1 compute, four SB transports", file=sys.stderr)
    results = {}
    for way in WAYS:
        print(f"  {way.label} ...", file=sys.stderr)
        results[way] = measure(way)
    base = results[WAYS[0]]
    for way, f in results.items():
        same = way is WAYS[0]
        vs = "" if same else f"vs {WAYS[0].label}: "
        row(
            f"{way.label}: lab up 3+1",
            f"{f.up_s:.2f} s",
            "",
            "" if same else vs + ratio(f.up_s, base.up_s),
        )
        row(
            f"{way.label}: agent cold start -> first 200",
            f"{f.first_ok_s:.2f} s",
            "",
            "" if same else vs + ratio(f.first_ok_s, base.first_ok_s),
        )
        row(
            f"{way.label}: CPU in that start, agent / SB leader / all members / relays",
            f"{f.agent_cpu_s:.2f} / {f.leader_cpu_s:.2f} / {f.members_cpu_s:.2f} / "
            f"{f.relays_cpu_s:.2f} s",
        )
        row(
            f"{way.label}: agent idle, SB leader / all members CPU",
            f"{f.idle_leader_ms_per_s:.1f} / {f.idle_members_ms_per_s:.1f} ms/s",
        )
        if f.failover:
            row(
                f"{way.label}: agent's relay SIGKILLed -> agent on another relay",
                f.failover,
                "0 failed",
            )
    TABLE.print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
