"""Processes for the lab: run tools, own daemons by pidfile, stop only what is ours.

Ownership rule (lab-recipe section 8): a process belongs to a lab when its command line
contains the lab directory (`core.procfs.owned_pid`). Liveness is `core.procfs.alive`, because a
late-reaping PID 1 leaves zombies that still pass `kill -0`.
"""

import contextlib
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from ovnmeta.core.errors import LabError
from ovnmeta.core.procfs import alive, cmdline, pids


def run(
    cmd: Sequence[str],
    *,
    netns: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
    check: bool = True,
    input: str | None = None,
) -> str:
    """Run a tool and return its stdout; a failure becomes one LabError line."""
    argv = [*(("ip", "netns", "exec", netns) if netns else ()), *cmd]
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **env} if env else None,
            input=input,
        )
    except subprocess.TimeoutExpired:
        raise LabError(f"timed out after {timeout:g} s: {shlex.join(cmd)}") from None
    except FileNotFoundError:
        raise LabError(f"command not found: {cmd[0]}") from None
    if check and proc.returncode != 0:
        detail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        last = detail[-1] if detail else f"exit status {proc.returncode}"
        raise LabError(f"{shlex.join(cmd)}: {last}")
    return proc.stdout


def daemon_flags(pidfile: Path, log: Path, unixctl: Path | None = None) -> list[str]:
    """The flags every OVS/OVN daemon of the lab starts with: self-daemonizing (the pidfile
    holds the real pid), quiet on the console, its own control socket when it takes one."""
    ctl = [f"--unixctl={unixctl}"] if unixctl else []
    return [
        f"--pidfile={pidfile}",
        *ctl,
        "-vconsole:off",
        f"--log-file={log}",
        "--detach",
        "--no-chdir",
    ]


def spawn(
    cmd: Sequence[str],
    *,
    pidfile: Path,
    log: Path,
    netns: str | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    """Start a long-running process that does not daemonize itself; record its real pid."""
    argv = [*(("ip", "netns", "exec", netns) if netns else ()), *cmd]
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **env} if env else None,
        )
    # `ip netns exec` execs the command, so the pid is the daemon's own.
    pidfile.write_text(f"{proc.pid}\n")
    return proc.pid


def marked_pids(marker: str) -> list[int]:
    """Live processes (other than this one and its parent) whose command line has `marker`."""
    me = {os.getpid(), os.getppid()}
    return [p for p in pids() if p not in me and alive(p) and marker in cmdline(p)]


def stop(pids: Sequence[int], grace: float = 5.0) -> None:
    """SIGCONT + SIGTERM, then SIGKILL whatever is still alive after `grace` seconds."""
    for sig in (signal.SIGCONT, signal.SIGTERM):
        for pid in pids:
            _signal(pid, sig)
    deadline = time.monotonic() + grace
    left = [p for p in pids if alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.02)
        left = [p for p in left if alive(p)]
    for pid in left:
        _signal(pid, signal.SIGKILL)


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def wait_until(what: str, predicate, timeout: float, interval: float = 0.05):
    """Poll `predicate` until it returns a truthy value; LabError naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise LabError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
