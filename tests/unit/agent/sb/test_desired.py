import pytest

from ovnmeta.agent.sb import changes, desired
from ovnmeta.agent.sb.index import Index
from ovnmeta.core import names
from tests.unit.agent.factories import DP_A, META_MAC, NET_A, OTHER, OWN, datapath, meta, vif


def build(*chs, host_ipv6=True):
    idx = Index()
    idx.apply(changes.ChassisFound(OWN))
    idx.apply(datapath(DP_A, NET_A))
    for ch in chs:
        idx.apply(ch)
    return desired.spec_for(idx, NET_A, names.VethNamer(), host_ipv6)


def test_full_spec():
    spec = build(meta("m1", DP_A, NET_A, mtu=1442), vif("p1", DP_A))
    assert spec.namespace == f"ovnmeta-{NET_A}"
    assert (spec.veth_outer, spec.veth_inner) == ("tapf3dc8112-20", "tapf3dc8112-21")
    assert spec.iface_id == "mp-m1"
    assert spec.mac == META_MAC
    assert spec.mtu == 1442
    assert spec.addresses == {"169.254.169.254/32", "10.0.0.2/24"}  # lazy: 10.0.1.0/24 unused
    assert spec.ipv6 is False


def test_each_subnet_with_a_local_port_gets_its_cidr():
    spec = build(
        meta("m1", DP_A, NET_A), vif("p1", DP_A), vif("p2", DP_A, mac="fa:16:3e:00:00:02 10.0.1.12")
    )
    assert spec.addresses == {"169.254.169.254/32", "10.0.0.2/24", "10.0.1.2/24"}


def test_ipv6_local_port_adds_metadata_v6_and_lla():
    spec = build(
        meta("m1", DP_A, NET_A, cidrs="10.0.0.2/24 fd00::2/64"),
        vif("p1", DP_A, mac="fa:16:3e:00:00:01 fd00::11"),
    )
    assert spec.ipv6
    assert spec.addresses == {
        "169.254.169.254/32",
        "fe80::a9fe:a9fe/128",
        "fe80::f816:3eff:fe11:2233/64",
    }  # the global fd00::2/64 is never configured


def test_ipv6_only_network_keeps_namespace_when_host_has_no_ipv6():
    spec = build(
        meta("m1", DP_A, NET_A), vif("p1", DP_A, mac="fa:16:3e:00:00:01 fd00::11"), host_ipv6=False
    )
    assert spec is not None and not spec.ipv6
    assert spec.addresses == {"169.254.169.254/32"}


@pytest.mark.parametrize(
    "chs",
    [
        pytest.param([vif("p1", DP_A)], id="no-metadata-port"),
        pytest.param([meta("m1", DP_A, NET_A, mac="unknown"), vif("p1", DP_A)], id="meta-no-mac"),
        pytest.param([meta("m1", DP_A, NET_A)], id="no-local-vif"),
        pytest.param([meta("m1", DP_A, NET_A), vif("p1", DP_A, chassis=(OTHER,))], id="remote"),
        pytest.param([meta("m1", DP_A, NET_A), vif("p1", DP_A, mac="unknown")], id="vif-unknown"),
        pytest.param([meta("m1", DP_A, NET_A), vif("p1", DP_A, mac=None)], id="vif-empty-mac"),
        pytest.param([meta("m1", DP_A, NET_A), vif("p1", DP_A, type_="router")], id="router"),
    ],
)
def test_no_namespace(chs):
    assert build(*chs) is None


def test_external_and_migration_target_ports_count():
    assert build(meta("m1", DP_A, NET_A), vif("p1", DP_A, type_="external")) is not None
    assert build(meta("m1", DP_A, NET_A), vif("p1", DP_A, chassis=(OTHER,), additional=(OWN,)))
