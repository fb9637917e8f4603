import pytest

from ovnmeta.core.errors import UsageError
from ovnmeta.lab.addressing import allocate, dhcp_options, mac_for, plan_subnets


def test_subnet_layout_follows_neutron():
    (subnet,) = plan_subnets(["10.0.0.0/24"])
    assert (subnet.gateway, subnet.metadata_ip, subnet.prefixlen) == ("10.0.0.1", "10.0.0.2", 24)


def test_allocation_starts_at_the_tenth_host_and_skips_used():
    (subnet,) = plan_subnets(["10.0.0.0/24"])
    assert allocate(subnet, []) == "10.0.0.10"
    assert allocate(subnet, ["10.0.0.10", "10.0.0.11", "192.168.0.12"]) == "10.0.0.12"


def test_full_subnet_is_a_clear_error():
    (subnet,) = plan_subnets(["10.0.0.0/28"])
    used = [f"10.0.0.{i}" for i in range(10, 15)]
    with pytest.raises(UsageError, match="no free address"):
        allocate(subnet, used)


def test_ipv6_subnet_allocates_too():
    _, v6 = plan_subnets(["10.0.0.0/24", "fd00:1::/64"])
    assert v6.metadata_ip == "fd00:1::2"
    assert allocate(v6, []) == "fd00:1::a"


@pytest.mark.parametrize(
    "cidrs, message",
    [
        (["10.0.0.0/24", "10.0.0.128/25"], "overlaps"),
        (["10.0.0.1/24"], "invalid CIDR"),
        (["banana"], "invalid CIDR"),
        (["10.0.0.0/30"], "too small"),
        (["fd00::/64"], "needs an IPv4"),
        ([], "at least one"),
    ],
)
def test_bad_cidrs_are_usage_errors(cidrs, message):
    with pytest.raises(UsageError, match=message):
        plan_subnets(cidrs)


def test_same_cidr_in_two_networks_is_fine():
    assert plan_subnets(["10.0.0.0/24"]) == plan_subnets(["10.0.0.0/24"])


def test_dhcp_routes_metadata_only_when_enabled():
    (subnet,) = plan_subnets(["10.0.0.0/24"])
    on = dhcp_options(subnet, metadata=True)
    off = dhcp_options(subnet, metadata=False)
    assert on["classless_static_route"] == "{169.254.169.254/32,10.0.0.2, 0.0.0.0/0,10.0.0.1}"
    assert off["classless_static_route"] == "{0.0.0.0/0,10.0.0.1}"
    assert on["mtu"] == "1442"


def test_macs_are_stable_and_neutron_like():
    assert mac_for("port-1") == mac_for("port-1")
    assert mac_for("port-1") != mac_for("port-2")
    assert mac_for("port-1").startswith("fa:16:3e:")
