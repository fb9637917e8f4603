"""Shared by the benchmarks: a results table (figure, value, goal, same-run baseline), running
a command inside a namespace, and /proc accounting (CPU time, RSS) of a set of processes."""

import datetime
import os
import sys
import uuid
from collections.abc import Iterable

from ovnmeta.core import procfs, tables
from ovnmeta.lab import services
from ovnmeta.lab.lab import Lab
from ovnmeta.lab.proc import run

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

HEAD = ("FIGURE", "VALUE", "GOAL", "BASELINE (same run)")


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []

    def row(self, figure: str, value: str, goal: str = "", baseline: str = "") -> None:
        """Record a figure, and show it at once on stderr (a long run shows progress)."""
        self.rows.append((figure, value, goal, baseline))
        print(
            f"  {figure}: {value}" + (f"  [{baseline}]" if baseline else ""),
            file=sys.stderr,
            flush=True,
        )

    def print(self) -> None:
        print(tables.render(HEAD, self.rows))


AGENT_LOG_TIME = "%Y-%m-%d %H:%M:%S,%f"  # the agent's log lines begin so (core/logs.py)


def log_time(stamp: str) -> float:
    """Wall-clock seconds (as time.time()) of an agent log line's `2026-12-02 06:43:15,145`."""
    return datetime.datetime.strptime(stamp, AGENT_LOG_TIME).timestamp()


def lab_prefix(letter: str) -> str:
    """A fresh lab name: `letter` (or $BENCH_LAB_PREFIX, when several people share a machine
    and each tags their labs) and random hex, 8 characters in all."""
    head = os.environ.get("BENCH_LAB_PREFIX", letter)
    return head + uuid.uuid4().hex[: max(8 - len(head), 4)]


def in_ns(ns: str, *argv: str, timeout: float = 300) -> str:
    """stdout of `argv` run in namespace `ns`; a failure is the lab's one-line LabError."""
    return run(argv, netns=ns, timeout=timeout)


def cpu_seconds(pids: Iterable[int], reaped_children: bool = False) -> float:
    """User + system CPU time the processes have used so far (a gone process counts 0), with
    `reaped_children` also that of the children they have waited for.

    CPU time per request survives a noisy machine better than wall time: what other work
    does to the scheduler changes how long a request waits, not how much CPU it burns."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
        if reaped_children:
            total += int(fields[13]) + int(fields[14])  # cutime, cstime
    return total / CLOCK_TICKS


def rss_mb(pids: Iterable[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                total += sum(int(ln.split()[1]) for ln in f if ln.startswith("VmRSS")) / 1024
        except OSError:
            continue
    return total


def memory_kb(pid: int) -> tuple[int, int, int]:
    """(RSS, private, PSS) of one process in kB from smaps_rollup: what is shared with another
    process (the same binary's pages, a forked parent's) counts in RSS but not in private, and
    in PSS divided by the number of processes that map it."""
    fields: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for ln in f:
                key, _, rest = ln.partition(":")
                if rest.strip().endswith("kB"):
                    fields[key] = int(rest.split()[0])
    except OSError:
        return 0, 0, 0
    private = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return fields.get("Rss", 0), private, fields.get("Pss", 0)


def process_label(pid: int) -> str:
    """agent, holder, or an edge haproxy by shard ("main", "young"; a master says so)."""
    cmd = procfs.cmdline(pid)
    if "holder" in cmd:
        return "holder"
    if "haproxy" not in (cmd.split() or [""])[0]:
        return "agent"
    shard = "young" if "young-haproxy.cfg" in cmd else "main"
    return f"{shard} master" if " -W" in cmd and _is_master(pid) else shard


def _is_master(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            ppid = int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return False
    return "haproxy" not in procfs.cmdline(ppid)


def memory_breakdown(pids: Iterable[int]) -> str:
    """One entry per process, `label RSS/private/PSS MB`, largest RSS first, then the PSS sum."""
    rows = sorted(((*memory_kb(p), process_label(p)) for p in pids), reverse=True)
    each = ", ".join(
        f"{label} {rss / 1024:.0f}/{priv / 1024:.0f}/{pss / 1024:.0f}"
        for rss, priv, pss, label in rows
    )
    return f"{each}; PSS sum {sum(r[2] for r in rows) / 1024:.0f} MB"


def agent_processes(lab: Lab, compute: int = 1) -> list[int]:
    """The agent's processes on a compute: the agent, its socket holder, the edge haproxy's
    master and workers (found by the agent's state or config directory in their command line;
    the nsenter wrappers that started them are not counted)."""
    cmp = lab.topology().compute(compute)
    markers = (str(lab.dir / cmp.name / "agent"), str(services.config_dir(lab.dir, cmp.name)))
    found = []
    for pid in procfs.pids():
        cmd = procfs.cmdline(pid)
        mine = cmd and any(m in cmd for m in markers) and "nsenter" not in cmd.split()[0]
        if mine and procfs.alive(pid):
            found.append(pid)
    return found
