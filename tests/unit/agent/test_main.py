"""The agent's life cycle on fakes: start-up order, status file, shutdown and signals."""

import asyncio
import json
import signal

from ovnmeta.agent.main import EXIT_RELEASED
from ovnmeta.agent.reconciler import EDGE_CHECK_INTERVAL_S, QUIET_AFTER_CHANGES_S
from ovnmeta.agent.sb import changes

from .factories import DP_A, DP_B, NET_A, NET_B, datapath, meta, vif
from .fakes import SYSTEM_ID, Rig, network, settle, snapshot

NS_A = f"ovnmeta-{NET_A}"


def run(coro):
    return asyncio.run(coro)


def first(journal, prefix):
    return next(i for i, line in enumerate(journal) if line.startswith(prefix))


def test_startup_order_ovs_edge_sb_snapshot_proxy_full_sync_registration(tmp_path):
    async def go():
        rig = Rig(tmp_path)
        await rig.start(snapshot(network(NET_A, DP_A)))
        await rig.ready()
        j = rig.journal
        order = [
            first(j, "ovs connect"),
            first(j, "edge adopt"),
            first(j, "sb connect"),
            first(j, "proxy up (1 networks indexed)"),  # the snapshot was loaded first
            first(j, "list namespaces"),  # the full sync starts: every network queued
            first(j, "register"),
        ]
        assert order == sorted(order), j
        assert rig.sb.own == SYSTEM_ID
        assert rig.host.serves(NET_A)
        await rig.stop()

    run(go())


def test_memory_is_given_back_once_the_full_sync_is_done_not_before(tmp_path):
    async def go():
        rig = Rig(tmp_path)
        await rig.start(snapshot(network(NET_A, DP_A), network(NET_B, DP_B)))
        await rig.ready()
        await rig.time.advance(1.0)
        [done] = rig.full_syncs_done  # once, after both networks were plugged
        assert {f"create ovnmeta-{NET_A}", f"create ovnmeta-{NET_B}"} <= set(rig.journal[:done])
        assert sum(line.startswith("plug ") for line in rig.journal[:done]) == 2
        await rig.stop()

    run(go())


def test_memory_is_given_back_once_a_burst_of_host_changes_is_over(tmp_path):
    async def go():
        rig = Rig(tmp_path)
        await rig.start(snapshot(network(NET_A, DP_A), network(NET_B, DP_B)))
        await rig.ready()
        assert rig.changes_done == []  # the networks were just plugged: not yet
        await rig.time.advance(QUIET_AFTER_CHANGES_S + 2 * EDGE_CHECK_INTERVAL_S)
        assert len(rig.changes_done) == 1
        await rig.time.advance(10 * EDGE_CHECK_INTERVAL_S)
        assert len(rig.changes_done) == 1  # nothing changed since
        await rig.stop()

    run(go())


def test_unreachable_ovsdb_is_retried_not_fatal(tmp_path):
    async def go():
        rig = Rig(tmp_path)
        rig.host.connect_failures = 2
        await rig.start(snapshot(network(NET_A, DP_A)))
        await rig.ready()
        assert rig.journal.count("ovs connect") == 3
        assert rig.host.serves(NET_A)
        await rig.stop()

    run(go())


def test_stop_before_the_first_snapshot_never_starts_the_proxy(tmp_path):
    async def go():
        rig = Rig(tmp_path)
        await rig.start()  # the SB never delivers a snapshot
        assert "sb connect" in rig.journal
        assert await rig.stop() == 0
        assert not any(line.startswith("proxy") for line in rig.journal)
        assert rig.sb.closed and rig.host.closed

    run(go())


def test_status_file_keeps_its_keys_and_values(tmp_path):
    async def go():
        rig = Rig(tmp_path)
        await rig.start(snapshot(network(NET_A, DP_A)))
        await rig.ready()
        await rig.stop()

    run(go())
    st = json.loads((tmp_path / "ovnmeta" / "status.json").read_text())
    assert list(st) == [
        "agent_pid", "updated_at", "chassis", "bridge", "agent_id", "sb", "sb_since",
        "registered", "sb_cfg", "edge_pid", "socket", "networks", "failing", "sb_index",
    ]  # fmt: skip
    assert (st["chassis"], st["bridge"], st["sb"], st["registered"]) == (
        SYSTEM_ID,
        "br-int",
        "connected",
        True,
    )
    assert st["sb_cfg"] == 5 and st["edge_pid"] == 4242 and st["failing"] == []
    assert st["sb_index"] == {"ports": 2, "datapaths": 1}  # the VIF and the localport
    assert st["networks"] == [
        {
            "network": NET_A,
            "namespace": NS_A,
            "veth": ["tapf3dc8112-20", "tapf3dc8112-21"],
            "iface_id": f"mp-mp-{DP_A}",
            "mac": "fa:16:3e:11:22:33",
            "addresses": ["10.0.0.2/24", "169.254.169.254/32"],
            "served": True,
            "failing": 0,
        }
    ]


def test_shutdown_drains_workers_and_leaves_the_data_plane_up(tmp_path):
    async def go():
        rig = Rig(tmp_path)
        await rig.start(snapshot(network(NET_A, DP_A)))
        await rig.ready()
        rig.host.apply_gate = asyncio.Event()  # the next reconcile hangs in netlink
        for change in (datapath(DP_B, NET_B), meta("mp-b", DP_B, NET_B), vif("vm9", DP_B)):
            rig.sb.send(change)
        await settle()
        assert rig.agent.reconciler.scheduler.busy == 1
        rig.agent.handle_signal(signal.SIGTERM)
        await settle()
        assert not rig.task.done(), "shutdown must wait for the running reconcile"
        rig.host.apply_gate.set()
        await rig.time.until(rig.task.done, "the agent ends")
        assert rig.task.result() == 0
        j = rig.journal
        assert first(j, "proxy down") < first(j, "sb close") < first(j, "ovs close")
        assert f"create ovnmeta-{NET_B}" in j  # drained, not cancelled
        assert not [line for line in j if line.startswith("delete")]
        assert NS_A in rig.host.namespaces and rig.host.serves(NET_A)
        assert rig.host.edge_pid is not None and rig.exits == []

    run(go())


def test_release_soft_stops_the_edge_before_the_proxy_stops(tmp_path):
    """SIGUSR1 (`ovnmeta agent --release`): the workers drain, then the edge stops while the
    proxy still answers what it accepted (docs/migration.md); namespaces stay."""

    async def go():
        rig = Rig(tmp_path)
        await rig.start(snapshot(network(NET_A, DP_A)))
        await rig.ready()
        rig.host.apply_gate = asyncio.Event()
        for change in (datapath(DP_B, NET_B), meta("mp-b", DP_B, NET_B), vif("vm9", DP_B)):
            rig.sb.send(change)
        await settle()
        rig.agent.handle_signal(signal.SIGUSR1)
        await settle()
        assert "edge release" not in rig.journal, "the running reconcile drains first"
        rig.host.apply_gate.set()
        await rig.time.until(rig.task.done, "the agent ends")
        assert rig.task.result() == EXIT_RELEASED  # systemd: no restart
        j = rig.journal
        assert f"create ovnmeta-{NET_B}" in j
        assert first(j, "edge release") < first(j, "proxy down") < first(j, "sb close")
        assert j.count("edge release") == 1 and rig.host.edge_pid is None
        assert not [line for line in j if line.startswith("delete")]
        assert NS_A in rig.host.namespaces and rig.exits == []

    run(go())


def test_second_signal_exits_at_once(tmp_path):
    async def go():
        rig = Rig(tmp_path)
        await rig.start(snapshot(network(NET_A, DP_A)))
        await rig.ready()
        rig.host.apply_gate = asyncio.Event()
        rig.sb.send(changes.PortDeleted("vm1"))  # a teardown that hangs
        await settle()
        rig.agent.handle_signal(signal.SIGTERM)
        await settle()
        assert rig.exits == []
        rig.agent.handle_signal(signal.SIGINT)
        assert rig.exits == [128 + signal.SIGINT]  # os._exit in production: no drain
        rig.host.apply_gate.set()
        await rig.time.until(rig.task.done, "the agent ends")

    run(go())


def test_restart_adopts_the_data_plane_without_changes(tmp_path):
    async def go():
        first_run = Rig(tmp_path)
        await first_run.start(snapshot(network(NET_A, DP_A), network(NET_B, DP_B)))
        await first_run.ready()
        await first_run.stop()
        host = first_run.host
        host.adoptable = {fe.network: fe for fe in host.served}
        done = len(host.applied)

        second = Rig(tmp_path, host=host)
        await second.start(snapshot(network(NET_A, DP_A), network(NET_B, DP_B)))
        await second.ready()
        assert len(host.applied) == done, host.applied[done:]
        assert host.renders[-1] == tuple(sorted(host.adoptable.values()))
        assert second.agent.reconciler.applied.keys() == {NET_A, NET_B}
        await second.stop()

    run(go())


def test_restart_counts_networks_found_in_place_served_before_the_edge_commit(tmp_path):
    """A network checked on the host and served by the adopted edge as it is, is served
    then, not after the batched commit; a network the edge does not serve yet waits for it.
    The commit still runs (settings changed across the restart are rendered)."""

    async def go():
        first_run = Rig(tmp_path)
        await first_run.start(snapshot(network(NET_A, DP_A)))
        await first_run.ready()
        await first_run.stop()
        host = first_run.host
        host.adoptable = {fe.network: fe for fe in host.served}
        renders = len(host.renders)
        host.render_gate = asyncio.Event()  # no commit gets through

        second = Rig(tmp_path, host=host)
        await second.start(snapshot(network(NET_A, DP_A), network(NET_B, DP_B)))
        reconciler = second.agent.reconciler
        await second.time.until(lambda: NET_A in reconciler.applied, "NET_A served")
        await second.time.until(lambda: reconciler.scheduler.busy == 0, "full sync")
        await second.time.advance(1.0)
        assert NET_B not in reconciler.applied  # plumbed now, but no edge serves it yet
        assert len(host.renders) == renders
        host.render_gate.set()
        await second.ready()
        assert reconciler.applied.keys() == {NET_A, NET_B}
        assert host.serves(NET_A) and host.serves(NET_B)
        await second.stop()

    run(go())


def test_build_wires_the_real_adapters_without_touching_the_host(tmp_path):
    from ovnmeta.agent import adapters, main

    from .fakes import settings

    async def go():
        agent = main.build(settings(tmp_path))
        assert isinstance(agent._dp, adapters.HostDataplane)
        assert isinstance(agent._proxy, adapters.HeldProxy)
        assert agent.status().sb == "connecting" and agent.status().chassis == "?"

    run(go())


def test_a_real_sigint_stops_gracefully_and_the_old_handler_is_restored(tmp_path):
    import os

    async def go():
        rig = Rig(tmp_path)
        await rig.start(snapshot(network(NET_A, DP_A)))
        await rig.ready()
        os.kill(os.getpid(), signal.SIGINT)  # goes to the agent's handler, not pytest's
        await rig.time.until(rig.task.done, "the agent ends")
        assert rig.task.result() == 0 and rig.exits == []
        assert NS_A in rig.host.namespaces

    before = signal.getsignal(signal.SIGINT)
    run(go())
    assert signal.getsignal(signal.SIGINT) is before
