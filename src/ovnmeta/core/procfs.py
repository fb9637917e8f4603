"""Processes from /proc and pid files, shared by the agent, its healthcheck, the lab and tools.

A process counts as alive only if /proc/<pid>/stat shows a state other than Z or X: where
PID 1 reaps late, a dead daemon stays a zombie that still passes `kill -0`. A pid file names
a process of ours only while that process is alive and its command line carries a marker
(a config path, a state or lab directory): pids are reused.
"""

from __future__ import annotations

import os
import time


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def read_pid(path: str | os.PathLike[str]) -> int | None:
    """The pid a pid file records (its first word), or None if missing or garbled."""
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def cmdline(pid: int) -> str:
    """The command line, arguments joined by spaces; "" once the process is gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


# While a process execs (nsenter -> the agent), its command line reads empty for a moment.
# Seen in about half of the nsenter starts polled here; taken for "gone", it once made a lab
# test wait for an agent that ran.
EXEC_WINDOW_S = 0.5
EXEC_POLL_S = 0.005


def owned_pid(path: str | os.PathLike[str], marker: str) -> int | None:
    """The live pid recorded in the pid file at `path`, if its command line carries `marker`.
    An empty command line of a live process is an exec in progress: read again, for at most
    EXEC_WINDOW_S (a kernel thread's stays empty: not ours)."""
    pid = read_pid(path)
    return pid if pid and carries(pid, marker) else None


def carries(pid: int, marker: str) -> bool:
    """`pid` is alive and its command line carries `marker`, read again for at most
    EXEC_WINDOW_S while it is empty (an exec in progress)."""
    deadline = time.monotonic() + EXEC_WINDOW_S
    while alive(pid):
        argv = cmdline(pid)
        if argv:
            return marker in argv
        if time.monotonic() >= deadline:
            return False
        time.sleep(EXEC_POLL_S)
    return False


def pids() -> list[int]:
    """Every process id /proc lists now (some may be gone by the time they are read)."""
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def mountpoints() -> list[str]:
    """Every mount point of this process's mount namespace, as /proc/self/mountinfo lists it."""
    with open("/proc/self/mountinfo") as fh:
        # \040 and friends stand for spaces and other octal escapes
        return [line.split()[4].encode().decode("unicode_escape") for line in fh]
