"""Issue 14.3: a lab on TLS (`--ssl`, with one SB relay): NB, SB and the relay on ssl:
remotes, every ovn-controller and agent with its own key and certificate. Metadata end to end;
an agent whose certificate comes from another CA logs one line naming the remote and the TLS
error, keeps retrying with backoff in the same process, and serves once its files are fixed."""

import json
import shutil
import time
from pathlib import Path

import pytest

from ovnmeta.lab import pki, relay, services
from ovnmeta.lab.lab import Lab
from ovnmeta.lab.proc import wait_until

from .labkit import running_lab, wait_metadata

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab():
    with running_lab(1, 1, sb_relays=1, ssl=True) as lab:
        lab.create_network("net-a", ["10.0.0.0/24"])
        lab.boot("vm1", "net-a", 1)
        wait_metadata(lab, "vm1")
        yield lab


def agent_status(lab: Lab) -> dict:
    return json.loads(services.agent_status_file(lab.dir, lab.topology().compute(1)).read_text())


def sb_state(lab: Lab, pid: int) -> str:
    """The SB state the agent `pid` reports ("starting" until it has written its file)."""
    st = agent_status(lab)
    return st["sb"] if st["agent_pid"] == pid else "starting"


def test_metadata_end_to_end_over_ssl(lab):
    topo = lab.topology()
    assert json.loads(wait_metadata(lab, "vm1"))["uuid"] == lab.instance("vm1").id
    conf = services.agent_config(lab.dir, topo.compute(1)).read_text()
    tls = pki.node_files(lab.dir, "cmp1")
    assert "ovn_sb_connection = ssl:10.255.0.11:6651\n" in conf
    for option, key in (("private_key", "key"), ("certificate", "cert"), ("ca_cert", "ca")):
        assert f"ovn_sb_{option} = {tls[key]}\n" in conf
    # Every server listens on ssl: only; ovn-controller uses its own certificate.
    cmdlines = " ".join(
        Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
        for pid in (lab.controller_db_pid("ctl1", "sb"), lab.relay_pid(1))
    )
    assert "--remote=pssl:6642:10.255.0.11" in cmdlines
    assert "--remote=pssl:6651:10.255.0.11" in cmdlines
    assert "relay:OVN_Southbound:ssl:10.255.0.11:6642" in cmdlines
    ovn_remote = lab.run_on_compute(
        1,
        [
            "ovs-vsctl",
            f"--db=unix:{lab.dir}/cmp1/ovs/db.sock",
            "get",
            "Open_vSwitch",
            ".",
            "external_ids:ovn-remote",
        ],
    )
    assert ovn_remote.strip().strip('"') == "ssl:10.255.0.11:6651"
    # A guest can be answered before the registration write is acked: the status file says
    # "served" at the full sync's end and "registered" when the SB confirms (~0.1 s later).
    wait_until("registered over SSL", lambda: agent_status(lab)["registered"], timeout=20)


def test_certificate_from_another_ca_one_clear_line_retries_then_serves(lab):
    tls = pki.node_files(lab.dir, "cmp1")
    rogue = pki.issue(lab.dir, "cmp1", ca="rogue")
    saved = {k: tls[k].read_bytes() for k in ("key", "cert")}
    relay_log = relay.files(lab.dir, lab.topology().relay(1))["log"]

    def rejected() -> int:  # the relay's side of each attempt
        return relay_log.read_text().count("certificate verify failed")

    lab.stop_agent(1)
    rejected_before = rejected()
    log_before = len(lab.agent_log(1).splitlines())
    try:
        for k in ("key", "cert"):  # the operator installed a certificate of another CA
            shutil.copyfile(rogue[k], tls[k])
        pid = lab.start_agent(1)
        wait_until(
            "the agent to log the TLS error",
            lambda: "TLS" in "\n".join(lab.agent_log(1).splitlines()[log_before:]),
            timeout=20,
        )
        time.sleep(4)  # several retries (0.5, 1, 2 s ...) meanwhile
        new = lab.agent_log(1).splitlines()[log_before:]
        tls_lines = [ln for ln in new if "TLS" in ln]
        print("\n".join(tls_lines))
        assert len(tls_lines) == 1, new
        assert "ssl:10.255.0.11:6651" in tls_lines[0]
        assert "rejected our certificate" in tls_lines[0] and "unknown ca" in tls_lines[0]
        assert not [ln for ln in new if "Could not retrieve schema" in ln]  # no per-try noise
        assert lab.agent_pid(1) == pid  # retrying, not restarting
        assert rejected() - rejected_before >= 3  # attempts at 0, 0.5, 1.5, 3.5 s ...
        assert sb_state(lab, pid) != "connected"
    finally:
        for k, data in saved.items():  # fixed in place: the next attempt reads the files
            tls[k].write_bytes(data)
    wait_until("the agent to connect", lambda: sb_state(lab, pid) == "connected", 45)
    assert lab.agent_pid(1) == pid
    lab.create_network("net-b", ["10.1.0.0/24"])
    lab.boot("vm2", "net-b", 1)
    assert json.loads(wait_metadata(lab, "vm2"))["uuid"] == lab.instance("vm2").id
    assert json.loads(wait_metadata(lab, "vm1"))["uuid"] == lab.instance("vm1").id
    assert lab.agent_pid(1) == pid
