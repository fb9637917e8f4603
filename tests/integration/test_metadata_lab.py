"""The metadata path end to end on a multi-node lab: instances -> 169.254.169.254 -> the
agent on their compute -> the metadata API on the controller (issue: the metadata agent)."""

import json
import signal
import subprocess
import time

import pytest

from ovnmeta.lab.lab import Lab
from ovnmeta.lab.proc import wait_until

from .labkit import POLLER, metadata_get, running_lab, wait_metadata

pytestmark = pytest.mark.lab

PROJECT_B = "0b0b0b0b0b0b4b0b8b0b0b0b0b0b0b0b"
INSTANCES = {"a1": ("net-a", 1), "a2": ("net-a", 2), "b1": ("net-b", 2)}


@pytest.fixture(scope="module")
def lab():
    with running_lab(1, 2) as lab:
        lab.create_network("net-a", ["10.0.0.0/24", "fd00:a::/64"])
        lab.create_network("net-b", ["10.0.0.0/24"], project=PROJECT_B)  # same CIDR
        for name, (network, compute) in INSTANCES.items():
            lab.boot(name, network, compute)
        for name in INSTANCES:
            wait_metadata(lab, name)
        yield lab


def namespaces(lab: Lab, compute: int) -> set[str]:
    out = lab.run_on_compute(compute, ["ip", "netns", "list"])
    return {line.split()[0] for line in out.splitlines() if line.startswith("ovnmeta-")}


def netns_inode(lab: Lab, compute: int, name: str) -> str:
    return lab.run_on_compute(compute, ["stat", "-L", "-c", "%i", f"/run/netns/{name}"]).strip()


def ns_of(lab: Lab, network: str) -> str:
    return f"ovnmeta-{lab.state().networks[network].id}"


@pytest.mark.parametrize("name", sorted(INSTANCES))
def test_instance_reads_its_own_metadata_over_ipv4(lab, name):
    vm = lab.instance(name)
    doc = json.loads(wait_metadata(lab, name))
    assert doc["uuid"] == vm.id  # X-Instance-ID, signed: the API checks the signature
    assert doc["project_id"] == vm.project  # X-Tenant-ID
    status, local_ip = metadata_get(lab, name, "/latest/meta-data/local-ipv4")
    assert (status, local_ip) == (200, vm.addresses[0])  # X-Forwarded-For


def test_same_address_on_two_networks_reaches_two_instances(lab):
    a1, b1 = lab.instance("a1"), lab.instance("b1")
    assert a1.addresses[0] == b1.addresses[0] == "10.0.0.10"
    assert json.loads(wait_metadata(lab, "b1"))["uuid"] == b1.id


def test_instance_reads_its_metadata_over_ipv6_link_local(lab):
    vm = lab.instance("a1")
    body = wait_metadata(lab, "a1", url="http://[fe80::a9fe:a9fe%eth0]")
    assert json.loads(body)["uuid"] == vm.id


def test_upstream_names_in_each_compute(lab):
    net_a, net_b = ns_of(lab, "net-a"), ns_of(lab, "net-b")
    assert namespaces(lab, 1) == {net_a}
    assert namespaces(lab, 2) == {net_a, net_b}
    net_id = lab.state().networks["net-a"].id
    veth = f"tap{net_id[:10]}0"
    iface = lab.run_on_compute(
        1,
        [
            "ovs-vsctl",
            f"--db=unix:{lab.dir}/cmp1/ovs/db.sock",
            "get",
            "Interface",
            veth,
            "external_ids:iface-id",
        ],
    )
    assert iface.strip().strip('"') == lab.state().networks["net-a"].metadata_port
    addrs = lab.run_on_compute(1, ["ip", "netns", "exec", net_a, "ip", "-o", "addr"])
    assert "169.254.169.254/32" in addrs and "10.0.0.2/24" in addrs


def test_agent_registered_as_neutron_server_expects(lab):
    nb = lab.northbound()
    for cmp in lab.topology().computes:
        ids = nb.sbctl(
            "--bare", "--columns=external_ids", "find", "Chassis_Private", f"name={cmp.chassis}"
        )
        assert "neutron:ovn-metadata-id=" in ids
        assert "neutron:ovn-bridge=br-int" in ids


@pytest.mark.parametrize(
    "headers",
    [
        {"X-OVN-Network-ID": "00000000-0000-0000-0000-000000000000"},
        {"X-Instance-ID": "not-me"},
        {"X-Forwarded-For": "10.0.0.11"},
        {"X-Tenant-ID": PROJECT_B, "X-Instance-ID-Signature": "0" * 64},
    ],
    ids=["network-id", "instance-id", "forwarded-for", "tenant-and-signature"],
)
def test_forged_headers_change_nothing(lab, headers):
    if "X-OVN-Network-ID" in headers:
        headers = {"X-OVN-Network-ID": lab.state().networks["net-b"].id}
    status, body = metadata_get(lab, "a2", headers=headers)
    assert status == 200
    assert json.loads(body)["uuid"] == lab.instance("a2").id


def test_unknown_source_address_gets_404(lab):
    # From the metadata namespace itself: its address belongs to no instance port.
    net_a = ns_of(lab, "net-a")
    out = lab.run_on_compute(
        1,
        [
            "ip",
            "netns",
            "exec",
            net_a,
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--interface",
            "10.0.0.2",
            "http://169.254.169.254/openstack/latest/meta_data.json",
        ],
    )
    assert out == "404"


def test_network_torn_down_with_its_last_instance_and_new_one_served(lab):
    lab.create_network("net-c", ["10.3.0.0/24"])
    lab.boot("c1", "net-c", 1)
    net_c = ns_of(lab, "net-c")
    assert json.loads(wait_metadata(lab, "c1"))["uuid"] == lab.instance("c1").id
    assert net_c in namespaces(lab, 1)
    lab.remove_instance("c1")
    wait_until(f"{net_c} to be torn down", lambda: net_c not in namespaces(lab, 1), 30)
    assert ns_of(lab, "net-a") in namespaces(lab, 1)  # the others stay


def poll_during(lab: Lab, vm: str, seconds: float, action) -> dict[int, int]:
    poller = subprocess.Popen(
        lab.exec_argv(vm, ["/usr/bin/python3", "-c", POLLER, "169.254.169.254", str(seconds)]),
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(1)
    action()
    out, _ = poller.communicate(timeout=seconds + 30)
    return {int(k): v for k, v in json.loads(out).items()}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["restart", "kill-9"])
def test_agent_restart_keeps_namespaces_and_fails_no_request(lab, sig):
    before = {n: netns_inode(lab, 2, n) for n in namespaces(lab, 2)}

    def restart() -> None:
        lab.stop_agent(2, sig)
        time.sleep(0.5)  # a real restart takes a moment: requests arrive meanwhile
        lab.start_agent(2)

    counts = poll_during(lab, "a2", 5, restart)
    assert set(counts) == {200}, counts
    assert counts[200] > 20
    assert {n: netns_inode(lab, 2, n) for n in namespaces(lab, 2)} == before


def test_backend_down_gives_503_then_recovers(lab):
    lab.stop_metadata_api()
    try:
        status, _ = metadata_get(lab, "a1")
        assert status == 503
    finally:
        lab.start_metadata_api()
    wait_metadata(lab, "a1")


def test_wrong_shared_secret_is_403_with_a_hint_in_the_log(lab):
    lab.stop_agent(1)
    lab.start_agent(1, secret="not-the-secret")
    try:
        wait_until(
            "403 from the metadata API", lambda: metadata_get(lab, "a1")[0] == 403, timeout=30
        )
        assert "secret" in lab.agent_log(1).lower()
    finally:
        lab.stop_agent(1)
        lab.start_agent(1)
    wait_metadata(lab, "a1")
