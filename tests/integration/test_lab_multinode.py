"""A 3-controller, 3-compute lab with two metadata networks and one without metadata."""

import json
import re
import subprocess
import time

import pytest

from ovnmeta.lab.lab import Lab

from .labkit import cli, running_lab

pytestmark = pytest.mark.lab

INSTANCES = {  # name: (network, compute)
    "a1": ("net-a", 1),
    "a2": ("net-a", 2),
    "b1": ("net-b", 3),
    "b2": ("net-b", 1),
    "c1": ("net-c", 2),
}


@pytest.fixture(scope="module")
def lab():
    with running_lab(3, 3) as lab:
        lab.create_network("net-a", ["10.0.0.0/24", "fd00:a::/64"])
        lab.create_network("net-b", ["10.1.0.0/24"])
        lab.create_network("net-c", ["10.2.0.0/24"], metadata=False)
        for name, (network, compute) in INSTANCES.items():
            lab.boot(name, network, compute)
        yield lab


def ip_of(lab: Lab, name: str) -> str:
    return lab.instance(name).addresses[0]


@pytest.mark.parametrize("name", ["a1", "a2", "b1", "b2"])
def test_instance_got_its_address_and_metadata_route_by_dhcp(lab, name):
    vm = lab.instance(name)
    net = lab.state().networks[vm.network]
    metadata_ip = net.cidrs[0].rsplit(".", 1)[0] + ".2"
    addr = lab.run_in(name, ["ip", "-4", "-o", "addr", "show", "dev", "eth0"])
    assert f"inet {vm.addresses[0]}/24" in addr
    routes = lab.run_in(name, ["ip", "route"])
    assert re.search(
        rf"^169\.254\.169\.254 via {re.escape(metadata_ip)} dev eth0 proto dhcp", routes, re.M
    ), routes
    assert "mtu 1442" in lab.run_in(name, ["ip", "link", "show", "eth0"])
    assert vm.dhcp["ip"] == vm.addresses[0]


def test_network_without_metadata_has_no_port_and_no_route(lab):
    net = lab.state().networks["net-c"]
    assert net.metadata_port is None
    nb = cli("lab", "status", "--name", lab.prefix, "--json")
    assert json.loads(nb.stdout)["networks"][2]["metadata_port"] is None
    ports = subprocess.run(
        [
            "ovn-nbctl",
            f"--db={json.loads(nb.stdout)['nb']}",
            "--bare",
            "--columns=type",
            "list",
            "Logical_Switch_Port",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    switch_ports = subprocess.run(
        ["ovn-nbctl", f"--db={json.loads(nb.stdout)['nb']}", "lsp-list", net.switch],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert len(switch_ports.strip().splitlines()) == 1  # only c1's port
    assert ports.count("localport") == 2  # net-a and net-b
    routes = lab.run_in("c1", ["ip", "route"])
    assert "169.254.169.254" not in routes
    assert "default via 10.2.0.1" in routes


def test_metadata_port_is_a_neutron_style_localport(lab):
    net = lab.state().networks["net-a"]
    nb = lab.northbound()
    out = nb.nbctl(
        "--bare",
        "--columns=type,addresses,external_ids",
        "list",
        "Logical_Switch_Port",
        net.metadata_port,
    )
    assert "localport" in out
    assert f"neutron:device_id=ovnmeta-{net.id}" in out
    assert "neutron:device_owner=network:distributed" in out
    assert "neutron:cidrs=10.0.0.2/24 fd00:a::2/64" in out


@pytest.mark.parametrize("src, dst", [("a1", "a2"), ("a2", "a1"), ("b1", "b2")])
def test_ping_between_instances_on_different_computes(lab, src, dst):
    assert lab.instance(src).compute != lab.instance(dst).compute
    out = lab.run_in(src, ["ping", "-c", "3", "-i", "0.2", "-W", "2", ip_of(lab, dst)])
    assert " 0% packet loss" in out


def test_ipv6_between_instances_on_different_computes(lab):
    dst = lab.instance("a2").addresses[1]
    out = lab.run_in("a1", ["ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", dst])
    assert " 0% packet loss" in out


def test_http_between_instances_on_different_computes(lab):
    server = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            lab.instance("a2").netns,
            "/usr/bin/python3",
            "-m",
            "http.server",
            "8080",
            "--bind",
            ip_of(lab, "a2"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://{ip_of(lab, 'a2')}:8080/"
        deadline = time.monotonic() + 15
        while True:
            probe = subprocess.run(
                [
                    "ip",
                    "netns",
                    "exec",
                    lab.instance("a1").netns,
                    "curl",
                    "-s",
                    "-m",
                    "2",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    url,
                ],
                capture_output=True,
                text=True,
            )
            if probe.stdout == "200" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert probe.stdout == "200"
    finally:
        server.kill()
        server.wait()


def test_instances_of_one_network_do_not_reach_another_network(lab):
    out = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            lab.instance("a1").netns,
            "ping",
            "-c",
            "1",
            "-W",
            "1",
            ip_of(lab, "b2"),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0


def test_clusters_have_one_leader_and_one_active_northd(lab):
    report = json.loads(cli("lab", "status", "--name", lab.prefix, "--json").stdout)
    ctls = [n for n in report["nodes"] if n["role"] == "controller"]
    for db in ("ovsdb-server-nb", "ovsdb-server-sb"):
        roles = sorted(d["health"] for n in ctls for d in n["daemons"] if d["name"] == db)
        assert roles == ["follower", "follower", "leader"]
    northd = sorted(d["health"] for n in ctls for d in n["daemons"] if d["name"] == "ovn-northd")
    assert northd == ["active", "standby", "standby"]
    computes = [n for n in report["nodes"] if n["role"] == "compute"]
    assert all(
        d["health"] == "connected"
        for n in computes
        for d in n["daemons"]
        if d["name"] == "ovn-controller"
    )
    assert {v["name"]: v["compute"] for v in report["instances"]} == {
        name: f"cmp{cmp}" for name, (_, cmp) in INSTANCES.items()
    }


def test_status_table_shows_nodes_and_instances(lab):
    out = cli("lab", "status", "--name", lab.prefix).stdout
    assert "ovn-northd" in out and "ovn-controller" in out
    assert lab.instance("b1").netns in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["boot", "x1", "--network", "net-a", "--compute", "9"], "unknown compute '9'"),
        (["boot", "x1", "--network", "nope", "--compute", "1"], "unknown network 'nope'"),
        (["boot", "a1", "--network", "net-a", "--compute", "1"], "instance 'a1' already exists"),
        (["exec", "nope", "--", "true"], "unknown instance 'nope'"),
        (["rm", "nope"], "unknown instance 'nope'"),
        (["network", "create", "x", "--cidr", "10.9.0.0/24", "--cidr", "10.9.0.0/25"], "overlaps"),
        (["network", "create", "net-a", "--cidr", "10.9.0.0/24"], "already exists"),
        (["up", "--computes", "1"], "already up"),
    ],
)
def test_bad_input_is_one_clear_line_and_changes_nothing(lab, args, message):
    before = lab.state()
    namespaces = lab_namespaces(lab)
    proc = (
        cli("lab", *args, "--name", lab.prefix, check=False)
        if args[0] != "exec"
        else cli("lab", "exec", "--name", lab.prefix, *args[1:], check=False)
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert lab.state() == before
    assert lab_namespaces(lab) == namespaces


def lab_namespaces(lab) -> set[str]:
    """This lab's namespaces on the host (other sessions' labs come and go meanwhile)."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {word for word in listed.split() if word.startswith(lab.prefix + "-")}
