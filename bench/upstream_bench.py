"""ovnmeta side by side with upstream's neutron-ovn-metadata-agent, in one run (issue 10).

Same lab (1 controller, 1 compute), same guest, same metadata API; rounds alternate ovnmeta /
upstream (pinned neutron from lab.neutron_venv, `metadata_workers` = --workers), and between
rounds the previous agent is stopped with its whole data plane, so every start is cold. Each
figure is printed for both with ovnmeta's advantage (how many times better; > 1 = ovnmeta
better) and the issue's goal; the floors (a static server in the ovnmeta-<net> namespace, the
metadata API called directly from the compute) are measured in the same rounds.

Output: the table on stdout, docs/bench/latest.md and PNG plots in docs/bench/
(bench/upstream_report.py). Everything it starts is stopped on exit, Ctrl-C included.

Usage: python bench/upstream_bench.py [--quick] [--prefix NAME] [--workers N]
    --quick: 1 network, 1 round each, a storm of 20 (under 5 minutes on a quiet machine)
    full:    1, 50 and 200 networks, 2 rounds each, a storm of 100
    --networks 1,50 --rounds N --storm K override either
"""

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path

import boot_storm
import upstream_report
from agent_bench import (
    FIRST_OK,
    META,
    PY,
    first_ok_after_bind,
    latency,
    lift_per_guest_limits,
    signed_headers,
    static_baseline,
    throughput,
)
from benchkit import agent_processes, rss_mb

from ovnmeta.core.errors import OvnmetaError
from ovnmeta.lab import instance, neutron_venv, services
from ovnmeta.lab.lab import Lab, static_port
from ovnmeta.lab.proc import wait_until
from ovnmeta.lab.topology import instance_netns
from ovnmeta.lab.upstream_agent import UpstreamAgent, decommission_ovnmeta

# Sequential GETs, a new connection each (as cloud-init does): every sample in ms, as JSON.
SAMPLES = r"""
import http.client, json, sys, time
host, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = []
for _ in range(n):
    t = time.perf_counter()
    c = http.client.HTTPConnection(host, 80, timeout=10); c.request("GET", path)
    r = c.getresponse(); r.read(); c.close()
    assert r.status == 200, r.status
    s.append((time.perf_counter() - t) * 1000)
print(json.dumps(s))
"""

# Poll until SIGINT; print {status: count} (0 = connection error or timeout).
POLL_UNTIL_INT = r"""
import collections, http.client, json, sys, time
counts = collections.Counter()
try:
    while True:
        try:
            c = http.client.HTTPConnection(sys.argv[1], 80, timeout=10)
            c.request("GET", sys.argv[2]); r = c.getresponse(); r.read(); c.close()
            counts[r.status] += 1
        except OSError:
            counts[0] += 1
        time.sleep(0.01)
except KeyboardInterrupt:
    pass
print(json.dumps({str(k): v for k, v in counts.items()}))
"""

CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVE_TIMEOUT = 900  # upstream provisions networks one by one: minutes at 200


class Ovnmeta:
    name = "ovnmeta"

    def __init__(self, lab: Lab) -> None:
        self.lab = lab

    def start(self) -> None:
        self.lab.start_agent(1)

    def served(self) -> int:
        """Networks served by the running agent, from its status file (rewritten <= 0.5 s)."""
        cmp = self.lab.topology().compute(1)
        try:
            status = json.loads(services.agent_status_file(self.lab.dir, cmp).read_text())
        except (OSError, ValueError):
            return 0
        if status.get("agent_pid") != self.lab.agent_pid(1):
            return 0
        return sum(1 for n in status.get("networks", []) if n.get("served"))

    def stop_for_restart(self, sig: int) -> None:
        self.lab.stop_agent(1, sig)  # the edge and holder stay: that is the design

    def pids(self) -> list[int]:
        return agent_processes(self.lab)

    def retire(self) -> None:
        decommission_ovnmeta(self.lab, 1)


class Upstream:
    name = "upstream"

    def __init__(self, lab: Lab, workers: int, venv: neutron_venv.NeutronVenv) -> None:
        self.agent = UpstreamAgent(lab, 1, mode="metadata-agent", workers=workers, venv=venv)
        self._since = 0

    def start(self) -> None:
        log = self.agent.log
        self._since = log.stat().st_size if log.exists() else 0
        self.agent.start()

    def served(self) -> int:
        """Networks this run of the agent has provisioned (its log) with a live haproxy."""
        log = self.agent.log
        if self.agent.pid is None or not log.exists():
            return 0
        with open(log, errors="replace") as fh:
            fh.seek(self._since)
            text = fh.read()
        done = {
            line.rsplit(" ", 1)[-1]
            for line in text.splitlines()
            if "Provisioning metadata for network" in line
        }
        return len(done & set(self.agent.haproxy_pids()))

    def stop_for_restart(self, sig: int) -> None:
        if sig == signal.SIGKILL:
            self.agent.kill()  # its workers and privsep daemon follow it out
        else:
            self.agent.stop(leave_dataplane=True)  # haproxies stay, as in a service restart

    def pids(self) -> list[int]:
        return self.agent.processes()

    def retire(self) -> None:
        self.agent.stop()


class Results:
    """values[side][figure][networks] -> one value per round; `why` when it failed."""

    def __init__(self) -> None:
        self.values: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
        self.why: dict = {}
        self.samples: dict = {}  # side -> latency samples (ms), 1 network, first round
        self.storms: dict = defaultdict(list)  # side -> [[Outcome...] per round]

    def add(self, side: str, figure: str, n: int, value) -> None:
        self.values[side][figure][n].append(value)
        print(f"  {side} {figure} @{n}: {value}", file=sys.stderr, flush=True)


def cpu_ticks(pids: list[int]) -> dict[int, int]:
    ticks = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks[pid] = sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
        except (OSError, IndexError, ValueError):
            continue
    return ticks


def in_vm(vm_ns: str, script: str, *args: str, timeout: float = 600) -> str:
    argv = ["ip", "netns", "exec", vm_ns, PY, "-c", script, *args]
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=timeout).stdout


def first_ok_poller(vm_ns: str, seconds: float) -> subprocess.Popen:
    return subprocess.Popen(
        ["ip", "netns", "exec", vm_ns, PY, "-c", FIRST_OK, "169.254.169.254", str(seconds), "0.5"],
        stdout=subprocess.PIPE,
        text=True,
    )


def first_ok(poller: subprocess.Popen, since: float) -> float:
    out = poller.communicate(timeout=SERVE_TIMEOUT + 60)[0].strip()
    if not out:
        raise OvnmetaError("no 200 before the poller gave up")
    return float(out) - since


def wait_served(side, networks: int) -> None:
    wait_until(
        f"{side.name} to serve {networks} networks",
        lambda: side.served() >= networks,
        SERVE_TIMEOUT,
        0.1,
    )


class Bench:
    def __init__(self, lab: Lab, res: Results, args) -> None:
        self.lab, self.res, self.args = lab, res, args
        self.round = 0

    def attempt(self, side: str, figure: str, n: int, fn) -> None:
        """Record what `fn` measured, or why it could not (printed in that figure's row)."""
        try:
            fn()
        except Exception as exc:  # any failure is that figure's row, never the whole run
            reason = str(exc).strip().splitlines()[-1][:150] if str(exc).strip() else repr(exc)
            self.res.why[(side, figure, n)] = reason
            print(f"  {side} {figure} @{n}: FAILED: {reason}", file=sys.stderr, flush=True)

    def one_round(self, side, n: int, first_n: bool) -> None:
        lab, res, name = self.lab, self.res, side.name
        vm = lab.instance("vm")
        net_id = lab.state().networks["n0"].id
        poller = first_ok_poller(vm.netns, SERVE_TIMEOUT)
        t0 = time.time()
        side.start()

        def cold() -> None:
            res.add(name, "start_first", n, first_ok(poller, t0))
            wait_served(side, n)
            res.add(name, "start_all", n, time.time() - t0)

        self.attempt(name, "start_first", n, cold)
        poller.kill()
        poller.wait()

        def floors() -> None:
            res.add(name, "floor_static", n, static_baseline(lab, net_id, vm.netns)[0])
            cmp_ns = lab.topology().compute(1).netns
            api_ip = lab.topology().controllers[0].ip
            headers = signed_headers(lab, vm)
            res.add(
                name, "floor_api", n, latency(cmp_ns, api_ip, services.API_PORT, META, headers)[0]
            )

        self.attempt(name, "floor_static", n, floors)

        def seq() -> None:
            count = 300 if self.args.quick else 1000
            pids = side.pids()
            before = cpu_ticks(pids)
            samples = json.loads(in_vm(vm.netns, SAMPLES, "169.254.169.254", META, str(count)))
            after = cpu_ticks(pids)
            spent = sum(after[p] - before.get(p, after[p]) for p in after) / CLK_TCK
            ordered = sorted(samples)
            res.add(name, "p50", n, statistics.median(ordered))
            res.add(name, "p99", n, ordered[int(len(ordered) * 0.99) - 1])
            res.add(name, "cpu_ms", n, spent * 1000 / count)
            if first_n and name not in res.samples:
                res.samples[name] = ordered

        self.attempt(name, "p50", n, seq)

        if first_n:
            for clients in (8, 32):

                def tput(clients=clients) -> None:
                    rps, errors = throughput(vm.netns, "169.254.169.254", 80, META, clients=clients)
                    res.add(name, f"rps{clients}", n, (rps, errors))

                self.attempt(name, f"rps{clients}", n, tput)
            self.attempt(name, "bound_first", n, lambda: self.port_bound(side))
            self.attempt(name, "storm", n, lambda: self.storm(side))

        def rss() -> None:
            pids = side.pids()
            res.add(name, "rss", n, (rss_mb(pids), len(pids)))

        self.attempt(name, "rss", n, rss)
        for sig, label in ((signal.SIGTERM, "restart"), (signal.SIGKILL, "kill9")):
            self.attempt(
                name, label, n, lambda sig=sig, label=label: self.restart(side, sig, label, n)
            )
        side.retire()

    def port_bound(self, side) -> None:
        """Port bound -> first 200 on a fresh network, 3 times; the networks go again."""
        samples = []
        st = self.lab.state()
        for i in range(3):
            net = f"pb{self.round}{side.name[0]}{i}"
            self.lab.create_network(net, ["10.0.0.0/24"])
            probe = f"pb{self.round}{side.name[0]}{i}"
            try:
                samples.append(first_ok_after_bind(self.lab, probe, net))
            finally:
                record = static_port(
                    self.lab.state().networks[net],
                    "cmp1",
                    probe,
                    "",
                    instance_netns(self.lab.prefix, probe),
                    f"vif-{probe}",
                )
                instance.unplug(self.lab.dir, self.lab.topology(st).compute(1), record)
                self.lab.delete_network(net)
        self.res.add(side.name, "bound_first", 1, statistics.median(samples))

    def storm(self, side) -> None:
        vms = boot_storm.prepare(self.lab, "n0", self.args.storm, f"{side.name[0]}{self.round}")
        try:
            outcomes = boot_storm.run_storm(self.lab, vms)
        finally:
            boot_storm.remove(self.lab, vms)
        self.res.storms[side.name].append(outcomes)
        failed = [o for o in outcomes if not o.ok]
        if failed:
            print(f"  storm failures: {failed[0].name}: {failed[0].error}", file=sys.stderr)
        addresses = [o.address for o in outcomes]
        last_address = None if None in addresses else max(addresses)
        cpus = [o.cpu for o in outcomes]
        guests_cpu = None if None in cpus else sum(cpus)
        self.res.add(
            side.name, "storm", 1, (outcomes[-1].seconds, len(failed), last_address, guests_cpu)
        )

    def restart(self, side, sig: int, label: str, n: int) -> None:
        vm = self.lab.instance("vm")
        watch = subprocess.Popen(
            ["ip", "netns", "exec", vm.netns, PY, "-c", POLL_UNTIL_INT, "169.254.169.254", META],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            time.sleep(1)
            side.stop_for_restart(sig)
            poller = first_ok_poller(vm.netns, SERVE_TIMEOUT)
            t0 = time.time()
            side.start()
            first = first_ok(poller, t0)
            wait_served(side, n)
            served = time.time() - t0
            time.sleep(1)
        finally:
            watch.send_signal(signal.SIGINT)
            counts = json.loads(watch.communicate(timeout=60)[0] or "{}")
        failed = sum(v for k, v in counts.items() if k != "200")
        self.res.add(side.name, label, n, (first, served, failed, sum(counts.values())))


GROW_BATCH = 50  # networks per NB / OVS transaction (Lab.bound_networks)


def grow(lab: Lab, networks: int) -> None:
    """Networks up to `networks`, each with a bound VIF on cmp1 (no agent runs meanwhile).
    The VIFs are OVS dummy interfaces, as in agent_bench: both agents serve their networks
    for real, and the lab's userspace OVS is not slowed by a kernel device per VIF."""
    for start in range(len(lab.state().networks), networks, GROW_BATCH):
        stop = min(start + GROW_BATCH, networks)
        lab.bound_networks([f"n{i}" for i in range(start, stop)], start)


def full_mode(args) -> bool:
    return args.networks == [1, 50, 200] and args.rounds >= 2 and args.storm >= 100


def on_sigterm(*_) -> None:
    """SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C: main's finally cleans up."""
    raise KeyboardInterrupt


def machine() -> str:
    model = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
         if ln.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    return (
        f"{platform.node()}: {os.cpu_count()} x {model}, {platform.system()} {platform.release()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--prefix", default="bu" + uuid.uuid4().hex[:6])
    parser.add_argument("--workers", type=int, default=4, help="upstream's metadata_workers")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent.parent / "docs" / "bench")
    parser.add_argument("--networks", help="comma-separated counts (default 1,50,200)")
    parser.add_argument("--rounds", type=int, help="rounds per agent (default 2)")
    parser.add_argument("--storm", type=int, help="instances in the boot storm (default 100)")
    args = parser.parse_args(argv)
    quick = args.quick
    args.networks = [int(n) for n in args.networks.split(",")] if args.networks else None
    args.networks = args.networks or ([1] if quick else [1, 50, 200])
    args.rounds = args.rounds or (1 if quick else 2)
    args.storm = args.storm or (20 if quick else 100)
    signal.signal(signal.SIGTERM, on_sigterm)

    venv = neutron_venv.ensure(progress=lambda line: print(line, file=sys.stderr))
    lab = Lab(args.prefix)
    res = Results()
    started = time.time()
    load_before = os.getloadavg()
    sides = [Ovnmeta(lab), None]
    interrupted = False
    try:
        print(f"upstream bench, lab {lab.prefix}, {'quick' if args.quick else 'full'}",
              file=sys.stderr)  # fmt: skip
        lab.up(controllers=1, computes=1)
        lab.create_network("n0", ["10.0.0.0/24"])
        lab.boot("vm", "n0", 1)
        lift_per_guest_limits(lab)  # one guest drives every figure (agent_bench.py)
        sides[1] = Upstream(lab, args.workers, venv)
        sides[0].retire()
        bench = Bench(lab, res, args)
        try:
            for n in args.networks:
                grow(lab, n)
                for r in range(args.rounds):
                    for side in sides:
                        bench.round = r
                        print(f"round {r + 1}: {side.name}, {n} networks", file=sys.stderr)
                        bench.one_round(side, n, first_n=n == args.networks[0])
        except KeyboardInterrupt:  # clean up, then print what was measured so far
            interrupted = True
            print("interrupted: cleaning up, then the figures so far", file=sys.stderr)
    finally:
        for side in sides:
            if side is not None:
                try:
                    side.retire()
                except (OvnmetaError, OSError) as exc:
                    print(f"cleanup: {side.name}: {exc}", file=sys.stderr)
        lab.down()

    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "machine": machine(),
        "mode": ("quick" if args.quick else "full" if full_mode(args) else "custom")
        + (", interrupted" if interrupted else ""),
        "minutes": (time.time() - started) / 60,
        "load": (load_before, os.getloadavg()),
        "upstream": f"neutron {neutron_venv.NEUTRON_VERSION} neutron-ovn-metadata-agent, "
        f"metadata_workers = {args.workers}",
        "networks": args.networks,
        "rounds": args.rounds,
        "storm": args.storm,
    }
    rows = upstream_report.rows(res, meta)
    print(upstream_report.text_table(rows))
    args.out.mkdir(parents=True, exist_ok=True)
    pngs = upstream_report.plots(res, meta, args.out)
    (args.out / "latest.md").write_text(upstream_report.markdown(rows, meta, pngs))
    print(f"wrote {args.out / 'latest.md'} and {', '.join(p.name for p in pngs)}", file=sys.stderr)
    return 130 if interrupted else 0


if __name__ == "__main__":
    raise SystemExit(main())
