"""The agent against real OVS, a real SB ovsdb-server and a real haproxy, in a private host.

Rows are written into the SB as ovn-controller and northd would; guests are namespaces on the
netdev br-int. Needs root; run with `pytest -m lab`.
"""

import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest

from ovnmeta.core import procfs
from ovnmeta.core.signing import sign_instance_id
from ovnmeta.lab import promtool
from tests.integration.agent.harness import wait_for

pytestmark = pytest.mark.lab

META_MAC = "fa:16:3e:00:00:02"
VM_MAC = "fa:16:3e:00:00:11"
PROJECT = "0123456789abcdef0123456789abcdef"


def ip_json(*argv):
    return json.loads(
        subprocess.run(["ip", "-j", *argv], capture_output=True, text=True, check=True).stdout
        or "[]"
    )


def namespaces():
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def network(node, key=1):
    """A Neutron network with its metadata port, and a VM port bound to this chassis."""
    net = str(uuid.uuid4())
    dp = node.sb.datapath(net, key)
    node.sb.metadata_port(dp, net, 1, META_MAC, "10.0.0.2/24")
    instance = str(uuid.uuid4())
    vif = node.sb.vif(dp, 2, VM_MAC, "10.0.0.11", instance, PROJECT)
    return net, dp, vif, instance


# The agent's start-up (imports, SB snapshot) took 3.5 s of wall time at load 10: a wait that
# includes it gets this, so that each test's own waits time only what they test.
START_TIMEOUT_S = 60


def started_ready(node):
    """Start the agent and wait for its own "agent ready" (the log keeps earlier runs')."""
    seen = node.agent.log.read_text().count("agent ready") if node.agent.log.exists() else 0
    node.agent.start()
    wait_for(
        lambda: node.agent.log.exists() and node.agent.log.read_text().count("agent ready") > seen,
        timeout=START_TIMEOUT_S,
        what="agent ready",
    )


def start(node):
    ch = node.sb.chassis(node.chassis)
    node.sb.chassis_private(node.chassis, ch, nb_cfg=3)
    started_ready(node)
    return ch


def served(node, ns):
    return node.curl(ns)[0] == "200"


def guest_served(node, ch, net, vif):
    """Bind `vif` here, wait for its network's namespace, plug guest vm1 and wait for its
    first 200; returns the guest's namespace."""
    node.sb.bind(vif, ch)
    wait_for(lambda: f"ovnmeta-{net}" in namespaces(), what="namespace")
    vm = node.plug_vm("vm1", VM_MAC, "10.0.0.11/24", "10.0.0.2")
    wait_for(lambda: served(node, vm), what="first 200 from the guest")
    return vm


def test_network_lifecycle_headers_and_registration(node):
    ch = start(node)
    net, dp, vif, instance = network(node)
    meta_ns = f"ovnmeta-{net}"
    vm = guest_served(node, ch, net, vif)

    # Namespace contents (agent-contract.md section 5)
    inner = f"tap{net[:10]}1"
    link = ip_json("-n", meta_ns, "addr", "show", inner)[0]
    assert link["address"] == META_MAC and link["mtu"] == 1442
    addrs = {f"{a['local']}/{a['prefixlen']}" for a in link["addr_info"]}
    assert {"169.254.169.254/32", "10.0.0.2/24"} <= addrs
    outer = ip_json("link", "show", f"tap{net[:10]}0")[0]
    assert outer["mtu"] == 1442
    iface_id = node.daemons.vsctl("get", "Interface", f"tap{net[:10]}0", "external_ids:iface-id")
    assert iface_id.strip('"') == f"mp-{net}"
    features = subprocess.run(
        ["ip", "netns", "exec", meta_ns, "ethtool", "-k", inner], capture_output=True, text=True
    ).stdout
    assert "tx-checksumming: off" in features

    # Header contract; forged headers change nothing
    node.nova.seen.clear()
    code, body = node.curl(
        vm,
        "/openstack/latest/meta_data.json",
        "-H",
        "X-OVN-Network-ID: forged",
        "-H",
        "X-Instance-ID: evil",
        "-H",
        "X-Forwarded-For: 10.0.0.99",
    )
    assert code == "200" and json.loads(body) == {"uuid": instance}
    _, path, headers, _ = node.nova.seen[-1]
    assert path == "/openstack/latest/meta_data.json"
    assert headers["X-Instance-ID"] == instance
    assert headers["X-Tenant-ID"] == PROJECT
    assert headers["X-Forwarded-For"] == "10.0.0.11"
    assert headers["X-Instance-ID-Signature"] == sign_instance_id("s3cr3t", instance)

    # Password POST passes through
    code, _ = node.curl(
        vm, "/openstack/2013-04-04/password", "-X", "POST", "--data-binary", "x" * 1020
    )
    assert code == "200" and node.nova.seen[-1][3] == b"x" * 1020

    # Registration and heartbeat (write only on change)
    ids = wait_for(
        lambda: (
            node.sb.private_ids(node.chassis).get("neutron:ovn-metadata-id")
            and node.sb.private_ids(node.chassis)
        ),
        what="registration",
    )
    assert ids["neutron:ovn-bridge"] == "br-int"
    assert ids["neutron:ovn-metadata-sb-cfg"] == "3"
    node.daemons.sbctl("set", "SB_Global", ".", "nb_cfg=4")
    wait_for(
        lambda: node.sb.private_ids(node.chassis).get("neutron:ovn-metadata-sb-cfg") == "4",
        timeout=15,
        what="heartbeat",
    )

    # Unknown source address: 404. A second addressed port bound here keeps the network
    # served while vm1's port has no address; without it the network is torn down within
    # ~50 ms of the change, and a 404 could be seen only by a request that wins that race.
    other = node.sb.vif(dp, 3, "fa:16:3e:00:00:33", "10.0.0.33", str(uuid.uuid4()), PROJECT)
    node.sb.bind(other, ch)
    node.daemons.sbctl("clear", "Port_Binding", vif, "mac")
    wait_for(lambda: node.curl(vm)[0] == "404", what="404 after the port lost its IP")
    # With no addressed port left the network is torn down.
    node.sb.bind(other, None)
    wait_for(lambda: f"ovnmeta-{net}" not in namespaces(), what="namespace torn down")
    node.daemons.sbctl("set", "Port_Binding", vif, f'mac="{VM_MAC} 10.0.0.11"')
    wait_for(lambda: served(node, vm), what="served again")

    # Backend down -> 503, then recovery
    port = node.nova.port
    node.nova.stop()
    assert node.curl(vm)[0] == "503"
    node.nova.start(port)
    assert served(node, vm)

    # Last local instance gone -> torn down, without a restart
    node.sb.bind(vif, None)
    wait_for(lambda: meta_ns not in namespaces(), what="teardown")
    assert not ip_json("link", "show", "type", "veth") or all(
        not link["ifname"].startswith(f"tap{net[:10]}") for link in ip_json("link")
    )
    assert f"tap{net[:10]}0" not in node.daemons.vsctl("list-ports", "br-int")


@contextlib.contextmanager
def polling(node, vm):
    """The guest polls its metadata meanwhile; yields the results (200 or what failed)."""
    results: list[str] = []
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            code, body = node.curl(vm, timeout=20)
            results.append(code if code == "200" else f"{code} {body[:200]} {time.time()}")

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        yield results
    finally:
        stop.set()
        poller.join()


def test_restart_and_kill_adopt_without_failed_requests(node):
    ch = start(node)
    net, _dp, vif, _ = network(node)
    vm = guest_served(node, ch, net, vif)
    ifindex = ip_json("link", "show", f"tap{net[:10]}0")[0]["ifindex"]

    with polling(node, vm) as results:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            time.sleep(0.5)
            node.agent.stop(sig)
            time.sleep(0.5)  # requests arrive while no agent runs
            started_ready(node)
            time.sleep(0.5)
    assert results and set(results) == {"200"}, [r for r in results if r != "200"]
    assert ip_json("link", "show", f"tap{net[:10]}0")[0]["ifindex"] == ifindex


def test_stale_and_broken_namespaces_removed_at_start(node):
    stale = f"ovnmeta-{uuid.uuid4()}"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    open(f"/run/netns/ovnmeta-{uuid.uuid4()}", "w").close()  # nothing mounted: errno 22
    start(node)
    wait_for(
        lambda: not {n for n in namespaces() if n.startswith("ovnmeta-")},
        what="stale namespaces removed",
    )
    import os

    assert not [n for n in os.listdir("/run/netns") if n.startswith("ovnmeta-")]
    assert node.agent.proc.poll() is None  # no crash


def test_sb_reconnect_resyncs_changes_made_while_away(node):
    ch = start(node)
    net, _dp, vif, _ = network(node)
    meta_ns = f"ovnmeta-{net}"
    node.sb.bind(vif, ch)
    wait_for(lambda: meta_ns in namespaces(), what="namespace")
    node.daemons.stop_sb()
    # While the agent is disconnected, the port goes away (written offline in the db file).
    subprocess.run(
        [
            "ovsdb-tool",
            "transact",
            str(node.daemons.sb_db),
            json.dumps(
                [
                    "OVN_Southbound",
                    {
                        "op": "update",
                        "table": "Port_Binding",
                        "where": [["_uuid", "==", ["uuid", vif]]],
                        "row": {"chassis": ["set", []]},
                    },
                ]
            ),
        ],
        check=True,
        capture_output=True,
    )
    node.daemons.start_sb()
    wait_for(lambda: meta_ns not in namespaces(), timeout=20, what="teardown after resync")
    assert "southbound resynced" in node.agent.log.read_text()


def test_live_migration_target_provisions_early_and_failed_migration_cleans(node):
    ch = start(node)
    other = node.sb.chassis(f"other-{uuid.uuid4().hex[:6]}")
    net, _dp, vif, _ = network(node)
    meta_ns = f"ovnmeta-{net}"
    node.sb.bind(vif, other)
    node.daemons.sbctl("set", "Port_Binding", vif, f"additional_chassis={ch}")
    wait_for(lambda: meta_ns in namespaces(), what="provisioned on the migration target")
    node.daemons.sbctl("clear", "Port_Binding", vif, "additional_chassis")
    wait_for(lambda: meta_ns not in namespaces(), what="torn down after a failed migration")


def test_ipv6_link_local_guest_is_matched_by_mac(node):
    ch = start(node)
    net = str(uuid.uuid4())
    dp = node.sb.datapath(net, 1)
    node.sb.metadata_port(dp, net, 1, META_MAC, "10.0.0.2/24")
    instance = str(uuid.uuid4())
    vif = node.sb.d.sbctl(
        "create",
        "Port_Binding",
        "logical_port=vm6",
        "tunnel_key=2",
        f"datapath={dp}",
        f'mac="{VM_MAC} 10.0.0.11 fd00::11"',
        f'external_ids:"neutron:device_id"="{instance}"',
        f'external_ids:"neutron:project_id"="{PROJECT}"',
    )
    meta_ns = f"ovnmeta-{net}"
    node.sb.bind(vif, ch)
    wait_for(lambda: meta_ns in namespaces(), what="namespace")
    vm = node.plug_vm("vm1", VM_MAC, "10.0.0.11/24", "10.0.0.2")

    def get6():
        proc = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                vm,
                "curl",
                "-s",
                "-m",
                "3",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "http://[fe80::a9fe:a9fe%eth0]/openstack",
            ],
            capture_output=True,
            text=True,
        )
        return proc.stdout == "200"

    wait_for(get6, timeout=15, what="200 over IPv6 link-local")
    assert node.nova.seen[-1][2]["X-Instance-ID"] == instance
    assert node.nova.seen[-1][2]["X-Forwarded-For"] == "fe80::f816:3eff:fe00:11"


def test_chassis_private_recreated_is_registered_again(node):
    ch = start(node)
    wait_for(
        lambda: node.sb.private_ids(node.chassis).get("neutron:ovn-metadata-id"),
        what="registration",
    )
    node.daemons.sbctl("destroy", "Chassis_Private", node.chassis)
    node.sb.chassis_private(node.chassis, ch, nb_cfg=9)
    ids = wait_for(
        lambda: (
            node.sb.private_ids(node.chassis).get("neutron:ovn-metadata-id")
            and node.sb.private_ids(node.chassis)
        ),
        what="registration after re-creation",
    )
    assert ids["neutron:ovn-metadata-sb-cfg"] == "9"


def test_many_networks_in_parallel_and_restart_recreates_nothing(node):
    ch = start(node)
    nets = []
    for i in range(20):
        net = str(uuid.uuid4())
        dp = node.sb.datapath(net, i + 1)
        node.sb.metadata_port(dp, net, 1, META_MAC, "10.0.0.2/24")
        vif = node.sb.vif(dp, 2, VM_MAC, "10.0.0.11", str(uuid.uuid4()), PROJECT)
        node.sb.bind(vif, ch)
        nets.append(net)
    wanted = {f"ovnmeta-{n}" for n in nets}
    wait_for(lambda: wanted <= namespaces(), timeout=30, what="20 namespaces")
    edge_cfg = node.root / "state" / "ovnmeta" / "edge" / "haproxy.cfg"
    wait_for(
        lambda: edge_cfg.exists() and all(f"net_{n}" in edge_cfg.read_text() for n in nets),
        what="edge",
    )
    before = {link["ifname"]: link["ifindex"] for link in ip_json("link")}
    node.agent.stop()
    started_ready(node)
    wait_for(
        lambda: (
            "full sync of 20 networks done" in node.agent.log.read_text().split("agent ready")[-1]
        ),
        what="full sync after restart",
    )
    after = {link["ifname"]: link["ifindex"] for link in ip_json("link")}
    assert before == after

    def status():
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "ovnmeta",
                "status",
                "--config-file",
                str(node.agent.ini),
                "--json",
            ],
            capture_output=True,
            text=True,
        )
        return json.loads(proc.stdout)

    def current():
        data = status()
        fresh = data["agent_pid"] == node.agent.proc.pid and len(data["networks"]) == 20
        return fresh and data

    data = wait_for(current, what="status of the restarted agent")
    assert data["agent_running"] and data["edge_running"]
    assert {n["network"] for n in data["networks"]} == set(nets)


def test_dead_edge_is_restarted_and_metrics_are_served(node):
    import socket as socketlib
    import urllib.request

    with socketlib.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ini = node.agent.ini
    ini.write_text(ini.read_text().replace("[ovnmeta]\n", f"[ovnmeta]\nmetrics_port = {port}\n"))
    ch = start(node)
    net, _dp, vif, _ = network(node)
    vm = guest_served(node, ch, net, vif)
    edge = node.root / "state" / "ovnmeta" / "edge"
    pidfiles = [edge / "haproxy.pid", edge / "young-haproxy.pid"]  # both shards
    wait_for(lambda: all(procfs.read_pid(p) for p in pidfiles), what="both edge shards")
    old = [procfs.read_pid(p) for p in pidfiles]
    subprocess.run(["kill", "-9", *map(str, old)], check=True)
    wait_for(
        lambda: all(
            procfs.read_pid(p) not in (None, o) for p, o in zip(pidfiles, old, strict=True)
        ),
        timeout=15,
        what="both edge shards restarted",
    )
    wait_for(lambda: served(node, vm), timeout=15, what="served by a restarted edge")
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
    text = text.decode()
    assert 'ovnmeta_requests_total{code="200"}' in text
    assert "ovnmeta_networks_provisioned 1.0" in text
    assert "ovnmeta_sb_connected 1.0" in text
    assert "ovnmeta_request_seconds_bucket" in text
    # The kill was noticed as a restart of each edge shard (deploy/prometheus:
    # OvnmetaEdgeRestarted), and what the agent serves is valid exposition format for Prometheus.
    assert "ovnmeta_edge_restarts_total 2.0" in text
    check = subprocess.run(
        [str(promtool.path()), "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_namespace_deleted_behind_our_back_is_rebuilt(node):
    ch = start(node)
    net, _dp, vif, _ = network(node)
    net2, _dp2, vif2, _ = network(node, key=2)
    node.sb.bind(vif, ch)
    node.sb.bind(vif2, ch)
    wait_for(lambda: {f"ovnmeta-{net}", f"ovnmeta-{net2}"} <= namespaces(), what="both")
    subprocess.run(["ip", "netns", "delete", f"ovnmeta-{net}"], check=True)
    # The next change elsewhere must not be blocked by the missing namespace.
    node.daemons.sbctl("set", "Port_Binding", f"mp-{net2}", 'external_ids:"neutron:mtu"=1400')
    wait_for(lambda: f"ovnmeta-{net}" in namespaces(), what="rebuilt")
    wait_for(
        lambda: (
            ip_json("-n", f"ovnmeta-{net2}", "link", "show", f"tap{net2[:10]}1")[0]["mtu"] == 1400
        ),
        what="mtu change",
    )
    wait_for(lambda: node.curl(f"ovnmeta-{net}", timeout=1)[0] == "404", what="edge back")


def test_rate_limit_answers_429(node):
    ini = node.agent.ini
    ini.write_text(
        ini.read_text() + "[metadata_rate_limiting]\nrate_limit_enabled = true\n"
        "base_query_rate_limit = 3\nburst_query_rate_limit = 100\n"
    )
    ch = start(node)
    net, _dp, vif, _ = network(node)
    vm = guest_served(node, ch, net, vif)
    codes = [node.curl(vm)[0] for _ in range(6)]
    assert "429" in codes


def test_cleanup_takes_down_what_the_agent_leaves_running(node):
    ch = start(node)
    net, _dp, vif, _ = network(node)
    node.sb.bind(vif, ch)
    wait_for(lambda: f"ovnmeta-{net}" in namespaces(), what="namespace")
    edge_pid = node.root / "state" / "ovnmeta" / "edge" / "haproxy.pid"
    # haproxy creates its pid file before writing the pid into it
    wait_for(lambda: edge_pid.exists() and edge_pid.read_text().strip(), what="edge")
    pids = [
        int(edge_pid.read_text().split()[0]),
        int((node.root / "state" / "ovnmeta" / "listener.pid").read_text()),
    ]
    node.agent.stop()
    assert f"ovnmeta-{net}" in namespaces()  # the agent leaves the data plane up
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ovnmeta",
            "agent",
            "--cleanup",
            "--config-file",
            str(node.agent.ini),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert not [n for n in namespaces() if n.startswith("ovnmeta-")]
    assert f"tap{net[:10]}0" not in node.daemons.vsctl("list-ports", "br-int")
    for pid in pids:
        wait_for(lambda pid=pid: not procfs.alive(pid), what=f"pid {pid} stopped")


def test_new_network_is_served_by_the_young_shard_then_moves_without_failed_requests(node):
    """dataplane/edge_shards.py: a new network is served by the small haproxy first; once it
    is quiet, the main haproxy takes it over, and the guest's polling sees no failure."""
    ch = start(node)
    net, _dp, vif, _ = network(node)
    vm = guest_served(node, ch, net, vif)
    edge = node.root / "state" / "ovnmeta" / "edge"

    def config(name: str) -> str:
        path = edge / name
        return path.read_text() if path.exists() else ""

    young_first = f"net_{net}" in config("young-haproxy.cfg")
    with polling(node, vm) as results:
        wait_for(
            lambda: (
                f"net_{net}" in config("haproxy.cfg")
                and f"net_{net}" not in config("young-haproxy.cfg")
            ),
            timeout=30,
            what="the network merged into the main haproxy",
        )
        time.sleep(1)
    assert young_first or "merged into the main haproxy" in node.agent.log.read_text()
    assert results and set(results) == {"200"}, [r for r in results if r != "200"]
    assert "1 networks merged into the main haproxy" in node.agent.log.read_text()
