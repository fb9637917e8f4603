"""Playbook tests: changes in, touched networks out."""

from ovnmeta.agent.sb import changes
from ovnmeta.agent.sb.index import Index
from tests.unit.agent.factories import DP_A, DP_B, NET_A, NET_B, OTHER, OWN, datapath, meta, vif


class Playbook:
    """`pb >> change << touched`: ordered expectations, checked as they are written."""

    def __init__(self) -> None:
        self.index = Index()
        self.index.apply(changes.ChassisFound(OWN))
        self._last: frozenset | None = None

    def __rshift__(self, change):
        self._last = self.index.apply(change)
        return self

    def __lshift__(self, expected):
        assert self._last == frozenset(expected), f"touched {set(self._last)} != {set(expected)}"
        return self


def base():
    return Playbook() >> datapath(DP_A, NET_A) << {NET_A} >> datapath(DP_B, NET_B) << {NET_B}


def test_local_port_touches_its_network_remote_port_does_not():
    pb = base()
    pb >> vif("p1", DP_A) << {NET_A}
    pb >> vif("p2", DP_B, chassis=(OTHER,)) << set()


def test_port_moved_directly_between_chassis_touches():
    pb = base() >> vif("p1", DP_A) << {NET_A}
    pb >> vif("p1", DP_A, chassis=(OTHER,)) << {NET_A}  # own -> other, no empty step
    pb >> vif("p1", DP_A, chassis=(OTHER,)) << set()  # still remote
    pb >> vif("p1", DP_A) << {NET_A}  # other -> own


def test_live_migration_target_via_additional_chassis():
    pb = base() >> vif("p1", DP_A, chassis=(OTHER,), additional=(OWN,)) << {NET_A}
    assert NET_A in pb.index.local_networks()
    pb >> vif("p1", DP_A, chassis=(OWN,)) << {NET_A}  # migration completed
    pb >> vif("p1", DP_A, chassis=(OTHER,)) << {NET_A}  # failed migration: own removed


def test_metadata_port_create_change_delete_touch():
    pb = base() >> vif("p1", DP_A) << {NET_A}
    pb >> meta("m1", DP_A, NET_A) << {NET_A}
    pb >> meta("m1", DP_A, NET_A, mtu=1442) << {NET_A}
    pb >> changes.PortDeleted("m1") << {NET_A}
    pb >> changes.PortDeleted("m1") << set()


def test_port_deleted_touches_only_when_local():
    pb = base() >> vif("p1", DP_A) << {NET_A} >> vif("p2", DP_B, chassis=(OTHER,)) << set()
    pb >> changes.PortDeleted("p2") << set()
    pb >> changes.PortDeleted("p1") << {NET_A}


def test_lookup_by_ip_and_mac_only_local_ports_of_that_network():
    pb = base() >> vif("p1", DP_A, mac="fa:16:3e:00:00:01 10.0.0.11 fd00::11")
    pb >> vif("p2", DP_B, mac="fa:16:3e:00:00:01 10.0.0.11")  # same IP, other network
    pb >> vif("p3", DP_A, mac="fa:16:3e:00:00:03 10.0.0.13", chassis=(OTHER,))
    idx = pb.index
    assert [p.uuid for p in idx.ports_by_ip(NET_A, "10.0.0.11")] == ["p1"]
    assert [p.uuid for p in idx.ports_by_ip(NET_B, "10.0.0.11")] == ["p2"]
    assert [p.uuid for p in idx.ports_by_ip(NET_A, "fd00::11")] == ["p1"]
    assert [p.uuid for p in idx.ports_by_mac(NET_A, "FA:16:3E:00:00:01")] == ["p1"]
    assert idx.ports_by_ip(NET_A, "10.0.0.13") == ()  # bound elsewhere
    assert idx.ports_by_ip("unknown-net", "10.0.0.11") == ()


def test_lookup_index_follows_updates_and_deletes():
    pb = base() >> vif("p1", DP_A, mac="fa:16:3e:00:00:01 10.0.0.11")
    pb >> vif("p1", DP_A, mac="fa:16:3e:00:00:01 10.0.0.99")
    assert pb.index.ports_by_ip(NET_A, "10.0.0.11") == ()
    assert len(pb.index.ports_by_ip(NET_A, "10.0.0.99")) == 1
    pb >> changes.PortDeleted("p1")
    assert pb.index.ports_by_ip(NET_A, "10.0.0.99") == ()


def test_duplicate_ip_gives_two_candidates():
    pb = base() >> vif("p1", DP_A) >> vif("p2", DP_A)
    assert [p.uuid for p in pb.index.ports_by_ip(NET_A, "10.0.0.11")] == ["p1", "p2"]


def test_ports_before_datapath_and_chassis_are_resolved_later():
    pb = Playbook()
    pb.index.own_chassis = None
    pb >> vif("p1", DP_A) << set()  # datapath unknown yet
    pb >> datapath(DP_A, NET_A) << {NET_A}
    pb >> changes.ChassisFound(OTHER) << {NET_A}
    assert pb.index.local_networks() == frozenset()
    pb >> changes.ChassisFound(OWN) << {NET_A}
    assert pb.index.local_networks() == {NET_A}
    pb >> changes.DatapathDeleted(DP_A) << {NET_A}
    assert pb.index.local_networks() == frozenset()


def test_snapshot_replaces_everything_and_touches_old_and_new():
    pb = base() >> vif("p1", DP_A) >> meta("m1", DP_A, NET_A)
    snap = changes.Snapshot(
        chassis=OWN,
        ports=((vif("p2", DP_B).uuid, vif("p2", DP_B).port),),
        datapaths=(datapath(DP_B, NET_B).datapath,),
        nb_cfg=3,
        chassis_private_nb_cfg=3,
        reconnect=True,
    )
    pb >> snap << {NET_A, NET_B}
    assert pb.index.local_networks() == {NET_B}
    assert pb.index.metadata_port(NET_A) is None
