import pytest

from ovnmeta.core.errors import UsageError
from ovnmeta.lab import cloud_rows
from ovnmeta.lab.cloud_rows import CloudSpec

CHASSIS = [f"00000000-0000-0000-0000-{i:012d}" for i in range(3)]


def rows(ops, table):
    return [op["row"] for op in ops if op["table"] == table]


def all_network_ops(spec):
    return [op for batch in cloud_rows.network_batches(spec, CHASSIS) for op in batch]


def test_each_foreign_chassis_has_an_encap_a_chassis_and_a_registered_metadata_agent():
    ops = cloud_rows.chassis_ops(CloudSpec(networks=1, ports=0, chassis=3))
    assert [op["table"] for op in ops[:3]] == ["Encap", "Chassis", "Chassis_Private"]
    chassis = rows(ops, "Chassis")
    assert len({c["name"] for c in chassis}) == 3
    assert [c["encaps"] for c in chassis] == [["named-uuid", f"e{i}"] for i in range(3)]
    assert len({e["ip"] for e in rows(ops, "Encap")}) == 3
    private = rows(ops, "Chassis_Private")
    assert [p["name"] for p in private] == [c["name"] for c in chassis]
    assert all("neutron:ovn-metadata-id" in dict(p["external_ids"][1]) for p in private)
    results = [{"uuid": ["uuid", f"u{i}"]} for i in range(9)]
    assert cloud_rows.chassis_uuids(results) == ["u1", "u4", "u7"]


def test_every_network_gets_a_datapath_and_a_neutron_localport():
    ops = all_network_ops(CloudSpec(networks=4, ports=0, chassis=0))
    datapaths = rows(ops, "Datapath_Binding")
    assert [d["tunnel_key"] for d in datapaths] == [1_000_000 + i for i in range(4)]
    names = [dict(d["external_ids"][1])["name"] for d in datapaths]
    assert all(n.startswith("neutron-") for n in names) and len(set(names)) == 4
    localports = rows(ops, "Port_Binding")
    assert [p["type"] for p in localports] == ["localport"] * 4
    ext = dict(localports[0]["external_ids"][1])
    assert ext["neutron:device_owner"] == "network:distributed"
    assert ext["neutron:device_id"] == f"ovnmeta-{names[0].removeprefix('neutron-')}"


def test_ports_go_round_robin_over_networks_and_chassis_with_unique_keys():
    spec = CloudSpec(networks=3, ports=10, chassis=3)
    vifs = [r for r in rows(all_network_ops(spec), "Port_Binding") if r["type"] == ""]
    assert len(vifs) == 10
    assert len({v["logical_port"] for v in vifs}) == 10
    per_dp: dict[str, list[int]] = {}
    for v in vifs:
        per_dp.setdefault(v["datapath"][1], []).append(v["tunnel_key"])
        assert v["up"] is True and v["chassis"][0] == "uuid"
    assert per_dp == {"d0": [2, 3, 4, 5], "d1": [2, 3, 4], "d2": [2, 3, 4]}
    assert {v["chassis"][1] for v in vifs} == set(CHASSIS)
    macs = [v["mac"].split()[0] for v in vifs]
    assert len(set(macs)) == 10 and all(m.startswith("fa:16:3e:") for m in macs)
    assert all(v["mac"].split()[1] != "10.0.0.2" for v in vifs)  # the localport's


def test_a_network_never_spans_two_transactions():
    spec = CloudSpec(networks=5, ports=20, chassis=3)
    batches = list(cloud_rows.network_batches(spec, CHASSIS, ops_per_batch=7))
    for batch in batches:
        named = {op.get("uuid-name") for op in batch}
        assert all(
            op["row"]["datapath"][1] in named for op in batch if op["table"] == "Port_Binding"
        )
    assert sum(len(b) for b in batches) == 5 * 2 + 20


def test_vif_uuids_skip_datapaths_and_localports():
    spec = CloudSpec(networks=1, ports=2, chassis=1)
    ops = cloud_rows.network_ops(spec, 0, CHASSIS)
    results = [{"uuid": ["uuid", f"r{i}"]} for i in range(len(ops))]
    assert cloud_rows.vif_uuids(ops, results) == ["r2", "r3"]


def test_two_seeds_never_collide_and_one_seed_is_reproducible():
    a, b = CloudSpec(seed="a"), CloudSpec(seed="b")
    assert a.uid("network", 1) == CloudSpec(seed="a").uid("network", 1)
    assert a.uid("network", 1) != b.uid("network", 1)


def test_two_clouds_in_one_sb_get_distinct_encap_addresses():
    first = rows(cloud_rows.chassis_ops(CloudSpec(chassis=3)), "Encap")
    second = rows(cloud_rows.chassis_ops(CloudSpec(chassis=3, first_chassis=3, seed="b")), "Encap")
    assert not {e["ip"] for e in first} & {e["ip"] for e in second}


def test_rebind_moves_one_port_by_uuid():
    op = cloud_rows.rebind_op("p", "c")
    assert op["where"] == [["_uuid", "==", ["uuid", "p"]]]
    assert op["row"]["chassis"] == ["uuid", "c"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"networks": -1},
        {"networks": 0, "ports": 1, "chassis": 1},
        {"networks": 1, "ports": 1, "chassis": 0},
        {"networks": 1, "ports": 40_000, "chassis": 1},
        {"networks": 10, "first_key": 16_777_210},
        {"chassis": 10, "first_chassis": 50 << 16},
    ],
)
def test_impossible_clouds_are_refused(kwargs):
    with pytest.raises(UsageError):
        CloudSpec(**kwargs)


def test_too_few_chassis_uuids_are_refused():
    with pytest.raises(UsageError, match="3 foreign chassis needed"):
        list(cloud_rows.network_batches(CloudSpec(networks=1, ports=1, chassis=3), ["x"]))
