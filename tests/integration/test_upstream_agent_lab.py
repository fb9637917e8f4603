"""Upstream's agent (pinned neutron, both modes) on a real lab compute: a guest reads its
metadata through it with cloud-init's own reader, and a stop leaves nothing behind; a stop
that leaves the data plane leaves exactly that (the haproxies upstream's pid files name, the
namespaces), for another agent to adopt. ovnmeta serves the compute again afterwards."""

from pathlib import Path

import pytest

from ovnmeta.core.procfs import alive
from ovnmeta.lab import cloudinit, leaks, neutron_venv
from ovnmeta.lab.lab import lab_root
from ovnmeta.lab.upstream_agent import MODES, UpstreamAgent, decommission_ovnmeta

from .labkit import METADATA, leftovers, running_lab, wait_metadata

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab():
    neutron_venv.ensure()  # minutes only the first time on a machine
    before = leaks.scan(lab_root())
    with running_lab(controllers=1, computes=1) as lab:
        lab.create_network("n0", ["10.0.0.0/24"])
        lab.boot("vm", "n0", 1)
        wait_metadata(lab, "vm")
        decommission_ovnmeta(lab, 1)
        yield lab
    # Other labs may come and go on the machine meanwhile: only this one's leftovers count.
    new = leaks.new_since(before, leaks.scan(lab_root()))
    assert [x for x in new if lab.prefix in x.name or lab.prefix in x.what] == []
    assert leftovers(lab) == []


def nothing_left(up: UpstreamAgent) -> None:
    assert up.processes() == []
    assert up.namespaces() == []
    assert up.tap_ports() == []
    assert [x for x in leaks.scan(lab_root()) if up.marker in x.what] == []


@pytest.mark.parametrize("mode", MODES)
def test_guest_reads_its_metadata_through_upstream_and_stop_leaves_nothing(lab, mode):
    vm = lab.instance("vm")
    net_id = lab.state().networks["n0"].id
    up = UpstreamAgent(lab, 1, mode=mode)
    try:
        up.start()
        up.wait_registered()
        up.wait_served({net_id})
        doc = cloudinit.read(METADATA, netns=vm.netns, retries=5)
        assert doc["uuid"] == vm.id
        assert doc["hostname"].startswith("vm")
        pids = up.processes()
        assert up.haproxy_pids()[net_id] in pids
        assert len(pids) >= 3  # agent, privsep daemon, haproxy (and metadata workers)
        assert up.namespaces() == [f"ovnmeta-{net_id}"]
    finally:
        up.stop()
    nothing_left(up)


def test_stop_leaving_the_dataplane_keeps_haproxy_and_namespace_for_adoption(lab):
    net_id = lab.state().networks["n0"].id
    up = UpstreamAgent(lab, 1, mode="metadata-agent")
    try:
        up.start()
        up.wait_registered()
        up.wait_served({net_id})
        haproxy = up.haproxy_pids()[net_id]
        up.stop(leave_dataplane=True)
        assert up.pid is None
        assert up.processes() == [haproxy]  # agent, workers and privsep are gone
        assert Path(up.haproxy_pidfile(net_id)).read_text().split()[0] == str(haproxy)
        assert up.namespaces() == [f"ovnmeta-{net_id}"]
        assert len(up.tap_ports()) == 1
    finally:
        up.stop()
    assert not alive(haproxy)
    nothing_left(up)


def test_ovnmeta_serves_again_after_upstream(lab):
    lab.start_agent(1)
    try:
        wait_metadata(lab, "vm")
    finally:
        decommission_ovnmeta(lab, 1)
