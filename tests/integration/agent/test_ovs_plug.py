"""The agent's plug returns once ovsdb-server has the port, not after ovs-vswitchd's
reconfiguration: here no ovs-vswitchd runs at all, so a plug that waited for `cur_cfg`
would take the whole `ovsdb_connection_timeout` (ovsdbapp's wait, which then only logs)."""

import time
from pathlib import Path

import pytest

from ovnmeta.agent.dataplane.ovs import Ovs
from ovnmeta.agent.settings import OvsSettings
from ovnmeta.core import procfs
from ovnmeta.core.checks import OvsdbRemote
from ovnmeta.lab import compute
from ovnmeta.lab.proc import run, stop

TIMEOUT_S = 10


@pytest.fixture
def ovsdb(tmp_path: Path):
    """An Open_vSwitch database with br-int and no ovs-vswitchd; its UNIX socket."""
    compute.start_switch_db(tmp_path, {})
    try:
        compute.switch_vsctl(tmp_path, "--no-wait", "add-br", "br-int")
        yield compute.switch_sock(tmp_path)
    finally:
        pid = procfs.read_pid(tmp_path / "ovs" / "ovsdb-server.pid")
        if pid is not None:
            stop([pid])


def vsctl(sock: Path, *args: str) -> str:
    return run(["ovs-vsctl", f"--db=unix:{sock}", "--no-wait", *args]).strip()


def test_plug_and_unplug_do_not_wait_for_vswitchd(ovsdb):
    ovs = Ovs(OvsSettings(OvsdbRemote("unix", str(ovsdb)), TIMEOUT_S, 0))
    ovs.connect()
    try:
        t0 = time.monotonic()
        ovs.plug("br-int", "tapmeta0", "iface-of-the-localport")
        plugged = time.monotonic() - t0
        assert vsctl(ovsdb, "list-ports", "br-int") == "tapmeta0"
        iface_id = vsctl(ovsdb, "get", "Interface", "tapmeta0", "external_ids:iface-id")
        assert iface_id.strip('"') == "iface-of-the-localport"
        t0 = time.monotonic()
        ovs.unplug("br-int", "tapmeta0")
        unplugged = time.monotonic() - t0
        assert vsctl(ovsdb, "list-ports", "br-int") == ""
    finally:
        ovs.close()
    assert plugged < TIMEOUT_S / 2 and unplugged < TIMEOUT_S / 2, (plugged, unplugged)


def test_ports_of_follows_ports_added_and_removed_by_anyone(ovsdb):
    """ports_of's index (dataplane/port_index.py) against a real IDL, whose monitor diffs
    change a bridge's `ports` column in place: every plug, unplug and foreign add is seen."""
    ovs = Ovs(OvsSettings(OvsdbRemote("unix", str(ovsdb)), TIMEOUT_S, 0))
    ovs.connect()

    def seen(name: str, want: tuple) -> None:
        deadline = time.monotonic() + TIMEOUT_S
        while ovs.ports_of([name]) != want:
            assert time.monotonic() < deadline, (name, ovs.ports_of([name]), want)
            time.sleep(0.02)

    try:
        vsctl(ovsdb, "add-port", "br-int", "vif0")  # a port the agent did not make
        seen("vif0", (("br-int", "vif0", None),))
        ovs.plug("br-int", "tapmeta0", "mp-1")
        seen("tapmeta0", (("br-int", "tapmeta0", "mp-1"),))
        ovs.unplug("br-int", "tapmeta0")
        seen("tapmeta0", ())
        vsctl(ovsdb, "add-br", "br-ex", "--", "add-port", "br-ex", "tapmeta0")
        seen("tapmeta0", (("br-ex", "tapmeta0", None),))
        vsctl(ovsdb, "del-port", "vif0")
        seen("vif0", ())
        assert ovs.ports_of(["tapmeta0", "vif0"]) == (("br-ex", "tapmeta0", None),)
    finally:
        ovs.close()
