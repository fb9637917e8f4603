"""RAFT failover on the real lab: the SB leader dies, the control plane heals itself."""

import os
import signal
import time

import pytest

from ovnmeta.lab import central, compute
from ovnmeta.lab.lab import Lab
from ovnmeta.lab.proc import wait_until

from .labkit import running_lab

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab():
    with running_lab(3, 3) as lab:
        lab.create_network("net", ["10.0.0.0/24"])
        lab.boot("a", "net", 1)
        lab.boot("b", "net", 2)
        yield lab


def sb_peer_of(lab: Lab, cmp: compute.Compute) -> str:
    """The controller IP a compute's ovn-controller holds its SB connection to."""
    out = lab.run_on_node(cmp.netns, ["ss", "-Htn", "state", "established", "( dport = :6642 )"])
    return out.split()[-1].rsplit(":", 1)[0] if out.strip() else ""


def test_sb_leader_killed_new_leader_controllers_reconnect_new_port_works(lab):
    topo = lab.topology()
    victim = lab.leader("sb")
    victim_ip = next(c.ip for c in topo.controllers if c.name == victim)
    pid = lab.controller_db_pid(victim, "sb")
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)

    new_leader = wait_until("a new SB leader", lambda: lab.leader("sb"), timeout=30)
    elected = time.monotonic() - killed
    assert new_leader != victim

    def all_reconnected() -> bool:
        return all(
            compute.controller_status(lab.dir, c) == "connected"
            and sb_peer_of(lab, c) not in ("", victim_ip)
            for c in topo.computes
        )

    wait_until("every ovn-controller on a live SB member", all_reconnected, timeout=30)
    reconnected = time.monotonic() - killed

    lab.boot("c", "net", 3)  # NB->SB through the new leader, bound on cmp3
    out = lab.run_in(
        "a", ["ping", "-c", "2", "-i", "0.2", "-W", "2", lab.instance("c").addresses[0]]
    )
    assert " 0% packet loss" in out
    served = time.monotonic() - killed

    lab.start_controller_db(victim, "sb")
    ctl = next(c for c in topo.controllers if c.name == victim)
    wait_until(
        f"{victim} to rejoin the SB cluster",
        lambda: central.member_healthy(central.cluster_status(lab.dir, ctl, central.SB), 3),
        timeout=30,
    )
    rejoined = time.monotonic() - killed
    print(
        f"\nSB leader failover: elected {elected:.2f} s, controllers reconnected "
        f"{reconnected:.2f} s, new instance reachable {served:.2f} s, "
        f"victim rejoined {rejoined:.2f} s"
    )


def test_data_plane_survives_the_failover(lab):
    out = lab.run_in(
        "b", ["ping", "-c", "3", "-i", "0.2", "-W", "2", lab.instance("a").addresses[0]]
    )
    assert " 0% packet loss" in out
