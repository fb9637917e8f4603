import ipaddress

import pytest

from ovnmeta.agent.proxy import lookup, reply, request
from ovnmeta.core.model import Vif

NET = "f3dc8112-273e-4653-af3c-6069330ad350"


@pytest.mark.parametrize(
    ("net", "xff", "router", "expected"),
    [
        ([NET], ["10.0.0.11"], [], request.Guest(NET, ipaddress.ip_address("10.0.0.11"))),
        ([NET], ["::ffff:10.0.0.11"], [], request.Guest(NET, ipaddress.ip_address("10.0.0.11"))),
        ([NET], ["fe80::1%eth0"], [], request.Guest(NET, ipaddress.ip_address("fe80::1"))),
        ([], ["10.0.0.11"], [], 404),  # health probe
        (["forged", NET], ["10.0.0.11"], [], 404),
        ([NET], ["1.2.3.4, 10.0.0.11"], [], 404),
        ([NET], ["1.2.3.4", "10.0.0.11"], [], 404),
        ([NET], [], [], 404),
        ([NET], ["10.0.0.11"], ["router"], 400),
    ],
    ids=[
        "v4",
        "v4-mapped",
        "zone",
        "no-net",
        "two-nets",
        "xff-list",
        "two-xff",
        "no-xff",
        "router",
    ],
)
def test_parse(net, xff, router, expected):
    got = request.parse(net, xff, router)
    if isinstance(expected, int):
        assert isinstance(got, reply.Reply) and got.status == expected
    else:
        assert got == expected


def test_generated_replies_are_small_html_with_upstream_headers():
    r = reply.not_found(NET)
    assert r.status == 404
    assert ("Content-Type", "text/plain; charset=UTF-8") in r.headers
    assert ("Connection", "close") in r.headers
    assert f"Instance was not found on network {NET}.".encode() in r.body
    assert b"404 Not Found" in r.body
    assert reply.unavailable().status == 503


def port(uuid, device_id="inst", mac="fa:16:3e:11:22:33", ips=("10.0.0.11",)):
    return Vif(uuid, "lp", "dp", mac, ips, ("ch",), frozenset(), device_id, "proj")


class FakeIndex:
    def __init__(self, *ports):
        self.ports = ports
        self.asked = []

    def ports_by_ip(self, network, ip):
        self.asked.append(("ip", network, ip))
        return tuple(p for p in self.ports if ip in p.ips)

    def ports_by_mac(self, network, mac):
        self.asked.append(("mac", network, mac))
        return tuple(p for p in self.ports if p.mac == mac)


def guest(addr):
    return request.Guest(NET, ipaddress.ip_address(addr))


def test_found_by_ip():
    assert lookup.find(FakeIndex(port("p1")), guest("10.0.0.11")) == lookup.Found(
        "inst", "proj", "p1"
    )


def test_link_local_matches_by_mac():
    idx = FakeIndex(port("p1"))
    assert lookup.find(idx, guest("fe80::f816:3eff:fe11:2233")).port == "p1"
    assert idx.asked == [("mac", NET, "fa:16:3e:11:22:33")]


def test_global_ipv6_matches_by_ip():
    idx = FakeIndex(port("p1", ips=("fd00::11",)))
    assert lookup.find(idx, guest("fd00::11")).port == "p1"


@pytest.mark.parametrize(
    ("ports", "addr", "outcome"),
    [
        ((), "10.0.0.11", lookup.NotFound),
        ((port("p1"), port("p2")), "10.0.0.11", lookup.Ambiguous),
        ((port("p1", device_id=""),), "10.0.0.11", lookup.NotFound),
        ((port("p1"),), "fe80::1", lookup.NotFound),
    ],
    ids=["zero", "two", "no-device-id", "non-eui64-lla"],
)
def test_not_exactly_one(ports, addr, outcome):
    got = lookup.find(FakeIndex(*ports), guest(addr))
    assert isinstance(got, outcome)
    if isinstance(got, lookup.Ambiguous):
        assert got.ports == ("p1", "p2")
