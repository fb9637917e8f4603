"""The agent monitors only the local OVSDB rows it can need (dataplane/ovs.py CONDITIONS, issue
14): with tunnel and patch ports on br-int, tagged as ovn-controller tags its own, the replica
holds none of them, and serving then tearing down a network leaves every one on the bridge."""

from ovnmeta.agent.dataplane.ovs import Ovs
from ovnmeta.agent.settings import OvsSettings
from ovnmeta.core.checks import OvsdbRemote
from tests.integration.agent.harness import wait_for
from tests.integration.agent.test_agent_lab import guest_served, namespaces, network, start

TUNNELS = 20


def foreign_ports(node) -> set[str]:
    """TUNNELS geneve ports and a patch port, each Port tagged in external_ids (not with the
    ovn-* keys ovn-controller would take for its own and remove)."""
    args: list[str] = []
    names = set()
    for i in range(TUNNELS):
        name = f"tnl-test{i}"
        names.add(name)
        args += ["--", "add-port", "br-int", name]
        args += [
            "--",
            "set",
            "Interface",
            name,
            "type=geneve",
            f"options:remote_ip=192.0.2.{i + 1}",
        ]
        args += ["--", "set", "Port", name, f"external_ids:test-tunnel={i}"]
    names.add("tnl-patch")  # its peer does not exist: a pair on one bridge would loop
    args += ["--", "add-port", "br-int", "tnl-patch"]
    args += ["--", "set", "Interface", "tnl-patch", "type=patch", "options:peer=tnl-nowhere"]
    args += ["--", "set", "Port", "tnl-patch", "external_ids:test-patch=1"]
    node.daemons.vsctl(*args)
    return names


def test_foreign_ports_are_not_monitored_and_survive_a_network_served_and_torn_down(node):
    foreign = foreign_ports(node)
    ch = start(node)
    net, _dp, vif, _ = network(node)
    guest_served(node, ch, net, vif)
    outer = f"tap{net[:10]}0"
    remote = OvsdbRemote("unix", str(node.daemons.ovs_sock))
    ovs = Ovs(OvsSettings(remote, ovsdb_connection_timeout=10, ovsdb_probe_interval=5000))
    ovs.connect()  # the agent's own monitor, in this process
    try:
        tables = ovs.api.tables
        held = {r.name for t in ("Port", "Interface") for r in tables[t].rows.values()}
        assert not held & foreign
        assert outer in held
        assert ovs.ports_of([outer]) == (("br-int", outer, f"mp-{net}"),)

        # br-int names the foreign ports it holds, which are not in the replica: a refresh
        # of ports_of's index (as after any Bridge or Port change) keeps it as it is.
        def index_kept() -> bool:
            ovs.ports_of([outer])
            before = ovs._ports._by_name
            ovs._ports_seqno = None
            ovs.ports_of([outer])
            return ovs._ports._by_name is before

        wait_for(index_kept, what="the index kept")
    finally:
        ovs.close()
    node.sb.bind(vif, None)
    wait_for(lambda: f"ovnmeta-{net}" not in namespaces(), what="teardown")
    listed = set(node.daemons.vsctl("list-ports", "br-int").split())
    assert outer not in listed
    assert foreign <= listed
