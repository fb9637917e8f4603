"""Helpers for integration tests on the real lab."""

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from ovnmeta.core import procfs
from ovnmeta.lab.lab import Lab

OVNMETA = [sys.executable, "-m", "ovnmeta"]


def unique_prefix() -> str:
    """8 characters: `t` + random hex; $OVNMETA_TEST_PREFIX replaces the `t` (a session's mark)."""
    p = os.environ.get("OVNMETA_TEST_PREFIX", "t")
    return p + uuid.uuid4().hex[: 8 - len(p)]


def cli(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run([*OVNMETA, *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"ovnmeta {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
    return proc


@contextmanager
def running_lab(
    controllers: int, computes: int, sb_relays: int = 0, ssl: bool = False, neutron: bool = False
) -> Iterator[Lab]:
    """A lab with a unique prefix, torn down whatever happens (for module fixtures)."""
    lab = Lab(unique_prefix())
    try:
        lab.up(
            controllers=controllers,
            computes=computes,
            sb_relays=sb_relays,
            ssl=ssl,
            neutron=neutron,
        )
        yield lab
    finally:
        lab.down()


@contextmanager
def one_guest_lab(network: str, vm: str, cidr: str = "10.0.0.0/24") -> Iterator[Lab]:
    """A 1+1 lab whose compute serves one network, with a guest already served."""
    with running_lab(1, 1) as lab:
        lab.create_network(network, [cidr])
        lab.boot(vm, network, 1)
        wait_metadata(lab, vm)
        yield lab


def leftovers(lab: Lab) -> list[str]:
    """Everything of this lab still on the host: namespaces, processes, files."""
    found = [f"netns {ns}" for ns in os.listdir("/run/netns") if ns.startswith(lab.prefix + "-")]
    marker = str(lab.dir) + "/"
    for pid in procfs.pids():
        cmd = procfs.cmdline(pid)
        if marker in cmd and procfs.alive(pid):
            found.append(f"process {pid} {cmd[:80]}")
    with open("/proc/self/mountinfo") as fh:
        found += [f"mount {ln.split()[4]}" for ln in fh if str(lab.dir) in ln.split()[4]]
    if lab.dir.exists():
        found.append(f"dir {lab.dir}")
    lock = lab.root / f"{lab.prefix}.lock"
    if lock.exists():
        found.append(f"file {lock}")
    return found


def dump_logs(lab: Lab) -> None:
    if not lab.dir.exists():
        return
    for log in sorted(lab.dir.rglob("*.log")):
        lines = log.read_text(errors="replace").splitlines()[-15:]
        print(f"--- {log}\n" + "\n".join(lines), file=sys.stderr)


METADATA = "http://169.254.169.254"

# A guest that polls the metadata service: GETs in a loop for a while, then prints how many
# answers it got per status (0 = connection error or timeout).
POLLER = r"""
import collections, http.client, sys, time
host, seconds = sys.argv[1], float(sys.argv[2])
counts = collections.Counter()
end = time.monotonic() + seconds
while time.monotonic() < end:
    try:
        c = http.client.HTTPConnection(host, 80, timeout=10)
        c.request("GET", "/openstack/latest/meta_data.json")
        counts[c.getresponse().status] += 1
        c.close()
    except OSError:
        counts[0] += 1
    time.sleep(0.02)
import json
print(json.dumps({str(k): v for k, v in counts.items()}))
"""


def start_poller(lab: Lab, vm: str, seconds: float) -> subprocess.Popen:
    """POLLER in `vm` for `seconds`; `json.loads(p.communicate()[0])` is its count per status."""
    argv = ["/usr/bin/python3", "-c", POLLER, "169.254.169.254", str(seconds)]
    return subprocess.Popen(lab.exec_argv(vm, argv), stdout=subprocess.PIPE, text=True)


def metadata_get(
    lab: Lab,
    vm: str,
    path: str = "/openstack/latest/meta_data.json",
    headers: dict[str, str] | None = None,
    url: str = METADATA,
) -> tuple[int, str]:
    """(status, body) of a GET from inside an instance."""
    argv = ["curl", "-s", "-g", "-m", "10", "-w", "\n%{http_code}"]
    for k, v in (headers or {}).items():
        argv += ["-H", f"{k}: {v}"]
    out = subprocess.run(
        lab.exec_argv(vm, [*argv, url + path]), capture_output=True, text=True, timeout=30
    ).stdout
    body, _, code = out.rpartition("\n")
    return int(code or 0), body


def wait_metadata(lab: Lab, vm: str, url: str = METADATA, timeout: float = 30) -> str:
    """Poll until the instance's metadata answers 200 (the agent provisions asynchronously)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        status, body = metadata_get(lab, vm, url=url)
        if status == 200:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{vm}: metadata answered {status} for {timeout} s: {body}")
        time.sleep(0.1)
