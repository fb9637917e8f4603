"""In-place migration with a polling guest (issue 11, docs/migration.md): from upstream's
agent to ovnmeta and back, for both upstream agents (neutron-ovn-metadata-agent, and
neutron-ovn-agent with the metadata extension). ovnmeta runs on upstream's own ini file, as a
deployment swapping the binary would; zero failed guest requests each way.
"""

import json
import subprocess
import time

import pytest

from ovnmeta.core.procfs import alive
from ovnmeta.lab import compute
from ovnmeta.lab.lab import Lab
from ovnmeta.lab.proc import spawn, stop, wait_until
from ovnmeta.lab.upstream_agent import UpstreamAgent, decommission_ovnmeta

from .labkit import OVNMETA, running_lab

pytestmark = pytest.mark.lab

# GETs in a loop until the stop file appears; prints the count per status (0 = connection
# error or timeout) and the longest request in ms.
POLLER = r"""
import collections, http.client, json, os, sys, time
stop_file = sys.argv[1]
counts, longest, failures, slow = collections.Counter(), 0.0, [], []
while not os.path.exists(stop_file):
    t0, w0 = time.monotonic(), time.time()
    try:
        c = http.client.HTTPConnection("169.254.169.254", 80, timeout=10)
        c.request("GET", "/openstack/latest/meta_data.json")
        counts[c.getresponse().status] += 1
        c.close()
    except OSError as exc:
        counts[0] += 1
        failures.append({"at": w0, "ms": (time.monotonic() - t0) * 1000, "error": repr(exc)})
    else:
        if time.monotonic() - t0 > 1:  # answered, but slowly: where in the handover?
            slow.append({"at": w0, "ms": (time.monotonic() - t0) * 1000, "error": "slow"})
    longest = max(longest, time.monotonic() - t0)
    time.sleep(0.02)
out = {"counts": {str(k): v for k, v in counts.items()}, "longest_ms": longest * 1000}
print(json.dumps({**out, "failures": failures, "slow": slow}))
"""

KEYS = {
    "metadata-agent": {"neutron:ovn-metadata-id", "neutron:ovn-metadata-sb-cfg"},
    "ovn-agent": {"neutron:ovn-neutron-agent-id", "neutron:ovn-neutron-agent-sb-cfg"},
}


@pytest.fixture(scope="module")
def lab():
    with running_lab(1, 1) as lab:
        lab.create_network("net1", ["10.0.0.0/24"])
        lab.boot("vm1", "net1", 1)
        decommission_ovnmeta(lab, 1)  # the chassis starts as an upstream one
        yield lab


class Poller:
    def __init__(self, lab: Lab) -> None:
        self.stop_file = lab.dir / "poller.stop"
        self.stop_file.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            lab.exec_argv("vm1", ["python3", "-c", POLLER, str(self.stop_file)]),
            stdout=subprocess.PIPE,
            text=True,
        )

    def result(self) -> dict:
        self.stop_file.touch()
        out, _ = self.proc.communicate(timeout=60)
        return json.loads(out)


class Timeline:
    """Wall-clock marks of the migration's steps, to place a failed guest request."""

    def __init__(self) -> None:
        self.marks: list[tuple[float, str]] = []

    def mark(self, label: str) -> None:
        self.marks.append((time.time(), label))

    def place(self, result: dict) -> list[str]:
        """Each failed or slow (> 1 s) request with the step marks around it (seconds
        relative to it)."""
        lines = []
        for f in result["failures"] + result["slow"]:
            near = [f"{label} {t - f['at']:+.2f}s" for t, label in self.marks]
            lines.append(f"request at {f['at']:.3f} ended after {f['ms']:.0f} ms ({f['error']}): "
                         + ", ".join(near))  # fmt: skip
        return lines


def chassis_keys(lab: Lab) -> set[str]:
    chassis = lab.topology().compute(1).chassis
    out = lab.northbound().sbctl("get", "Chassis_Private", chassis, "external_ids")
    return {item.split("=", 1)[0].strip(' "{}') for item in out.split(",") if "=" in item}


def start_ovnmeta(lab: Lab, up: UpstreamAgent) -> int:
    """ovnmeta's agent on upstream's own ini file (the binary swapped, nothing else)."""
    cmp = lab.topology().compute(1)
    argv = [*OVNMETA, "agent", "--config-file", str(up.ini)]
    return spawn(
        compute.nsenter_argv(lab.dir, cmp, argv),
        pidfile=up.state / "ovnmeta-agent.pid",
        log=up.state / "ovnmeta-agent.stderr",
    )


def start_release(lab: Lab, up: UpstreamAgent) -> subprocess.Popen:
    """`ovnmeta agent --release` on the same ini, before upstream starts (docs/migration.md,
    the way back); returns once it waits for upstream to bind the socket path."""
    argv = lab.compute_argv(1, [*OVNMETA, "agent", "--release", "--config-file", str(up.ini)])
    with open(up.state / "release.log", "w") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, text=True)
    log = up.state / "release.log"
    waits = "waiting for upstream's agent to bind it"
    wait_until("--release to wait", lambda: waits in log.read_text() or proc.poll() is not None, 60)
    assert proc.poll() is None, log.read_text()
    return proc


@pytest.mark.parametrize("mode", ["metadata-agent", "ovn-agent"])
def test_migration_to_ovnmeta_and_back(lab, mode):
    net = lab.state().networks["net1"]
    up = UpstreamAgent(lab, 1, mode=mode)
    want = {"neutron:ovn-bridge", *KEYS[mode]}
    ovnmeta_pid = None
    try:
        up.start()
        up.wait_registered()
        up.wait_served({net.id})
        poller = Poller(lab)
        time.sleep(2)

        # upstream -> ovnmeta: ovnmeta starts on the same ini, takes the socket path and the
        # listeners over and soft-stops upstream's haproxy; then upstream's agent stops.
        haproxy = up.haproxy_pids()[net.id]
        ovnmeta_pid = start_ovnmeta(lab, up)
        wait_until("upstream's haproxy retired", lambda: not up.haproxy_pids(), 60)
        up.stop(leave_dataplane=True)
        wait_until("upstream's haproxy to exit", lambda: not alive(haproxy), 40)
        wait_until("Chassis_Private as neutron expects", lambda: chassis_keys(lab) == want, 30)
        time.sleep(2)
        there = poller.result()
        print(f"{mode} -> ovnmeta: {there}")
        assert set(there["counts"]) == {"200"}, there
        assert alive(ovnmeta_pid) and up.namespaces() == [f"ovnmeta-{net.id}"]

        # ovnmeta -> upstream: --release first, then upstream starts; ovnmeta answers for
        # upstream (its socket and its new haproxies) until upstream answers and serves every
        # network, then the edge soft-stops and ovnmeta's agent and holder stop.
        poller, steps = Poller(lab), Timeline()
        release = start_release(lab, up)
        steps.mark("release waits")
        up.start()
        steps.mark("upstream started")
        up.wait_served({net.id})
        steps.mark("upstream haproxy")
        code = release.wait(timeout=900)
        steps.mark("released")
        print((up.state / "release.log").read_text())
        assert code == 0, (up.state / "release.log").read_text()
        assert not alive(ovnmeta_pid)
        ovnmeta_pid = None
        time.sleep(2)
        back = poller.result()
        print(f"ovnmeta -> {mode}: {back}")
        print("\n".join(steps.place(back)))
        assert chassis_keys(lab) == want
        assert up.haproxy_pids().keys() == {net.id}
        assert set(back["counts"]) == {"200"}, back
    finally:
        if ovnmeta_pid is not None:
            stop([ovnmeta_pid])
        up.stop()
