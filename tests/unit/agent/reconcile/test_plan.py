import pytest

from ovnmeta.agent.reconcile import actions as a
from ovnmeta.agent.reconcile.observed import Link, NamespaceState, ObservedNetwork, absent
from ovnmeta.agent.reconcile.plan import plan
from ovnmeta.core.model import NetworkSpec

NET = "f3dc8112-273e-4653-af3c-6069330ad350"
NS = f"ovnmeta-{NET}"
MAC = "fa:16:3e:11:22:33"
LLA = "fe80::f816:3eff:fe11:2233/64"
SPEC = NetworkSpec(
    network=NET,
    namespace=NS,
    veth_outer="tapf3dc8112-20",
    veth_inner="tapf3dc8112-21",
    iface_id="mp1",
    mac=MAC,
    mtu=1442,
    addresses=frozenset({"169.254.169.254/32", "10.0.0.2/24"}),
    ipv6=False,
)
INNER = Link("tapf3dc8112-21", MAC, 1442, True, frozenset({"169.254.169.254/32", "10.0.0.2/24"}))
OUTER = Link("tapf3dc8112-20", "aa:bb:cc:00:00:01", 1442, True)
GOOD = ObservedNetwork(
    NS,
    NamespaceState.PRESENT,
    (INNER,),
    (OUTER,),
    frozenset({"tapf3dc8112-21"}),
    (("br-int", "tapf3dc8112-20", "mp1"),),
)

ROOT_SIDE = (
    a.CreateVeth("tapf3dc8112-20", "tapf3dc8112-21", NS),
    a.SetLink("tapf3dc8112-20", None, mtu=1442),
)
NS_SIDE = (
    a.SetLink("tapf3dc8112-21", NS, mac=MAC, mtu=1442),
    a.DisableTxChecksum("tapf3dc8112-21", NS),
    a.SetAddresses("tapf3dc8112-21", NS, ("10.0.0.2/24", "169.254.169.254/32"), ()),
    a.PlugPort("br-int", "tapf3dc8112-20", "mp1"),
)
BUILD = (*ROOT_SIDE, *NS_SIDE)
FRESH = (a.CreateNamespace(NS), *ROOT_SIDE, a.SetLink("lo", NS), *NS_SIDE)


def replace(obj, **kw):
    import dataclasses

    return dataclasses.replace(obj, **kw)


CASES = [
    ("adopt-matching-state", SPEC, GOOD, ()),
    ("build-from-scratch", SPEC, absent(NS), FRESH),
    (
        "broken-namespace-recreated",
        SPEC,
        ObservedNetwork(NS, NamespaceState.BROKEN),
        (a.DeleteNamespace(NS), *FRESH),
    ),
    (
        "orphaned-root-end-deleted-first",
        SPEC,
        ObservedNetwork(NS, NamespaceState.PRESENT, (), (OUTER,)),
        (a.DeleteLink("tapf3dc8112-20", None), *BUILD),
    ),
    (
        "mtu-changed",
        replace(SPEC, mtu=1400),
        GOOD,
        (
            a.SetLink("tapf3dc8112-21", NS, mac=MAC, mtu=1400),
            a.SetLink("tapf3dc8112-20", None, mtu=1400),
        ),
    ),
    (
        "mtu-unset-is-left-alone",
        replace(SPEC, mtu=0),
        GOOD,
        (),
    ),
    (
        "mac-changed",
        replace(SPEC, mac="fa:16:3e:99:99:99"),
        GOOD,
        (a.SetLink("tapf3dc8112-21", NS, mac="fa:16:3e:99:99:99", mtu=1442),),
    ),
    (
        "addresses-reconciled",
        replace(SPEC, addresses=frozenset({"169.254.169.254/32", "10.0.1.2/24"})),
        GOOD,
        (a.SetAddresses("tapf3dc8112-21", NS, ("10.0.1.2/24",), ("10.0.0.2/24",)),),
    ),
    (
        "kernel-lla-left-alone",
        SPEC,
        replace(GOOD, inner_links=(replace(INNER, addresses=INNER.addresses | {LLA}),)),
        (),
    ),
    (
        "tx-checksum-reapplied",
        SPEC,
        replace(GOOD, tx_checksum_off=frozenset()),
        (a.DisableTxChecksum("tapf3dc8112-21", NS),),
    ),
    (
        "link-down-brought-up",
        SPEC,
        replace(GOOD, outer_links=(replace(OUTER, up=False),)),
        (a.SetLink("tapf3dc8112-20", None, mtu=1442),),
    ),
    (
        "port-on-foreign-bridge-moved",
        SPEC,
        replace(GOOD, ports=(("br-ex", "tapf3dc8112-20", None),)),
        (a.UnplugPort("br-ex", "tapf3dc8112-20"), a.PlugPort("br-int", "tapf3dc8112-20", "mp1")),
    ),
    (
        "wrong-iface-id-fixed",
        SPEC,
        replace(GOOD, ports=(("br-int", "tapf3dc8112-20", "old"),)),
        (a.PlugPort("br-int", "tapf3dc8112-20", "mp1"),),
    ),
    (
        "stale-veth-of-renamed-pair-removed",
        SPEC,
        replace(
            GOOD,
            inner_links=(INNER, replace(INNER, name="tapdeadbeef11")),
            outer_links=(OUTER, replace(OUTER, name="tapdeadbeef10")),
            ports=(*GOOD.ports, ("br-int", "tapdeadbeef10", "mp1")),
        ),
        (
            a.DeleteLink("tapdeadbeef11", NS),
            a.UnplugPort("br-int", "tapdeadbeef10"),
            a.DeleteLink("tapdeadbeef10", None),
        ),
    ),
    (
        "teardown",
        None,
        GOOD,
        (
            a.UnplugPort("br-int", "tapf3dc8112-20"),
            a.DeleteLink("tapf3dc8112-20", None),
            a.DeleteNamespace(NS),
        ),
    ),
    ("teardown-broken", None, ObservedNetwork(NS, NamespaceState.BROKEN), (a.DeleteNamespace(NS),)),
    ("teardown-nothing", None, absent(NS), ()),
]


@pytest.mark.parametrize(
    ("spec", "seen", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_plan(spec, seen, expected):
    assert plan(spec, seen, "br-int") == expected


HOP = a.SetHopLimit("tapf3dc8112-21", NS, 1, False)


@pytest.mark.parametrize(
    ("spec", "seen", "expected"),
    [
        (SPEC, absent(NS), (*FRESH[:-1], HOP, FRESH[-1])),
        (SPEC, GOOD, (HOP,)),
        (SPEC, replace(GOOD, hop_limit_v4=1), ()),
        (SPEC, replace(GOOD, hop_limit_v4=5), (HOP,)),
        (replace(SPEC, ipv6=True), replace(GOOD, hop_limit_v4=1), (replace(HOP, ipv6=True),)),
        (
            replace(SPEC, ipv6=True),
            replace(GOOD, hop_limit_v4=1, hop_limit_v6=1),
            (),
        ),
    ],
    ids=["fresh-after-link-up", "missing", "adopted", "changed", "v6-missing", "v6-adopted"],
)
def test_hop_limit_set_up_when_missing_or_different(spec, seen, expected):
    actions = plan(spec, seen, "br-int", 1)
    assert [x for x in actions if not isinstance(x, a.SetAddresses)] == [
        x for x in expected if not isinstance(x, a.SetAddresses)
    ]


def test_hop_limit_unmanaged_without_a_setting():
    assert plan(SPEC, GOOD, "br-int") == ()
