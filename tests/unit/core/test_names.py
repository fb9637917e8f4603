from ovnmeta.core import eui64, names
from ovnmeta.core.model import NetworkId

NET = NetworkId("f3dc8112-273e-4653-af3c-6069330ad350")
TWIN = NetworkId("f3dc8112-27ff-4653-af3c-6069330ad351")  # same first 10 characters


def test_upstream_names():
    assert names.namespace(NET) == "ovnmeta-f3dc8112-273e-4653-af3c-6069330ad350"
    assert names.veth_pair(NET) == ("tapf3dc8112-20", "tapf3dc8112-21")
    assert names.network_of_namespace(names.namespace(NET)) == NET
    assert names.network_of_namespace("qdhcp-x") is None
    assert names.network_of_datapath_name(f"neutron-{NET}") == NET
    assert names.network_of_datapath_name("neutron-neutron-x") == "neutron-x"
    assert names.network_of_datapath_name("ls1") is None


def test_clash_first_keeps_standard_name_second_gets_deterministic_alternate():
    namer = names.VethNamer()
    assert namer.pair(NET) == ("tapf3dc8112-20", "tapf3dc8112-21")
    outer, inner = namer.pair(TWIN)
    assert (outer, inner) == names.veth_pair(TWIN, alternate=True)
    assert len(outer) == 14 and "-" not in outer
    assert namer.pair(TWIN) == (outer, inner)  # stable


def test_adopted_owner_keeps_standard_name_after_restart():
    namer = names.VethNamer()
    namer.adopt(TWIN, "tapf3dc8112-21")
    assert namer.pair(NET) == names.veth_pair(NET, alternate=True)
    assert namer.pair(TWIN) == ("tapf3dc8112-20", "tapf3dc8112-21")


def test_release_frees_the_standard_name():
    namer = names.VethNamer()
    namer.pair(NET)
    namer.release(NET)
    assert namer.pair(TWIN) == ("tapf3dc8112-20", "tapf3dc8112-21")


def test_eui64_round_trip():
    import ipaddress

    assert eui64.link_local("fa:16:3e:11:22:33") == "fe80::f816:3eff:fe11:2233"
    addr = ipaddress.IPv6Address("fe80::f816:3eff:fe11:2233")
    assert eui64.mac_of(addr) == "fa:16:3e:11:22:33"
    assert eui64.mac_of(ipaddress.IPv6Address("fe80::1")) is None
