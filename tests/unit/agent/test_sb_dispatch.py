"""SB changes through the loop on fakes: reconnects, registration, heartbeat."""

import asyncio
import json

from ovnmeta.agent.sb import changes, registration
from ovnmeta.core.errors import SbError

from .factories import DP_A, DP_B, NET_A, NET_B
from .fakes import SYSTEM_ID, Rig, network, snapshot

NS_A, NS_B = f"ovnmeta-{NET_A}", f"ovnmeta-{NET_B}"


def run(coro):
    return asyncio.run(coro)


def test_sb_reconnect_resyncs_and_loses_no_network(tmp_path):
    async def go():
        rig = Rig(tmp_path)
        await rig.start(snapshot(network(NET_A, DP_A), network(NET_B, DP_B)))
        await rig.ready()
        rig.sb.send(changes.Disconnected())
        await rig.idle()
        assert rig.agent.sb.sb_state == "disconnected"
        assert rig.agent.status().sb == "disconnected"
        seen = len(rig.journal)
        # NET_B's last port went away while we were disconnected
        rig.sb.send(snapshot(network(NET_A, DP_A), reconnect=True))
        await rig.idle()
        after = rig.journal[seen:]
        assert f"observe {NS_A}" in after  # looked at again (a forced resync)
        assert f"delete {NS_A}" not in after and rig.host.serves(NET_A)
        assert f"delete {NS_B}" in after and not rig.host.serves(NET_B)
        assert rig.agent.sb.sb_state == "connected" and rig.agent.sb.registered
        assert len(rig.sb.registrations) == 2
        await rig.stop()

    run(go())


def test_registration_as_neutron_expects(tmp_path):
    async def go():
        rig = Rig(tmp_path)
        await rig.start(snapshot(network(NET_A, DP_A), chassis_private_nb_cfg=7))
        await rig.ready()
        assert rig.sb.registrations == [(registration.agent_id(SYSTEM_ID), "br-int", 7)]
        await rig.stop()

    run(go())


def test_failed_registration_is_retried_on_the_next_chassis_private_event(tmp_path):
    async def go():
        rig = Rig(tmp_path)
        rig.sb.register_error = SbError("Chassis_Private compute-1: cannot register: no row")
        await rig.start(snapshot(network(NET_A, DP_A), chassis_private_nb_cfg=None))
        await rig.idle()
        assert "register" not in rig.journal  # no Chassis_Private row yet: nothing to do
        rig.sb.send(changes.ChassisPrivateCreated(3))
        await rig.idle()
        assert not rig.agent.sb.registered
        rig.sb.register_error = None
        rig.sb.send(changes.ChassisPrivateCreated(3))
        await rig.idle()
        assert rig.agent.sb.registered and rig.sb.registrations[-1][2] == 3
        await rig.stop()

    run(go())
    assert json.loads((tmp_path / "ovnmeta" / "status.json").read_text())["registered"]


def test_heartbeat_written_once_per_nb_cfg_after_jitter(tmp_path):
    async def go():
        rig = Rig(tmp_path)  # jitter: min(2 s, the limit)
        await rig.start(snapshot(network(NET_A, DP_A)))
        await rig.ready()
        rig.sb.send(changes.NbCfgChanged(6))
        await rig.time.advance(0.1)
        assert rig.sb.sb_cfg_writes == [6]  # no interval seen yet: at once
        await rig.time.advance(5.9)
        rig.sb.send(changes.NbCfgChanged(7))  # 6 s later: a delay of up to 3 s, here 2
        await rig.time.advance(1.0)
        assert rig.sb.sb_cfg_writes == [6]
        await rig.time.advance(1.5)
        assert rig.sb.sb_cfg_writes == [6, 7]
        rig.sb.send(changes.NbCfgChanged(7))
        await rig.time.advance(5)
        assert rig.sb.sb_cfg_writes == [6, 7]
        rig.sb.send(changes.NbCfgChanged(8))  # delayed 2 s ...
        await rig.time.advance(0.5)
        rig.sb.send(changes.NbCfgChanged(9))  # ... but another bump came: written at once
        await rig.time.advance(0.1)
        assert rig.sb.sb_cfg_writes == [6, 7, 9]
        await rig.time.advance(5)
        assert rig.sb.sb_cfg_writes == [6, 7, 9]
        assert rig.agent.status().sb_cfg == 9
        await rig.stop()

    run(go())


def test_vanished_bridge_with_a_new_identity_registers_again(tmp_path):
    async def go():
        from ovnmeta.core.model import Identity

        from .factories import meta

        rig = Rig(tmp_path)
        await rig.start(snapshot(network(NET_A, DP_A)))
        await rig.ready()
        rig.host.bridges = {"br-new"}
        rig.host.ident = Identity(SYSTEM_ID, "br-new")
        rig.sb.send(meta(f"mp-{DP_A}", DP_A, NET_A, mtu=1400))  # a change: reconcile runs
        await rig.time.until(lambda: len(rig.sb.registrations) == 2, "registered again")
        assert rig.sb.registrations[-1][1] == "br-new"
        await rig.idle()
        assert rig.host.ports[next(iter(rig.host.ports))][0] == "br-new"
        await rig.stop()

    run(go())
