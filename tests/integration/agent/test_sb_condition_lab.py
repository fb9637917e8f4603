"""Issue 14: the SB condition follows the local ports. Changes to a network's localport made
while its datapath is entering the condition are not lost, and rows of networks with nothing
bound here never reach the agent (a real ovsdb-server, rows written as northd would)."""

import json
import subprocess
import uuid

from tests.integration.agent.harness import wait_for
from tests.integration.agent.test_agent_lab import (
    META_MAC,
    PROJECT,
    VM_MAC,
    namespaces,
    start,
    started_ready,
)


def mtu(ns: str, dev: str) -> int:
    out = subprocess.run(
        ["ip", "netns", "exec", ns, "ip", "-o", "link", "show", dev],
        capture_output=True,
        text=True,
    ).stdout
    fields = out.split()
    return int(fields[fields.index("mtu") + 1]) if "mtu" in fields else 0


def sb_index(node) -> dict:
    path = node.root / "state" / "ovnmeta" / "status.json"
    try:
        return json.loads(path.read_text()).get("sb_index", {})
    except (OSError, ValueError):
        return {}


def test_localport_change_during_the_condition_change_is_not_lost(node):
    ch = start(node)
    try:
        for key in range(1, 6):  # several tries at the window: bind, then change at once
            net = str(uuid.uuid4())
            dp = node.sb.datapath(net, key)
            mp = node.sb.metadata_port(dp, net, 1, META_MAC, "10.0.0.2/24", mtu=1442)
            vif = node.sb.vif(dp, 2, VM_MAC, "10.0.0.11", str(uuid.uuid4()), PROJECT)
            node.sb.bind(vif, ch)  # the datapath enters the condition now ...
            node.daemons.sbctl("set", "Port_Binding", mp, 'external_ids:"neutron:mtu"="1400"')
            ns = f"ovnmeta-{net}"
            wait_for(lambda ns=ns: ns in namespaces(), what=f"namespace {key}")
            inner = f"tap{net[:10]}1"
            wait_for(lambda ns=ns, inner=inner: mtu(ns, inner) == 1400, what=f"mtu {key}")
        wait_for(lambda: sb_index(node) == {"ports": 10, "datapaths": 5}, what="index size")
    except BaseException:
        print(node.agent.logs())
        raise


def test_networks_with_nothing_bound_here_never_reach_the_agent(node):
    ch = start(node)
    other = node.sb.chassis(f"other-{uuid.uuid4().hex[:6]}")
    try:
        wait_for(lambda: sb_index(node) == {"ports": 0, "datapaths": 0}, what="empty index")
        for key in range(1, 21):
            net = str(uuid.uuid4())
            dp = node.sb.datapath(net, key)
            node.sb.metadata_port(dp, net, 1, META_MAC, "10.0.0.2/24")
            vif = node.sb.vif(dp, 2, VM_MAC, "10.0.0.11", str(uuid.uuid4()), PROJECT)
            node.sb.bind(vif, other)
        # One local network afterwards: once it is served, the agent has seen the 20 others.
        net = str(uuid.uuid4())
        dp = node.sb.datapath(net, 99)
        node.sb.metadata_port(dp, net, 1, META_MAC, "10.0.0.2/24")
        vif = node.sb.vif(dp, 2, VM_MAC, "10.0.0.11", str(uuid.uuid4()), PROJECT)
        node.sb.bind(vif, ch)
        wait_for(lambda: f"ovnmeta-{net}" in namespaces(), what="the local network")
        wait_for(lambda: sb_index(node) == {"ports": 2, "datapaths": 1}, what="index size")
        assert {n for n in namespaces() if n.startswith("ovnmeta-")} == {f"ovnmeta-{net}"}
        # The local VIF leaves: so do its datapath and localport.
        node.sb.bind(vif, other)
        wait_for(lambda: sb_index(node) == {"ports": 0, "datapaths": 0}, what="index emptied")
        wait_for(lambda: f"ovnmeta-{net}" not in namespaces(), what="teardown")
    except BaseException:
        print(node.agent.logs())
        raise


def hint_file(node):
    return node.root / "state" / "ovnmeta" / "sb-conditions.json"


def test_a_stale_hint_is_corrected_before_anything_is_served(node):
    """The last run's conditions (sb.hint) name a chassis UUID that is not ours any more and a
    datapath with nothing bound here: the snapshot is what the SB says, not what the hint
    said, and the restart after it asks for the right conditions at once."""
    ch = node.sb.chassis(node.chassis)
    node.sb.chassis_private(node.chassis, ch, nb_cfg=3)
    other = node.sb.chassis(f"other-{uuid.uuid4().hex[:6]}")
    nets = {}
    for key, where in ((1, ch), (2, other)):
        net = str(uuid.uuid4())
        dp = node.sb.datapath(net, key)
        node.sb.metadata_port(dp, net, 1, META_MAC, "10.0.0.2/24")
        node.sb.bind(node.sb.vif(dp, 2, VM_MAC, "10.0.0.11", str(uuid.uuid4()), PROJECT), where)
        nets[where] = (net, dp)
    (local, local_dp), (remote, remote_dp) = nets[ch], nets[other]
    hint_file(node).parent.mkdir(parents=True, exist_ok=True)
    stale = {"chassis": str(uuid.uuid4()), "datapaths": [remote_dp]}
    hint_file(node).write_text(json.dumps(stale))
    try:
        started_ready(node)
        wait_for(lambda: f"ovnmeta-{local}" in namespaces(), what="the local network")
        wait_for(lambda: sb_index(node) == {"ports": 2, "datapaths": 1}, what="index size")
        assert f"ovnmeta-{remote}" not in namespaces()
        assert json.loads(hint_file(node).read_text()) == {"chassis": ch, "datapaths": [local_dp]}
        node.agent.stop()
        started_ready(node)
        assert "SB condition of the last run: 1 datapaths" in node.agent.log.read_text()
        wait_for(lambda: sb_index(node) == {"ports": 2, "datapaths": 1}, what="index again")
        assert f"ovnmeta-{remote}" not in namespaces()
    except BaseException:
        print(node.agent.logs())
        raise
