"""Issue 14, item 4: the synthetic cloud of bench/synthetic_cloud_bench.py, small. Its rows land
in the real SB as a real cloud's would (the real compute's ovn-controller tunnels to the foreign
chassis), the agent's index does not move, and a foreign port that moves to this chassis makes
the agent serve its network: the rows are what the agent would act on."""

import json

import pytest

from ovnmeta.lab import cloud_rows, compute, instance, scale, services
from ovnmeta.lab.lab import Lab
from ovnmeta.lab.proc import wait_until

from .labkit import one_guest_lab, wait_metadata

pytestmark = pytest.mark.lab

SPEC = cloud_rows.CloudSpec(networks=40, ports=120, chassis=8, seed="itest")
HOME = {"ports": 2, "datapaths": 1}  # vm1 and home's localport
TABLES = ("Chassis", "Chassis_Private", "Encap", "Datapath_Binding", "Port_Binding")


def agent_status(lab: Lab) -> dict:
    return json.loads(services.agent_status_file(lab.dir, lab.topology().compute(1)).read_text())


def served(lab: Lab) -> int:
    return sum(1 for n in agent_status(lab)["networks"] if n["served"])


def geneve_tunnels(lab: Lab) -> int:
    out = compute.vsctl(
        lab.dir, lab.topology().compute(1), "--bare", "--columns=name", "find", "Interface",
        "type=geneve",
    )  # fmt: skip
    return len(out.split())


@pytest.fixture(scope="module")
def lab():
    with one_guest_lab("home", "vm1") as lab:
        yield lab


def test_a_synthetic_cloud_lands_like_a_real_one_and_the_agent_ignores_it(lab):
    nb, topo = lab.northbound(), lab.topology()
    before = scale.sb_counts(nb, TABLES)
    wait_until("the index", lambda: agent_status(lab)["sb_index"] == HOME, 10)

    scale.pause_northd(lab.dir, topo)
    cloud = scale.write_cloud(lab.dir, topo, SPEC)
    after = scale.sb_counts(nb, TABLES)
    grown = {t: after[t] - before[t] for t in TABLES}
    assert grown == {
        "Chassis": 8,
        "Chassis_Private": 8,
        "Encap": 8,
        "Datapath_Binding": 40,
        "Port_Binding": 40 + 120,
    }
    assert len(cloud.chassis) == 8 and len(cloud.vifs) == 120
    # ovn-controller on the real compute sees the foreign chassis as peers
    wait_until("tunnels to the foreign chassis", lambda: geneve_tunnels(lab) >= 8, 60)
    bound = nb.sbctl("--bare", "--columns=chassis", "find", "Port_Binding", "up=true", 'type=""')
    assert set(cloud.chassis) <= set(bound.split())

    scale.rebind_ports(lab.dir, topo, [(cloud.vifs[0], cloud.chassis[1])])
    assert (
        nb.sbctl("--bare", "--columns=chassis", "list", "Port_Binding", cloud.vifs[0]).strip()
        == (cloud.chassis[1])
    )
    assert agent_status(lab)["sb_index"] == HOME
    assert json.loads(wait_metadata(lab, "vm1"))["uuid"] == lab.instance("vm1").id


def test_a_foreign_port_moving_here_makes_the_agent_serve_its_network(lab):
    """A guest of the cloud migrates here: its VIF is plugged into this br-int, ovn-controller
    claims the synthetic Port_Binding, and the agent serves that synthetic network."""
    topo = lab.topology()
    spec = cloud_rows.CloudSpec(
        networks=1, ports=1, chassis=1, seed="moving", first_key=2_000_000, first_chassis=100
    )
    vif = scale.write_cloud(lab.dir, topo, spec).vifs[0]
    # what Neutron asks at a live migration, and northd resolves into the column
    nb = lab.northbound()
    cmp = topo.compute(1)
    ours = nb.sbctl("--bare", "--columns=_uuid", "find", "Chassis", f"name={cmp.chassis}").strip()
    nb.sbctl(
        "set", "Port_Binding", vif, f"requested_chassis={ours}",
        f"options:requested-chassis={cmp.chassis}",
    )  # fmt: skip
    instance.bind(lab.dir, cmp, "mig0", spec.uid("port", 0), "type=internal")
    wait_until("the cloud network served", lambda: served(lab) == 2, 60)
    # its datapath, its localport and the migrated VIF join the index
    assert agent_status(lab)["sb_index"] == {"ports": 4, "datapaths": 2}
