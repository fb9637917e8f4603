"""The request path (guest -> edge -> agent -> metadata API) on one lab, variants alternated.

What each round measures, for the agent running from one source tree (a variant):
- p50/p99 of sequential GETs of meta_data.json from a guest, a new connection each, and the
  floors of the same round: a static server inside the ovnmeta-<net> namespace (same guest,
  same OVN path) and the metadata API called directly from the compute;
- CPU time per request of the agent's processes (edge haproxy master and workers, agent,
  socket holder) and, apart, of the metadata API, from /proc over those same requests;
- throughput with 8 concurrent clients (new connection each) and its CPU per request;
- RSS and process count of the agent's processes.
Variants alternate round by round (A B A B ...), so a machine that gets busier or quieter
during the run moves them alike; the table gives each figure's median over the rounds.

Usage: python bench/request_path_bench.py [--rounds R] [--requests N] [NAME=SRC_DIR ...]
  NAME=SRC_DIR  run the agent with PYTHONPATH=SRC_DIR (e.g. a `git archive` of another
                commit's src/); no variant: this tree alone. The edge follows the agent: a
                variant whose edge config differs reloads it when it starts.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict

from agent_bench import (
    META,
    PY,
    THROUGHPUT,
    agent_status,
    api_pid,
    guest_served,
    samples,
    served_count,
    static_baseline,
)
from benchkit import Table, agent_processes, cpu_seconds, in_ns, lab_prefix, rss_mb

from ovnmeta.agent.dataplane.edge_placement import SHARDS
from ovnmeta.core import procfs
from ovnmeta.core.errors import LabError
from ovnmeta.lab import services
from ovnmeta.lab.lab import Lab
from ovnmeta.lab.proc import wait_until

API = ("10.255.0.11", services.API_PORT)


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(len(s) * q))]


def sequential(ns: str, host: str, port: int, n: int, headers=()) -> list[float]:
    return samples(ns, host, port, META, headers, n)


def start_variant(lab: Lab, src: str | None) -> None:
    """Restart the agent from `src` (None: this tree) and wait until it serves and the edge
    runs a single worker again (a reload leaves the old one until its connections end)."""
    lab.stop_agent(1)
    if src:
        os.environ["PYTHONPATH"] = src
    try:
        pid = lab.start_agent(1)
    finally:
        os.environ.pop("PYTHONPATH", None)

    def serving() -> bool:
        try:
            return agent_status(lab).get("agent_pid") == pid and served_count(lab) >= 1
        except (LabError, ValueError):
            return False

    wait_until("the agent to serve", serving, 60, 0.1)
    time.sleep(1)  # the edge reload (if any) happens on the first full sync

    def one_worker() -> bool:  # a master and a worker per edge shard
        haproxies = sum("haproxy" in procfs.cmdline(p) for p in agent_processes(lab))
        return haproxies <= 2 * len(SHARDS)

    try:
        wait_until("the old edge worker to leave", one_worker, 30, 0.2)
    except LabError:
        print("  (an old edge worker is still there)", file=sys.stderr)


def round_of(lab: Lab, vm, net_id: str, n: int, headers: list[str]) -> dict[str, float]:
    cmp_ns = lab.topology().compute(1).netns
    floor = static_baseline(lab, net_id, vm.netns)[0]
    api = pct(sequential(cmp_ns, *API, max(n // 3, 50), headers), 0.5)
    pids, backend = agent_processes(lab), api_pid(lab)
    a0, b0 = cpu_seconds(pids), cpu_seconds([backend])
    samples = sequential(vm.netns, "169.254.169.254", 80, n)
    a1, b1 = cpu_seconds(pids), cpu_seconds([backend])
    secs = 5.0
    out = in_ns(vm.netns, PY, "-c", THROUGHPUT, "169.254.169.254", "80", META, "8", str(secs))
    a2 = cpu_seconds(pids)
    rps, errors = float(out.split()[0]), int(out.split()[1])
    direct = float(
        in_ns(cmp_ns, PY, "-c", THROUGHPUT, *map(str, API), META, "8", str(secs), *headers).split()[
            0
        ]
    )
    done = rps * secs
    p50 = pct(samples, 0.5)
    return {
        "p50": p50,
        "p99": pct(samples, 0.99),
        "floor": floor,
        "api": api,
        "over_floor": p50 - floor,
        "own": p50 - floor - api,
        "cpu": (a1 - a0) / n * 1000,
        "api_cpu": (b1 - b0) / n * 1000,
        "rps": rps,
        "errors": errors,
        "direct": direct,
        "ratio": rps / direct,
        "cpu_tp": (a2 - a1) / done * 1000 if done else float("nan"),
        "rss": rss_mb(pids),
        "procs": len(pids),
    }


FIGURES = (
    ("p50", "GET meta_data.json p50 (sequential, new connection each)", "ms", ""),
    ("p99", "GET meta_data.json p99", "ms", ""),
    ("floor", "floor: static server in ovnmeta-<net>, p50", "ms", ""),
    ("api", "floor: metadata API direct from the compute, p50", "ms", ""),
    ("over_floor", "p50 above the static floor", "ms", ""),
    ("own", "edge + agent's own p50 (above static floor and API direct)", "ms", "<= 0.3 ms"),
    ("cpu", "CPU per request, edge + agent + holder (sequential)", "ms", ""),
    ("api_cpu", "CPU per request, metadata API (sequential)", "ms", ""),
    ("cpu_tp", "CPU per request, edge + agent + holder (8 clients)", "ms", ""),
    ("rps", "8 concurrent clients", "req/s", ""),
    ("direct", "8 concurrent clients, API direct", "req/s", ""),
    ("ratio", "8 clients through the agent / API direct", "", ">= 80%"),
    ("errors", "errors (8 clients)", "", "0"),
    ("rss", "RSS edge + agent + holder", "MB", ""),
    ("procs", "processes", "", ""),
)


def fmt(key: str, unit: str, values: list[float]) -> str:
    m = statistics.median(values)
    if key == "ratio":
        return f"{m:.0%}"
    if unit == "req/s" or key in ("errors", "procs"):
        return f"{m:.0f}{' ' + unit if unit else ''}"
    if unit == "MB":
        return f"{m:.0f} MB"
    return f"{m:.2f} {unit}".strip() + (
        f" ({min(values):.2f}-{max(values):.2f})" if len(values) > 1 else ""
    )


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("variants", nargs="*", metavar="NAME=SRC_DIR")
    args = ap.parse_args(argv)
    variants: list[tuple[str, str | None]] = []
    for v in args.variants:
        name, _, src = v.partition("=")
        if not src or not os.path.isdir(src):
            ap.error(f"variant {v!r}: expected NAME=SRC_DIR with an existing directory")
        variants.append((name, os.path.abspath(src)))
    variants = variants or [("this tree", None)]

    lab = Lab(lab_prefix("r"))
    results: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    try:
        print(f"request path bench, lab {lab.prefix}", file=sys.stderr)
        vm, net_id, headers = guest_served(lab, computes=1)
        for r in range(args.rounds):
            for name, src in variants:
                start_variant(lab, src)
                got = round_of(lab, vm, net_id, args.requests, headers)
                print(
                    f"  round {r + 1} {name}: " + ", ".join(f"{k} {v:.3g}" for k, v in got.items()),
                    file=sys.stderr,
                    flush=True,
                )
                for k, v in got.items():
                    results[name][k].append(v)
    finally:
        lab.down()

    table = Table()
    for key, figure, unit, goal in FIGURES:
        value = " | ".join(f"{name}: {fmt(key, unit, results[name][key])}" for name, _ in variants)
        table.rows.append((figure, value, goal, f"median of {args.rounds} rounds"))
    table.print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
