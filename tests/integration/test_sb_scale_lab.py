"""Issue 14: the agent monitors only what its chassis serves. Networks created elsewhere in the
cloud do not reach its index; a network that later gets a local VIF enters the SB condition
and is served; when its last local VIF leaves, it leaves the condition again."""

import json
import time

import pytest

from ovnmeta.lab import scale, services
from ovnmeta.lab.lab import Lab
from ovnmeta.lab.proc import wait_until

from .labkit import running_lab, wait_metadata

pytestmark = pytest.mark.lab

REMOTE_NETWORKS = 300


def agent_status(lab: Lab) -> dict:
    path = services.agent_status_file(lab.dir, lab.topology().compute(1))
    return json.loads(path.read_text())


def wait_index(lab: Lab, expected: dict[str, int]) -> None:
    """The status file is rewritten at most twice a second: poll it."""
    try:
        wait_until(
            f"the agent's index to hold {expected}",
            lambda: agent_status(lab)["sb_index"] == expected,
            10,
        )
    except Exception:
        raise AssertionError(f"sb_index {agent_status(lab)['sb_index']} != {expected}") from None


def namespaces(lab: Lab) -> set[str]:
    out = lab.run_on_compute(1, ["ip", "netns", "list"])
    return {line.split()[0] for line in out.splitlines() if line.startswith("ovnmeta-")}


@pytest.fixture(scope="module")
def lab():
    with running_lab(1, 1) as lab:
        lab.create_network("home", ["10.0.0.0/24"])
        lab.create_network("later", ["10.1.0.0/24"])  # exists before, served only later
        lab.boot("vm1", "home", 1)
        wait_metadata(lab, "vm1")
        yield lab


def test_networks_elsewhere_do_not_reach_the_agent_and_a_new_local_one_is_served(lab):
    st = lab.state()
    home, later = st.networks["home"].id, st.networks["later"].id
    wait_index(lab, {"ports": 2, "datapaths": 1})  # vm1 + home's localport

    nb = lab.northbound()
    before = scale.datapath_count(nb)
    scale.create_remote_networks(nb, REMOTE_NETWORKS)
    scale.wait_datapaths(nb, before + REMOTE_NETWORKS)

    # vm2's binding is written after the remote networks, on the same SB connection: once
    # it is served, the agent has seen everything the bulk could have sent it.
    started = time.monotonic()
    lab.boot("vm2", "later", 1)
    wait_metadata(lab, "vm2")
    print(f"vm2 served {time.monotonic() - started:.2f} s after boot")
    assert json.loads(wait_metadata(lab, "vm1"))["uuid"] == lab.instance("vm1").id
    # vm1, vm2 and the two localports; two datapaths, whatever the cloud holds
    wait_index(lab, {"ports": 4, "datapaths": 2})
    assert namespaces(lab) == {f"ovnmeta-{home}", f"ovnmeta-{later}"}

    # The last local VIF of "later" leaves: so do its datapath and localport.
    lab.remove_instance("vm2")
    wait_index(lab, {"ports": 2, "datapaths": 1})
    wait_until("the namespace of 'later' to go", lambda: namespaces(lab) == {f"ovnmeta-{home}"}, 30)

    # And it comes back: a port bound the moment its datapath re-enters the condition.
    lab.boot("vm3", "later", 1)
    wait_metadata(lab, "vm3")
    wait_index(lab, {"ports": 4, "datapaths": 2})
