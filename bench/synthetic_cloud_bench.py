"""What the rest of a cloud costs one real compute's agent (issue 14, item 4), on a 1+1 lab
whose agent talks to an SB relay (--sb-relays 1, the default).

The real compute serves --local networks (default 6: one guest, the others bound VIFs without
a guest; beyond 6 they are bound in bulk as OVS dummy VIFs, Lab.bound_networks).
Measured in one run, in this order:
1. no cloud: a network gets its first local VIF -> the guest's first 200; agent restarts ->
   all served, with RSS, CPU and the SB bytes its connection received (medians of STARTS);
   upstream's neutron-ovn-metadata-agent in its place, the same figures;
2. ELSEWHERE networks (a switch with a Neutron-style localport each, nothing on this compute)
   written to the NB in one transaction, through northd: the agent's CPU and SB bytes within
   WINDOW_S (this was bench/sb_scale_bench.py);
3. northd paused, then the synthetic cloud written straight into the SB (`lab.cloud_rows`):
   foreign Chassis / Chassis_Private / Encap rows, a Datapath_Binding and localport per network,
   VIF Port_Bindings bound to the foreign chassis (docs/agent.md, "The rest of the cloud");
4. with the cloud: the restarts of 1 again (ratios against them); CHANGES foreign ports
   rebound to another foreign chassis (one transaction each, as ovn-controllers write them),
   through the relay and with the agent connected to the RAFT member; upstream's agent again;
   ELSEWHERE more networks written into the SB.
What processes spend comes from the kernel (bench/costkit.py): CPU and RSS from /proc, SB
bytes from TCP_INFO of their SB sockets; the SB leader's ovsdb-server likewise.
Usage: python bench/synthetic_cloud_bench.py [--quick] [--networks N] [--ports P] [--chassis C]
       [--elsewhere N] [--changes N] [--sb-relays N] [--no-upstream] [--keep-log PATH] [--local N]
"""

import argparse
import dataclasses
import json
import re
import signal
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from agent_bench import READY_RE, SYNC_RE, first_ok_after_bind
from benchkit import Table, lab_prefix, log_time, rss_mb
from costkit import (
    SocketMeter,
    agent_pids,
    cpu_s,
    leader_cpu,
    load,
    main_pid,
    quiet,
    relays_cpu,
    sb_bytes,
)

from ovnmeta.core.errors import LabError
from ovnmeta.lab import cloud_rows, compute, scale, services, upstream_agent
from ovnmeta.lab.lab import Lab
from ovnmeta.lab.proc import wait_until

WINDOW_S = 25.0  # how long the agent is watched after a burst of networks elsewhere
SETTLE_S = 5.0  # after "all served", before a start's RSS and CPU are read
STARTS = 3  # agent restarts per case; each figure is their median
UPSTREAM_CHANGES = 200  # foreign port changes while upstream's agent runs
LOCAL = 6  # networks the real compute serves (the guest's, 4 bound VIFs, the first-VIF one)
BULK_BATCH = 50  # networks per NB / OVS transaction beyond LOCAL (Lab.bound_networks)
SB_TABLES = ("Chassis", "Chassis_Private", "Encap", "Datapath_Binding", "Port_Binding")

TABLE = Table()
row = TABLE.row


def status(lab: Lab) -> dict:
    path = services.agent_status_file(lab.dir, lab.topology().compute(1))
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def local_count(lab: Lab) -> int:
    """The networks the real compute serves: every network of the lab's state is on cmp1."""
    return len(lab.state().networks)


def served(st: dict) -> int:
    return sum(1 for n in st.get("networks", []) if n.get("served"))


@dataclass
class Start:
    seconds: float  # start -> every local network served (status file)
    ready: float  # the agent's own "ready in" (its clock, after the interpreter's imports)
    sync: float  # the agent's own first full sync, ms
    rss: float  # the agent's own process, MB, SETTLE_S after
    rss_all: float  # all its processes
    cpu: float  # the new agent process's CPU until SETTLE_S after
    sb_bytes: float
    leader_cpu: float
    relay_cpu: float
    ovsdb: float  # ms, the agent's start -> local OVSDB monitored and its identity read
    sb_connect: float  # ms, then -> SB connected (schema, _Server, the first monitor round)
    sb_rounds: float  # ms, then -> SB loaded (the condition rounds: chassis, local datapaths)
    index: dict


# What the agent logs as a start goes on (agent/main.py, agent/sb/), for the phases above.
STAMP = r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \d+ \w+ \S+ "
PHASES = {
    "identity": re.compile(STAMP + r"chassis \S+, integration bridge", re.M),
    "connected": re.compile(STAMP + r"connected to the southbound database", re.M),
    "loaded": re.compile(STAMP + r"southbound loaded", re.M),
    "ready": re.compile(STAMP + r"agent ready in ([0-9.]+)s", re.M),
}


def phases(text: str) -> tuple[float, float, float]:
    """(ovsdb, sb_connect, sb_rounds) in ms from one start's log; nan where a line is missing."""
    found = {name: rx.search(text) for name, rx in PHASES.items()}
    if not all(found.values()):
        return (float("nan"),) * 3

    def at(name: str) -> float:
        return log_time(found[name][1]) * 1000

    began = at("ready") - float(found["ready"][2]) * 1000
    return (
        at("identity") - began,
        at("connected") - at("identity"),
        at("loaded") - at("connected"),
    )


def measure_start(lab: Lab) -> Start:
    old = status(lab).get("agent_pid")
    local = local_count(lab)
    since = len(lab.agent_log(1))
    lab.stop_agent(1, signal.SIGTERM)
    leader0, relay0 = leader_cpu(lab), relays_cpu(lab)
    t0 = time.monotonic()
    lab.start_agent(1)

    def all_served() -> bool:
        st = status(lab)
        return st.get("agent_pid") not in (None, old) and served(st) >= local

    wait_until(f"{local} networks served", all_served, 120, 0.02)
    seconds = time.monotonic() - t0
    time.sleep(SETTLE_S)
    st = status(lab)
    pid = int(st["agent_pid"])
    text = lab.agent_log(1)[since:]
    ready, sync = READY_RE.search(text), SYNC_RE.search(text)
    ovsdb, sb_connect, sb_rounds = phases(text)
    return Start(
        seconds=seconds,
        ready=float(ready[1]) if ready else float("nan"),
        sync=float(sync[2]) if sync else float("nan"),
        rss=rss_mb([pid]),
        rss_all=rss_mb(agent_pids(lab)),
        cpu=cpu_s([pid]),
        sb_bytes=sb_bytes(lab, pid),
        leader_cpu=leader_cpu(lab) - leader0,
        relay_cpu=relays_cpu(lab) - relay0,
        ovsdb=ovsdb,
        sb_connect=sb_connect,
        sb_rounds=sb_rounds,
        index=st.get("sb_index", {}),
    )


def median_start(lab: Lab, times: int) -> Start:
    """The median of each figure over `times` restarts (the machine is shared and noisy)."""
    runs = [measure_start(lab) for _ in range(times)]
    figures = {
        f.name: statistics.median(getattr(r, f.name) for r in runs)
        for f in dataclasses.fields(Start)
        if f.name != "index"
    }
    return Start(**figures, index=runs[-1].index)


# figure, Start field, unit, goal (with the cloud against without)
COMPARED = [
    ("agent start -> all served (status file)", "seconds", "s", "< +10 %"),
    ("  of which the agent's own start -> ready", "ready", "s", ""),
    ("    local OVSDB connected, identity read", "ovsdb", "ms", ""),
    ("    then SB connected (first monitor round)", "sb_connect", "ms", ""),
    ("    then SB loaded (condition rounds)", "sb_rounds", "ms", ""),
    ("  and its first full sync", "sync", "ms", ""),
    ("agent RSS (its own process)", "rss", "MB", "< +10 %"),
    ("agent RSS (all its processes)", "rss_all", "MB", ""),
    ("agent CPU, start + settle", "cpu", "s", ""),
    ("SB bytes to the agent at start", "sb_bytes", "B", "~ x1"),
    ("SB leader CPU during the agent's start", "leader_cpu", "s", ""),
    ("SB relay CPU during the agent's start", "relay_cpu", "s", ""),
]


def compare(big: Start, base: Start) -> None:
    for figure, name, unit, goal in COMPARED:
        new, old = getattr(big, name), getattr(base, name)
        row(
            f"{figure}, median of {STARTS}",
            f"{new:.2f} {unit}",
            goal,
            f"no cloud {old:.2f} {unit}: {ratio(new, old)}",
        )
    row(
        "agent SB index",
        json.dumps(big.index),
        "local networks only",
        f"no cloud {json.dumps(base.index)}",
    )


@dataclass
class Spent:
    agent_cpu: float
    sb_bytes: int
    leader_cpu: float
    rss: float  # agent process at the end
    seconds: float  # the action itself


def watch(lab: Lab, action, window: float = 0.0) -> Spent:
    """What the agent and the SB leader spend during `action()` (and until `window` s)."""
    pid = int(status(lab)["agent_pid"])
    pids = agent_pids(lab)
    cpu0, bytes0, leader0 = cpu_s(pids), sb_bytes(lab, pid), leader_cpu(lab)
    t0 = time.monotonic()
    action()
    took = time.monotonic() - t0
    time.sleep(max(0.0, window - took))
    return Spent(
        agent_cpu=cpu_s(pids) - cpu0,
        sb_bytes=sb_bytes(lab, pid) - bytes0,
        leader_cpu=leader_cpu(lab) - leader0,
        rss=rss_mb([pid]),
        seconds=took,
    )


def churn_row(figure: str, spent: Spent, changes: int) -> None:
    row(
        f"{figure}: SB bytes to the agent per change",
        f"{spent.sb_bytes / max(1, changes):.2f} B",
        "~0",
        f"total {spent.sb_bytes} B in {spent.seconds:.1f} s; agent CPU {spent.agent_cpu:.2f} s;"
        f" SB leader CPU {spent.leader_cpu:.2f} s",
    )


def start_ovnmeta(lab: Lab, old: int | None) -> None:
    """Start ovnmeta's agent; returns once a process other than `old` serves every network."""
    local = local_count(lab)
    lab.start_agent(1)

    def serving() -> bool:
        st = status(lab)
        return st.get("agent_pid") not in (None, old) and served(st) >= local

    wait_until(f"ovnmeta's {local} networks served", serving, 120)


def restart_ovnmeta(lab: Lab) -> None:
    old = status(lab).get("agent_pid")
    lab.stop_agent(1)
    start_ovnmeta(lab, old)


def via_member(lab: Lab, action) -> Spent:
    """`action` watched with the agent connected to the SB member itself, not the relays
    (a config fragment that overrides the lab's ovn_sb_connection, removed after)."""
    fragment = services.config_dir(lab.dir, "cmp1") / "60-bench-sb-member.conf"
    fragment.write_text(f"[ovn]\novn_sb_connection = {lab.topology().remotes('sb')}\n")
    try:
        restart_ovnmeta(lab)
        return watch(lab, action)
    finally:
        fragment.unlink()
        restart_ovnmeta(lab)


def ratio(new: float, old: float) -> str:
    return f"x{new / old:.2f} ({(new - old) / old:+.0%})" if old else "n/a"


# --- the lab ----------------------------------------------------------------------------------


def wait_200(lab: Lab, vm: str, timeout: float = 60) -> None:
    argv = [
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "-m",
        "2",
        "-w",
        "%{http_code}",
        "http://169.254.169.254/",
    ]
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


def tunnels(lab: Lab) -> int:
    out = compute.vsctl(
        lab.dir,
        lab.topology().compute(1),
        "--bare",
        "--columns=name",
        "find",
        "Interface",
        "type=geneve",
    )
    return len(out.split())


def local_networks(lab: Lab, local: int) -> None:
    """The real compute's own networks: a guest on `home`, bound VIFs on local1..4, and
    `local` - LOCAL more bound in bulk (dummy VIFs; "later" is bound by the bench itself)."""
    lab.create_network("home", ["10.0.0.0/24"])
    lab.boot("vm1", "home", 1)
    wait_200(lab, "vm1")
    for i in range(1, LOCAL - 1):
        lab.create_network(f"local{i}", ["10.0.0.0/24"])
        lab.bind_vif(f"local{i}", i)
    lab.create_network("later", ["10.0.0.0/24"])  # first_ok_after_bind's subnet
    wait_until(f"{LOCAL - 1} networks served", lambda: served(status(lab)) >= LOCAL - 1, 60, 0.1)
    for start in range(LOCAL, local, BULK_BATCH):
        batch = range(start, min(start + BULK_BATCH, local))
        lab.bound_networks([f"bulk{i}" for i in batch], start)
    bulk = local - 1
    wait_until(f"{bulk} networks served", lambda: served(status(lab)) >= bulk, 3600, 0.2)


# --- upstream's agent in ovnmeta's place (lab.upstream_agent) -----------------------------


@dataclass
class Upstream:
    start: Start
    per_change: float  # SB bytes per foreign port change (nan: none measured)
    changes: int


def measure_upstream(lab: Lab, moves: list[tuple[str, str]]) -> Upstream:
    """Upstream's neutron-ovn-metadata-agent serving the same compute: ovnmeta's agent and
    data plane removed, upstream started, every local network served (a haproxy each), then
    `moves` foreign port changes; upstream stopped and ovnmeta's agent back."""
    networks = [n.id for n in lab.state().networks.values()]
    old = status(lab).get("agent_pid")
    upstream_agent.decommission_ovnmeta(lab, 1)
    up = upstream_agent.UpstreamAgent(lab, 1, mode="metadata-agent", workers=2)
    try:
        leader0 = leader_cpu(lab)
        t0 = time.monotonic()
        pid = main_pid(up.start())
        meter = SocketMeter(lab, up.processes)
        try:
            up.wait_served(networks, timeout=900)
            seconds = time.monotonic() - t0
            time.sleep(SETTLE_S)
        finally:
            received = meter.stop()
        procs = up.processes()
        start = Start(
            seconds=seconds,
            ready=float("nan"),
            sync=float("nan"),
            rss=rss_mb([pid]),
            rss_all=rss_mb(procs),
            cpu=cpu_s([pid]),
            sb_bytes=received,
            leader_cpu=leader_cpu(lab) - leader0,
            relay_cpu=float("nan"),  # it talks to the member
            ovsdb=float("nan"),
            sb_connect=float("nan"),
            sb_rounds=float("nan"),
            index={},
        )
        per_change = float("nan")
        if moves:
            before = sb_bytes(lab, procs)
            scale.rebind_ports(lab.dir, lab.topology(), moves)
            time.sleep(1)
            per_change = (sb_bytes(lab, procs) - before) / len(moves)
        return Upstream(start, per_change, len(moves))
    finally:
        up.stop()
        start_ovnmeta(lab, old)


def try_upstream(lab: Lab, moves: list[tuple[str, str]], label: str) -> Upstream | None:
    try:
        return measure_upstream(lab, moves)
    except Exception as exc:  # a row saying why, never a silent gap
        row(f"upstream agent, {label}", "not measured", "", f"{type(exc).__name__}: {exc}"[:200])
        return None


def upstream_rows(small: Upstream | None, big: Upstream | None) -> None:
    """Upstream's figures with the cloud against without; one side alone if the other failed
    (its row already says why)."""
    for figure, name, unit in (
        ("upstream agent: start -> all served", "seconds", "s"),
        ("upstream agent RSS (its own process)", "rss", "MB"),
        ("upstream agent RSS (all its processes)", "rss_all", "MB"),
        ("upstream agent CPU, start + settle", "cpu", "s"),
        ("upstream: SB bytes at start (every connection it opened)", "sb_bytes", "B"),
        ("upstream: SB leader CPU during its start", "leader_cpu", "s"),
    ):
        if big is None and small is not None:
            row(f"{figure}, no cloud", f"{getattr(small.start, name):.2f} {unit}")
            continue
        if big is None:
            continue
        new = getattr(big.start, name)
        old = getattr(small.start, name) if small else float("nan")
        row(figure, f"{new:.2f} {unit}", "", f"no cloud {old:.2f} {unit}: {ratio(new, old)}")
    if big is None:
        return
    row(
        f"upstream: {big.changes} foreign port changes, SB bytes per change",
        f"{big.per_change:.2f} B",
        "",
        "it monitors every Port_Binding of the cloud",
    )


def main(
    spec: cloud_rows.CloudSpec,
    elsewhere: int,
    changes: int,
    relays: int,
    keep_log: str,
    upstream: bool,
    local: int,
) -> int:
    lab = Lab(lab_prefix("hs"))
    print(
        f"synthetic cloud bench, lab {lab.prefix}: {spec.networks} networks, {spec.ports} ports, "
        f"{spec.chassis} foreign chassis; {elsewhere} networks elsewhere; {relays} SB relays; "
        f"{local} local networks",
        file=sys.stderr,
    )
    try:
        lab.up(controllers=1, computes=1, sb_relays=relays)
        local_networks(lab, local)
        topo = lab.topology()
        nb = lab.northbound()

        # 1. no cloud
        first = first_ok_after_bind(lab, "vm2", "later")
        row("first local VIF of a network: bind -> first 200 (no cloud)", f"{first * 1000:.0f} ms")
        row("lab daemons quiet before the starts", f"after {quiet(lab):.1f} s", "", load())
        base = median_start(lab, STARTS)
        up_small = try_upstream(lab, [], "no cloud") if upstream else None

        # 2. networks elsewhere, through the NB and northd
        before = scale.datapath_count(nb)

        def via_nb() -> None:
            scale.create_remote_networks(nb, elsewhere)
            scale.wait_datapaths(nb, before + elsewhere)

        nb_burst = watch(lab, via_nb, WINDOW_S)
        row(
            f"{elsewhere} networks elsewhere (NB + northd): agent CPU within {WINDOW_S:g} s",
            f"{nb_burst.agent_cpu:.2f} s",
            "< 2 s",
            f"NB -> SB {nb_burst.seconds:.1f} s; SB leader CPU {nb_burst.leader_cpu:.1f} s",
        )
        row(
            f"{elsewhere} networks elsewhere (NB + northd): SB bytes to the agent",
            f"{nb_burst.sb_bytes} B",
            "~0",
            f"agent RSS {base.rss:.1f} -> {nb_burst.rss:.1f} MB",
        )

        # 3. the synthetic cloud, straight into the SB
        scale.pause_northd(lab.dir, topo)
        holder: list[scale.Cloud] = []
        fill = watch(lab, lambda: holder.append(scale.write_cloud(lab.dir, topo, spec)))
        cloud = holder[0]
        counts = scale.sb_counts(nb, SB_TABLES)
        row(
            "synthetic cloud written into the SB (northd paused)",
            f"{fill.seconds:.1f} s",
            "",
            ", ".join(f"{t} {n}" for t, n in counts.items()),
        )
        row(
            "  while it was written: agent CPU / SB bytes",
            f"{fill.agent_cpu:.2f} s / {fill.sb_bytes} B",
            "~0 / ~0",
            f"SB leader CPU {fill.leader_cpu:.1f} s",
        )
        t0 = time.monotonic()
        wait_until(
            f"ovn-controller's tunnels to {spec.chassis} chassis",
            lambda: tunnels(lab) >= spec.chassis,
            600,
            1.0,
        )
        row(
            "  real compute: geneve tunnels to the foreign chassis",
            f"{tunnels(lab)}",
            "",
            f"after {time.monotonic() - t0:.1f} s",
        )
        row("lab daemons quiet before the starts", f"after {quiet(lab):.1f} s", "", load())

        # 4. with the cloud
        big = median_start(lab, STARTS)
        compare(big, base)

        picked = cloud.vifs[:: max(1, len(cloud.vifs) // changes)][:changes]

        def moves(step: int) -> list[tuple[str, str]]:
            """Each picked port to the `step`-th next chassis (a new value every step)."""
            n = len(cloud.chassis)
            return [(p, cloud.chassis[(i + step) % n]) for i, p in enumerate(picked)]

        churn = watch(lab, lambda: scale.rebind_ports(lab.dir, topo, moves(1)))
        path = "through the SB relay" if relays else "direct to the cluster member"
        churn_row(f"{len(picked)} foreign port changes {path}", churn, len(picked))
        if relays:
            direct = via_member(lab, lambda: scale.rebind_ports(lab.dir, topo, moves(2)))
            churn_row(
                f"{len(picked)} foreign port changes direct to the member", direct, len(picked)
            )
        up_big = (
            try_upstream(lab, moves(3)[:UPSTREAM_CHANGES], "with the cloud") if upstream else None
        )

        more = cloud_rows.CloudSpec(
            networks=elsewhere,
            ports=0,
            chassis=0,
            seed="elsewhere",
            first_key=spec.first_key + spec.networks,
        )
        sb_burst = watch(
            lab, lambda: scale.write_cloud(lab.dir, topo, more, cloud.chassis), WINDOW_S
        )
        row(
            f"{elsewhere} more networks elsewhere (SB, with cloud): agent CPU in {WINDOW_S:g} s",
            f"{sb_burst.agent_cpu:.2f} s",
            "< 2 s",
            f"no cloud, via NB: {nb_burst.agent_cpu:.2f} s; "
            f"SB leader CPU {sb_burst.leader_cpu:.1f} s",
        )
        row(
            f"{elsewhere} more networks elsewhere: SB bytes to the agent",
            f"{sb_burst.sb_bytes} B",
            "~0",
            f"agent RSS {big.rss:.1f} -> {sb_burst.rss:.1f} MB",
        )
        if upstream:
            upstream_rows(up_small, up_big)
        else:
            row("upstream agent, same figures", "not measured", "", "--no-upstream given")
    finally:
        if keep_log:
            Path(keep_log).write_text(lab.agent_log(1))
        lab.down()
    TABLE.print()
    return 0


def parse(argv: list[str]) -> tuple[cloud_rows.CloudSpec, int, int, int, str, bool, int]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1,000 networks, 5,000 ports, 50 chassis")
    p.add_argument("--networks", type=int)
    p.add_argument("--ports", type=int)
    p.add_argument("--chassis", type=int)
    p.add_argument("--elsewhere", type=int, default=2000, help="networks created elsewhere")
    p.add_argument("--changes", type=int, default=1000, help="foreign port changes")
    p.add_argument(
        "--sb-relays", type=int, default=1, help="SB relays the agent connects to (0: none)"
    )
    p.add_argument("--keep-log", default="", help="save the agent's log here")
    p.add_argument("--no-upstream", action="store_true", help="skip upstream's agent")
    p.add_argument(
        "--local", type=int, default=LOCAL, help=f"networks the real compute serves (>= {LOCAL})"
    )
    a = p.parse_args(argv)
    quick = (1000, 5000, 50) if a.quick else (10_000, 50_000, 500)
    spec = cloud_rows.CloudSpec(
        networks=a.networks if a.networks is not None else quick[0],
        ports=a.ports if a.ports is not None else quick[1],
        chassis=a.chassis if a.chassis is not None else quick[2],
    )
    if a.local < LOCAL:
        p.error(f"--local: at least {LOCAL}, not {a.local}")
    return spec, a.elsewhere, a.changes, a.sb_relays, a.keep_log, not a.no_upstream, a.local


if __name__ == "__main__":
    sys.exit(main(*parse(sys.argv[1:])))
