"""Issue 14.2: a lab whose computes reach the SB only through relays (`--sb-relays 2`).
Metadata end to end, registration and heartbeat writes through a relay, and a relay killed
under a polling guest: its clients move to the other one, no request fails, new ports are
served."""

import json
import re
import signal
import subprocess
import time

import pytest

from ovnmeta.lab import services
from ovnmeta.lab.lab import Lab
from ovnmeta.lab.proc import wait_until

from .labkit import POLLER, running_lab, wait_metadata

pytestmark = pytest.mark.lab

KEY_SB_CFG = "neutron:ovn-metadata-sb-cfg"


@pytest.fixture(scope="module")
def lab():
    with running_lab(1, 1, sb_relays=2) as lab:
        lab.create_network("net-a", ["10.0.0.0/24"])
        lab.boot("vm1", "net-a", 1)
        wait_metadata(lab, "vm1")
        yield lab


def sb_peers(lab: Lab, program: str, pid: int | None = None) -> set[int]:
    return lab.sb_peer_ports(1, program, pid)


def relay_ports(lab: Lab) -> dict[int, str]:
    return {r.port: r.name for r in lab.topology().relays}


def agent_status(lab: Lab) -> dict:
    return json.loads(services.agent_status_file(lab.dir, lab.topology().compute(1)).read_text())


def chassis_private_ids(lab: Lab) -> str:
    chassis = lab.topology().compute(1).chassis
    return lab.northbound().sbctl(
        "--bare", "--columns=external_ids", "find", "Chassis_Private", f"name={chassis}"
    )


def test_metadata_end_to_end_through_relays(lab):
    vm = lab.instance("vm1")
    assert json.loads(wait_metadata(lab, "vm1"))["uuid"] == vm.id
    relays = set(relay_ports(lab))
    agent = lab.agent_pid(1)
    # Clients hold exactly one SB connection each, to a relay, never to a member.
    assert len(sb_peers(lab, "python3", agent)) == 1
    assert sb_peers(lab, "python3", agent) <= relays
    assert len(sb_peers(lab, "ovn-controller")) == 1
    assert sb_peers(lab, "ovn-controller") <= relays
    conf = services.agent_config(lab.dir, lab.topology().compute(1)).read_text()
    assert re.search(
        r"^ovn_sb_connection = tcp:10\.255\.0\.11:6651,tcp:10\.255\.0\.11:6652$", conf, re.M
    )


def test_registration_and_heartbeat_go_through_relays(lab):
    assert "neutron:ovn-metadata-id" in chassis_private_ids(lab)
    nb = lab.northbound()
    nb.nbctl("--wait=sb", "sync")  # bumps NB_Global.nb_cfg; northd copies it to SB_Global
    nb_cfg = nb.sbctl("get", "SB_Global", ".", "nb_cfg").strip()
    # The agent's only remotes are the relays: this write was forwarded by one of them.
    wait_until(
        f"the agent to write {KEY_SB_CFG}={nb_cfg}",
        lambda: (
            f'"{KEY_SB_CFG}"="{nb_cfg}"' in chassis_private_ids(lab)
            or f"{KEY_SB_CFG}={nb_cfg}" in chassis_private_ids(lab)
        ),
        timeout=30,
    )


def test_relay_killed_clients_move_and_no_request_fails(lab):
    names = relay_ports(lab)
    agent = lab.agent_pid(1)
    (port,) = sb_peers(lab, "python3", agent)
    victim = names[port]
    poller = subprocess.Popen(
        lab.exec_argv("vm1", ["/usr/bin/python3", "-c", POLLER, "169.254.169.254", "10"]),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.5)
        killed = time.monotonic()
        lab.stop_relay(victim, signal.SIGKILL)
        other = set(names) - {port}
        moved = wait_until(
            "the agent and ovn-controller to reconnect to the other relay",
            lambda: (
                sb_peers(lab, "python3", agent) == other
                and sb_peers(lab, "ovn-controller") == other
                and agent_status(lab)["sb"] == "connected"
            ),
            timeout=30,
        )
        assert moved
        print(f"clients on the other relay {time.monotonic() - killed:.2f} s after the kill")
        # A new port on a new network is served through the remaining relay.
        lab.create_network("net-b", ["10.1.0.0/24"])
        lab.boot("vm2", "net-b", 1)
        assert json.loads(wait_metadata(lab, "vm2"))["uuid"] == lab.instance("vm2").id
        counts = json.loads(poller.communicate(timeout=60)[0])
    finally:
        if poller.poll() is None:
            poller.kill()
        lab.start_relay(victim)
    print(f"guest polling across the kill: {counts}")
    assert set(counts) == {"200"} and counts["200"] > 50, counts
    assert agent_status(lab)["registered"]
