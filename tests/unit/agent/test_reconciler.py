"""One network through the whole loop on fakes: observe -> plan -> apply -> edge."""

import asyncio

from ovnmeta.agent.reconcile.actions import DeleteNamespace
from ovnmeta.agent.sb import changes
from ovnmeta.core.errors import EdgeError

from .factories import DP_A, DP_B, NET_A, NET_B, datapath, meta, vif
from .fakes import FakeHost, Rig, network, snapshot

NS_A = f"ovnmeta-{NET_A}"
OUTER_A, INNER_A = "tapf3dc8112-20", "tapf3dc8112-21"


def run(coro):
    return asyncio.run(coro)


def test_port_arriving_provisions_the_network_and_renders_the_edge(tmp_path):
    async def go():
        rig = Rig(tmp_path)
        await rig.start(snapshot())
        await rig.ready()
        assert rig.host.namespaces == {}
        for change in (datapath(DP_A, NET_A), meta("mp-a", DP_A, NET_A), vif("vm1", DP_A)):
            rig.sb.send(change)
        await rig.idle()
        host = rig.host
        assert host.namespaces[NS_A][INNER_A].addresses == {"10.0.0.2/24", "169.254.169.254/32"}
        assert host.namespaces[NS_A][INNER_A].mac == "fa:16:3e:11:22:33"
        assert host.ports == {OUTER_A: ("br-int", "mp-mp-a")}
        assert host.serves(NET_A)
        assert rig.agent.reconciler.applied[NET_A].namespace == NS_A
        await rig.stop()

    run(go())


def test_namespace_is_torn_down_with_its_last_port(tmp_path):
    async def go():
        rig = Rig(tmp_path)
        await rig.start(snapshot(network(NET_A, DP_A, vifs=("vm1", "vm2"))))
        await rig.ready()
        rig.sb.send(changes.PortDeleted("vm1"))
        await rig.idle()
        assert NS_A in rig.host.namespaces and rig.host.serves(NET_A)
        rig.sb.send(changes.PortDeleted("vm2"))
        await rig.idle()
        host, j = rig.host, rig.journal
        assert NS_A not in host.namespaces and OUTER_A not in host.root
        assert host.ports == {} and not host.serves(NET_A)
        # the edge stops listening in the namespace before the namespace goes
        assert j.index("edge render 0") < j.index(f"delete {NS_A}")
        assert NET_A not in rig.agent.reconciler.applied
        await rig.stop()

    run(go())


def test_unchanged_port_update_costs_no_host_work(tmp_path):
    async def go():
        rig = Rig(tmp_path)
        await rig.start(snapshot(network(NET_A, DP_A)))
        await rig.ready()
        seen = len(rig.journal)
        rig.sb.send(vif("vm1", DP_A))  # same content again
        await rig.idle()
        assert rig.journal[seen:] == []
        await rig.stop()

    run(go())


def test_full_sync_removes_stale_namespaces(tmp_path):
    async def go():
        host = FakeHost([])
        host.namespaces[f"ovnmeta-{NET_B}"] = {}  # left by an earlier agent, not in the SB
        rig = Rig(tmp_path, host=host)
        await rig.start(snapshot(network(NET_A, DP_A)))
        await rig.ready()
        assert set(host.namespaces) == {NS_A}
        await rig.stop()

    run(go())


def test_vanished_namespace_is_rebuilt_while_the_others_stay_served(tmp_path, caplog):
    async def go():
        rig = Rig(tmp_path)
        await rig.start(snapshot(network(NET_A, DP_A), network(NET_B, DP_B)))
        await rig.ready()
        rig.host._apply(DeleteNamespace(NS_A))  # someone ran `ip netns delete`
        rig.sb.send(vif("vm2", DP_B, mac="fa:16:3e:00:00:09 10.0.1.11"))  # any edge commit
        await rig.idle()
        await rig.idle()
        assert rig.host.namespaces[f"ovnmeta-{NET_B}"]["tap0b1c2d3e-41"].addresses == {
            "10.0.0.2/24",
            "10.0.1.2/24",
            "169.254.169.254/32",
        }
        assert NS_A in rig.host.namespaces and rig.host.serves(NET_A) and rig.host.serves(NET_B)
        await rig.stop()

    caplog.set_level("INFO")
    run(go())
    assert "[net f3dc8112] namespace vanished; rebuilding it" in caplog.messages


def test_failed_edge_commit_is_retried_until_served(tmp_path):
    async def go():
        rig = Rig(tmp_path)
        rig.host.render_error = EdgeError("edge haproxy: new config refused: boom")
        await rig.start(snapshot(network(NET_A, DP_A)))
        await rig.time.until(lambda: "register" in rig.journal, "registered")
        await rig.time.advance(0.1)
        assert not rig.host.serves(NET_A) and NET_A not in rig.agent.reconciler.applied
        rig.host.render_error = None
        await rig.time.until(lambda: NET_A in rig.agent.reconciler.applied, "served")
        assert rig.host.serves(NET_A)
        await rig.stop()

    run(go())


def test_many_concurrent_reconciles_share_few_edge_commits(tmp_path):
    async def go():
        nets = [f"{i:08x}-0000-4000-8000-000000000000" for i in range(40)]
        dps = [f"d{i:07x}-0000-0000-0000-000000000000" for i in range(40)]
        rig = Rig(tmp_path)
        await rig.start(snapshot(*(network(n, d, vifs=(f"vm{i}",)) for i, (n, d) in
                                   enumerate(zip(nets, dps, strict=True)))))  # fmt: skip
        await rig.ready()
        assert all(rig.host.serves(n) for n in nets)
        assert len(rig.host.renders) <= 3, [len(r) for r in rig.host.renders]
        await rig.stop()

    run(go())


def test_cold_start_serves_its_first_network_without_waiting_for_the_others(tmp_path):
    """Nothing served yet: the first edge commit goes out as soon as one network is plumbed,
    not after the whole first wave (or EDGE_BATCH_MAX_S); later commits batch as before."""

    class SlowHost(FakeHost):
        def __init__(self, journal, fast: str) -> None:
            super().__init__(journal)
            self.fast = fast
            self.gate = asyncio.Event()

        async def apply(self, actions):
            if not any(getattr(x, "namespace", None) == self.fast for x in actions):
                await self.gate.wait()
            await super().apply(actions)

    async def go():
        nets = [f"{i:08x}-0000-4000-8000-000000000000" for i in range(6)]
        dps = [f"d{i:07x}-0000-0000-0000-000000000000" for i in range(6)]
        host = SlowHost([], f"ovnmeta-{nets[0]}")
        rig = Rig(tmp_path, host)
        started = rig.time.now
        await rig.start(snapshot(*(network(n, d, vifs=(f"vm{i}",)) for i, (n, d) in
                                   enumerate(zip(nets, dps, strict=True)))))  # fmt: skip
        await rig.time.until(lambda: host.serves(nets[0]), "the first network served")
        assert rig.time.now - started < 0.1  # not after EDGE_BATCH_MAX_S (0.5 s)
        assert not any(host.serves(n) for n in nets[1:])
        host.gate.set()
        await rig.ready()
        assert all(host.serves(n) for n in nets)
        await rig.stop()

    run(go())
