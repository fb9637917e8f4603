"""Which datapaths the SB condition holds (issue 14): those with a VIF bound here, tracked
incrementally in the IDL thread and equal to the rule applied to the whole index."""

import random

from ovnmeta.agent.sb import changes, interest, rows
from ovnmeta.agent.sb.index import Index
from tests.unit.agent.factories import DP_A, DP_B, NET_A, NET_B, OTHER, OWN, datapath, meta, vif

DP_C = "d0000000-0000-0000-0000-00000000000c"


def tracked(*steps: changes.Change) -> tuple[interest.LocalDatapaths, list[bool]]:
    local = interest.LocalDatapaths()
    return local, [local.apply(s, OWN) for s in steps]


def test_bound_here_or_migration_target_makes_its_datapath_wanted():
    local, moved = tracked(vif("p1", DP_A), vif("p2", DP_B, chassis=(OTHER,), additional=(OWN,)))
    assert local.datapaths == {DP_A, DP_B}
    assert moved == [True, True]


def test_a_port_requested_here_makes_its_datapath_wanted_before_it_is_bound():
    # neutron sets requested-chassis before the VIF is plugged: the localport comes in then,
    # not a condition round after ovn-controller binds the port.
    local, moved = tracked(
        vif("p1", DP_A, chassis=(), requested=(OWN,)),
        vif("p1", DP_A, requested=(OWN,)),  # now bound here: already wanted
        vif("p2", DP_B, chassis=(), requested=(OTHER,)),  # requested elsewhere
    )
    assert moved == [True, False, False]
    assert local.datapaths == {DP_A}
    index = Index()
    index.apply(changes.ChassisFound(OWN))
    index.apply(datapath(DP_A, NET_A))
    index.apply(vif("p1", DP_A, chassis=(), requested=(OWN,)))
    assert index.condition_datapaths() == {DP_A}
    assert index.local_networks() == frozenset()  # served once bound here, not before


def test_remote_ports_and_localports_never_make_a_datapath_wanted():
    local, moved = tracked(vif("p1", DP_A, chassis=(OTHER,)), meta("m1", DP_B, NET_B))
    assert local.datapaths == frozenset()
    assert moved == [False, False]
    assert interest.local_datapath(None, OWN) is None  # ignored port types


def test_datapath_leaves_with_its_last_local_port_only():
    local, moved = tracked(
        vif("p1", DP_A),
        vif("p2", DP_A),  # already wanted: no condition change
        changes.PortDeleted("p1"),  # p2 still here
        vif("p2", DP_A, chassis=(OTHER,)),  # moved away: the last one
    )
    assert moved == [True, False, False, True]
    assert local.datapaths == frozenset()


def test_unknown_chassis_wants_nothing():
    local = interest.LocalDatapaths()
    assert not local.apply(vif("p1", DP_A), None)
    assert local.datapaths == frozenset()


def test_reset_from_a_replica():
    local = interest.LocalDatapaths()
    local.reset([("p1", vif("p1", DP_A).port), ("p2", vif("p2", DP_B, chassis=(OTHER,)).port)], OWN)
    assert local.datapaths == {DP_A}
    assert local.apply(changes.PortDeleted("p1"), OWN)


def test_incremental_tracking_matches_the_index_rule():
    """Random port churn: the IDL thread's set equals Index.condition_datapaths()."""
    rng = random.Random(14)
    index = Index()
    index.apply(changes.ChassisFound(OWN))
    for dp, net in ((DP_A, NET_A), (DP_B, NET_B)):
        index.apply(datapath(dp, net))
    local = interest.LocalDatapaths()
    for _ in range(2000):
        uuid = f"p{rng.randrange(12)}"
        if rng.random() < 0.2:
            change: changes.Change = changes.PortDeleted(uuid)
        else:
            dp = rng.choice((DP_A, DP_B, DP_C))
            where = rng.choice(((OWN,), (OTHER,), ()))
            extra = rng.choice(((), (OWN,), (OTHER,)))
            change = vif(uuid, dp, chassis=where, additional=extra)
        before = local.datapaths
        moved = local.apply(change, OWN)
        index.apply(change)
        assert local.datapaths == index.condition_datapaths()
        assert moved == (before != local.datapaths)


def test_index_holds_only_what_the_condition_brings():
    index = Index()
    index.apply(changes.ChassisFound(OWN))
    assert index.size() == {"ports": 0, "datapaths": 0}
    index.apply(datapath(DP_A, NET_A))
    index.apply(meta("m1", DP_A, NET_A))
    index.apply(vif("p1", DP_A))
    assert index.size() == {"ports": 2, "datapaths": 1}
    assert index.condition_datapaths() == {DP_A}


def test_port_condition_names_our_chassis_and_each_wanted_datapath():
    cond = rows.port_binding_condition(OWN, frozenset({DP_B, DP_A}))
    assert cond == [
        ["chassis", "==", ["uuid", OWN]],
        ["additional_chassis", "==", ["set", [["uuid", OWN]]]],
        ["datapath", "==", ["uuid", DP_A]],
        ["datapath", "==", ["uuid", DP_B]],
    ]
    assert rows.datapath_binding_condition(frozenset({DP_A})) == [["_uuid", "==", ["uuid", DP_A]]]
    assert rows.port_binding_condition(OWN, frozenset(), requested=True) == [
        ["chassis", "==", ["uuid", OWN]],
        ["additional_chassis", "==", ["set", [["uuid", OWN]]]],
        ["requested_chassis", "==", ["uuid", OWN]],
    ]


def test_port_condition_is_all_equalities_so_the_server_can_hash_it():
    # ovsdb-server evaluates a condition by hashed lookups only while every clause is `==`
    # (or true/false); `includes` would make it try every datapath clause on every row.
    for requested in (False, True):
        cond = rows.port_binding_condition(OWN, frozenset({DP_A, DP_B}), requested=requested)
        assert {clause[1] for clause in cond} == {"=="}


def test_nothing_wanted_matches_no_row():
    # Never the empty list: for OVSDB `where: []` matches every row.
    assert rows.port_binding_condition(None, frozenset()) == [False]
    assert rows.datapath_binding_condition(frozenset()) == [False]
