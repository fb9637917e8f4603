import pytest

from ovnmeta.core.errors import UsageError
from ovnmeta.lab.topology import (
    instance_netns,
    node_netns_pattern,
    plan,
    validate_prefix,
    validate_vm_name,
)


def test_three_controllers_get_distinct_addresses_and_raft_ports():
    topo = plan("lab1", controllers=3, computes=2)
    assert [c.ip for c in topo.controllers] == ["10.255.0.11", "10.255.0.12", "10.255.0.13"]
    assert topo.controllers[1].raft_address("sb") == "tcp:10.255.0.12:6644"
    assert topo.controllers[1].raft_address("nb") == "tcp:10.255.0.12:6643"
    assert topo.remotes("sb") == "tcp:10.255.0.11:6642,tcp:10.255.0.12:6642,tcp:10.255.0.13:6642"


def test_computes_are_chassis_with_unique_encap_ips_and_macs():
    topo = plan("lab1", controllers=1, computes=3)
    assert [c.chassis for c in topo.computes] == ["lab1-cmp1", "lab1-cmp2", "lab1-cmp3"]
    assert len({c.ip for c in topo.computes}) == 3
    macs = [c.eth_mac for c in topo.computes] + [c.brphy_mac for c in topo.computes]
    assert len(set(macs)) == 6  # br-phy must not share eth0's MAC (lab-recipe 11.4)


def test_namespaces_carry_the_prefix():
    topo = plan("lab1", controllers=1, computes=1)
    assert topo.node_namespaces() == ("lab1-underlay", "lab1-ctl1", "lab1-cmp1")
    assert instance_netns("lab1", "vm-a") == "lab1-vm-vm-a"


def test_teardown_pattern_matches_only_this_lab():
    pattern = node_netns_pattern("lab1")
    assert pattern.match("lab1-cmp12")
    assert pattern.match("lab1-vm-web-1")
    assert pattern.match("lab1-vm-p1_0")  # made by a script by hand: still torn down
    assert not pattern.match("lab12-cmp1")
    assert not pattern.match("ovnmeta-3f1c")


@pytest.mark.parametrize(
    "controllers, computes, message",
    [(2, 1, "--controllers must be 1 or 3"), (1, 0, "--computes must be between")],
)
def test_bad_sizes_are_usage_errors(controllers, computes, message):
    with pytest.raises(UsageError, match=message):
        plan("lab1", controllers, computes)


@pytest.mark.parametrize("prefix", ["", "Lab", "1lab", "a-b", "x" * 13, "ovnmeta1"])
def test_bad_prefixes_are_rejected(prefix):
    with pytest.raises(UsageError):
        validate_prefix(prefix)


def test_unknown_compute_names_the_known_ones():
    topo = plan("lab1", controllers=1, computes=2)
    assert topo.compute("2").name == "cmp2"
    assert topo.compute("cmp1").index == 1
    with pytest.raises(UsageError, match=r"unknown compute '7' \(this lab has: cmp1, cmp2\)"):
        topo.compute(7)


@pytest.mark.parametrize("name", ["", "VM", "-a", "a_b", "a" * 33])
def test_bad_instance_names_are_rejected(name):
    with pytest.raises(UsageError):
        validate_vm_name(name)
    with pytest.raises(UsageError):
        instance_netns("lab1", name)


def test_relays_go_round_robin_on_the_controllers_and_clients_use_only_them():
    topo = plan("x", 3, 1, sb_relays=4)
    assert [(r.name, r.host.name, r.port) for r in topo.relays] == [
        ("sbr1", "ctl1", 6651),
        ("sbr2", "ctl2", 6652),
        ("sbr3", "ctl3", 6653),
        ("sbr4", "ctl1", 6654),
    ]
    assert topo.sb_client_remotes() == (
        "tcp:10.255.0.11:6651,tcp:10.255.0.12:6652,tcp:10.255.0.13:6653,tcp:10.255.0.11:6654"
    )
    assert plan("x", 1, 1).sb_client_remotes() == "tcp:10.255.0.11:6642"  # no relays: members
    assert topo.relay("sbr2") is topo.relays[1]


def test_ssl_lab_uses_ssl_client_remotes_and_tcp_raft():
    topo = plan("x", 3, 1, sb_relays=1, ssl=True)
    assert topo.remotes("nb") == "ssl:10.255.0.11:6641,ssl:10.255.0.12:6641,ssl:10.255.0.13:6641"
    assert topo.sb_client_remotes() == "ssl:10.255.0.11:6651"
    assert topo.controllers[0].raft_address("sb") == "tcp:10.255.0.11:6644"


@pytest.mark.parametrize("relays", [-1, 9])
def test_relay_count_is_bounded(relays):
    with pytest.raises(UsageError, match="--sb-relays"):
        plan("x", 1, 1, sb_relays=relays)
