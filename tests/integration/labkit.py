"""Helpers for integration tests on the real lab."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

from ovnmeta.lab.lab import Lab

OVNMETA = [sys.executable, "-m", "ovnmeta"]


def unique_prefix() -> str:
    return "t" + uuid.uuid4().hex[:7]


def cli(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run([*OVNMETA, *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"ovnmeta {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
    return proc


def leftovers(lab: Lab) -> list[str]:
    """Everything of this lab still on the host: namespaces, processes, files."""
    found = [f"netns {ns}" for ns in os.listdir("/run/netns") if ns.startswith(lab.prefix + "-")]
    marker = str(lab.dir) + "/"
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmd and state not in "ZX":
            found.append(f"process {pid} {cmd[:80]}")
    with open("/proc/self/mountinfo") as fh:
        found += [f"mount {ln.split()[4]}" for ln in fh if str(lab.dir) in ln.split()[4]]
    if lab.dir.exists():
        found.append(f"dir {lab.dir}")
    return found


def dump_logs(lab: Lab) -> None:
    if not lab.dir.exists():
        return
    for log in sorted(lab.dir.rglob("*.log")):
        lines = log.read_text(errors="replace").splitlines()[-15:]
        print(f"--- {log}\n" + "\n".join(lines), file=sys.stderr)
