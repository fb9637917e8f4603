"""ovnmeta against the real neutron (`lab up --neutron`): ML2/OVN writes the NB, neutron lists
the agents (issue 11). One lab for the module: two computes, one dual-stack network.

neutron runs with agent_down_time 10 (bumps nb_cfg at most every 5 s); the agents keep their
default 75, the mismatch that made upstream's heartbeat look dead (docs/agent.md, "Liveness").
"""

import time

import pytest

from ovnmeta.lab import neutron_server
from ovnmeta.lab.lab import Lab

from .labkit import METADATA, running_lab, wait_metadata

pytestmark = [pytest.mark.lab, pytest.mark.neutron]

DOWN = neutron_server.AGENT_DOWN_TIME
ROLES = {  # ovn_agent: (agent_type, binary, id key, sb-cfg key)
    False: (
        "OVN Metadata agent",
        "neutron-ovn-metadata-agent",
        "neutron:ovn-metadata-id",
        "neutron:ovn-metadata-sb-cfg",
    ),
    True: (
        "OVN Neutron agent",
        "neutron-ovn-agent",
        "neutron:ovn-neutron-agent-id",
        "neutron:ovn-neutron-agent-sb-cfg",
    ),
}


@pytest.fixture(scope="module")
def lab():
    with running_lab(1, 2, neutron=True) as lab:
        lab.create_network("net1", ["10.0.0.0/24", "fd00:1::/64"])
        lab.boot("vm1", "net1", 1)
        lab.boot("vm2", "net1", 2)
        yield lab


def metadata_agent(lab: Lab, host: str, agent_type: str) -> dict | None:
    for agent in lab.neutron().agents():
        if agent["host"] == host and agent["agent_type"] == agent_type:
            return agent
    return None


def alive(lab: Lab, host: str, agent_type: str) -> bool:
    agent = metadata_agent(lab, host, agent_type)
    return bool(agent and agent["alive"])


def poll_until(what: str, predicate, timeout: float, interval: float = 0.5) -> float:
    """Seconds until `predicate()` held, polling neutron every `interval` as a client would."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not {what} after {timeout} s")
        time.sleep(interval)
    return time.monotonic() - start


def chassis_private_ids(lab: Lab, compute: int) -> dict[str, str]:
    chassis = lab.topology().compute(compute).chassis
    out = lab.northbound().sbctl("get", "Chassis_Private", chassis, "external_ids")
    pairs = out.strip().strip("{}")
    ids = {}
    for item in filter(None, (p.strip() for p in pairs.split(","))):
        key, _, value = item.partition("=")
        ids[key.strip('"')] = value.strip('"')
    return ids


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
@pytest.mark.parametrize("vm", ["vm1", "vm2"])
def test_neutron_ports_get_their_metadata_on_both_computes(lab, vm, family):
    url = METADATA if family == "ipv4" else "http://[fe80::a9fe:a9fe%eth0]"
    # the agent provisions asynchronously (seconds, more on a loaded machine); v6 after DAD
    body = wait_metadata(lab, vm, url=url, timeout=90)
    assert f'"uuid": "{lab.instance(vm).id}"' in body


def test_ports_are_neutrons(lab):
    ports = {p["id"]: p for p in lab.neutron().find("port")}
    for vm in ("vm1", "vm2"):
        rec = lab.instance(vm)
        port = ports[rec.port]
        assert port["binding:host_id"] == lab.topology().compute(rec.compute).chassis
        assert port["device_id"] == rec.id and port["status"] == "ACTIVE"


@pytest.mark.parametrize("ovn_agent", [True, False], ids=["neutron-ovn-agent", "metadata-agent"])
def test_each_role_is_listed_alive_with_its_type_and_binary(lab, ovn_agent):
    agent_type, binary, id_key, sb_cfg_key = ROLES[ovn_agent]
    host = lab.topology().compute(2).chassis
    lab.stop_agent(2)
    lab.set_agent_role(2, ovn_agent)
    lab.start_agent(2)
    # exactly the role's keys once registered: the other role's are removed in the same
    # transaction (neutron's cache may list the role's agent alive before that: a stale entry)
    want = {"neutron:ovn-bridge", id_key, sb_cfg_key}
    poll_until("registered", lambda: set(chassis_private_ids(lab, 2)) == want, 30, 0.2)
    poll_until(f"{agent_type} alive", lambda: alive(lab, host, agent_type), 30)
    agent = metadata_agent(lab, host, agent_type)
    assert agent["binary"] == binary
    ids = chassis_private_ids(lab, 2)
    assert set(ids) == want, ids
    assert agent["id"] == ids[id_key]
    # and the guest on that compute is still served
    body = lab.run_in("vm2", ["curl", "-sf", "-m", "10", f"{METADATA}/openstack"])
    assert "latest" in body


def test_sigterm_turns_dead_within_agent_down_time_and_restart_alive(lab):
    host = lab.topology().compute(1).chassis
    agent_type = ROLES[False][0]
    poll_until("alive", lambda: alive(lab, host, agent_type), 30)
    lab.stop_agent(1)  # SIGTERM, as systemd stops it
    # dead once neutron is two bumps ahead and the last write is agent_down_time old: the
    # bumps come every DOWN/2 s while polled, so within DOWN + one bump + polling
    dead_after = poll_until("dead", lambda: not alive(lab, host, agent_type), DOWN + DOWN / 2 + 5)
    lab.start_agent(1)
    alive_after = poll_until("alive again", lambda: alive(lab, host, agent_type), 30)
    print(f"SIGTERM -> dead in {dead_after:.1f} s, restart -> alive in {alive_after:.1f} s")
    assert dead_after > 1  # a stopped agent is not dead at once: the grace is neutron's


def test_no_false_dead_over_a_minute_of_polling(lab):
    hosts = [c.chassis for c in lab.topology().computes]
    agent_type = ROLES[False][0]
    for host in hosts:
        poll_until("alive", lambda h=host: alive(lab, h, agent_type), 30)
    dead = []
    end = time.monotonic() + 60
    polls = 0
    while time.monotonic() < end:
        agents = lab.neutron().agents()
        polls += 1
        dead += [
            (round(end - time.monotonic()), a["host"])
            for a in agents
            if a["host"] in hosts and a["agent_type"] == agent_type and not a["alive"]
        ]
        time.sleep(0.5)
    assert polls > 60 and not dead, dead


def test_deleting_the_port_through_neutron_removes_the_namespace(lab):
    net2 = lab.create_network("net2", ["10.2.0.0/24"])
    started = time.monotonic()
    lab.boot("vm3", "net2", 2)  # POST /v2.0/ports, plug, DHCP
    wait_metadata(lab, "vm3")
    # a new network on that compute: the namespace is provisioned after the port is bound
    print(f"port create -> first 200 (new network, DHCP included): "
          f"{time.monotonic() - started:.2f} s")  # fmt: skip
    namespace = f"ovnmeta-{net2.id}"
    assert namespace in lab.run_on_compute(2, ["ip", "netns", "list"])
    lab.remove_instance("vm3")  # DELETE /v2.0/ports/<id>
    poll_until(
        "namespace gone",
        lambda: namespace not in lab.run_on_compute(2, ["ip", "netns", "list"]),
        30,
        interval=0.2,
    )
    lab.delete_network("net2")  # DELETE /v2.0/networks/<id>
    assert all(n["id"] != net2.id for n in lab.neutron().find("network"))
