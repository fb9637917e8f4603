"""The agent from the container image, built from this checkout, on a 3+3 lab (issue 13).

The lab is deployed in production order (OVS -> OVN central -> ovn-controller -> metadata, the
agent on computes only); then cmp1's host agent makes way for the image's agent, run by
deploy/container/podman-run-agent.sh unchanged, on an /etc/neutron.conf.d laid out as EDPM
mounts it. Checked: the first 200 from a guest; `podman stop` + `rm` + a new container while a
guest polls, with zero failed requests, the edge and the namespaces adopted; the image's
healthcheck healthy, then unhealthy with the reason when the SB is cut; the openstack-helm
probe on the proxy socket; a kolla-style run of the same image. The image is cached by the
digest of what goes into it (ovnmeta.lab.image), so only the first run after a change builds.
"""

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from ovnmeta.core.procfs import cmdline
from ovnmeta.lab import compute, image, services
from ovnmeta.lab.container import EDPM_FILES, ContainerCompute
from ovnmeta.lab.proc import wait_until

from .labkit import metadata_get, running_lab, start_poller, wait_metadata

pytestmark = [pytest.mark.lab, pytest.mark.container, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]

# openstack-helm's health-probe.py for the metadata agent: a GET for http://169.254.169.254 on
# the metadata_proxy UNIX socket with these headers; a socket error or a status >= 500 fails.
HELM_PROBE = r"""
import http.client, socket, sys
class Unix(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(5)
        self.sock.connect(sys.argv[1])
try:
    c = Unix("169.254.169.254")
    c.request("GET", "/", headers={"X-Forwarded-For": "169.254.169.254",
              "X-Neutron-Router-ID": "pod-health-probe-check-ignore-errors"})
    status = c.getresponse().status
except OSError as exc:
    print(f"probe: {exc}"); sys.exit(1)
print(status); sys.exit(0 if status < 500 else 1)
"""


class Deployment:
    def __init__(self, lab, ctr: ContainerCompute) -> None:
        self.lab = lab
        self.ctr = ctr
        self.current = ""  # the agent container now serving cmp1
        self.inodes: dict[str, int] = {}


@pytest.fixture(scope="module")
def built_image():
    started = time.monotonic()
    tag = image.ensure(ROOT)
    print(f"\nimage {tag} ready in {time.monotonic() - started:.1f} s")
    return tag


@pytest.fixture(scope="module")
def deployment(built_image):
    with running_lab(3, 3) as lab:
        lab.create_network("net", ["10.0.0.0/24"])
        lab.boot("vm1", "net", 1)
        wait_metadata(lab, "vm1")
        ctr = ContainerCompute(lab, 1, built_image, cgroup=f"{lab.prefix}-edge")
        try:
            # The host agent's edge serves from the lab's state_path; the container has its
            # own: that edge goes (as when moving a host to containers with another
            # state_path). The namespaces stay.
            cmp = lab.topology().compute(1)
            lab.stop_agent(1)
            ctr.stop_edge(services.agent_dir(lab.dir, cmp))
            ctr.write_containers_conf()
            dep = Deployment(lab, ctr)
            dep.inodes = ctr.netns_inodes()
            assert len(dep.inodes) == 1, dep.inodes
            yield dep
        finally:
            left = ctr.cleanup()
            assert not left, left


def served(lab) -> bool:
    return metadata_get(lab, "vm1")[0] == 200


def healthcheck(dep: Deployment, name: str) -> tuple[int, str]:
    p = dep.ctr.exec(name, ["ovnmeta", "healthcheck"])
    return p.returncode, (p.stdout + p.stderr).strip()


def podman_health(dep: Deployment, name: str) -> tuple[int, str]:
    """`podman healthcheck run`: the image's HealthCmd, as podman's timer runs it."""
    p = dep.ctr.podman_run("healthcheck", "run", name)
    return p.returncode, (p.stdout + p.stderr).strip()


def test_edpm_conf_d_and_first_200(deployment):
    dep, ctr = deployment, deployment.ctr
    files = ctr.render_edpm_conf_d()
    assert sorted(p.name for p in ctr.config_dir.glob("*.conf")) == list(EDPM_FILES)
    assert "metadata_proxy_shared_secret" in files["05-nova-metadata.conf"]
    assert "metadata_proxy_shared_secret" not in files["01-neutron-ovn-metadata-agent.conf"]
    assert "[ovn]\novn_sb_connection = " in files["10-neutron-metadata.conf"]
    assert (ctr.config_dir / "05-nova-metadata.conf").stat().st_mode & 0o077 == 0
    started = time.monotonic()
    ctr.run_shipped(f"{dep.lab.prefix}-a")
    dep.current = f"{dep.lab.prefix}-a"
    ctr.wait_running(dep.current, lambda: served(dep.lab), "vm1 served by the container")
    print(f"\nfirst 200 through {dep.current} {time.monotonic() - started:.2f} s after podman run")
    pid = ctr.pid(dep.current)
    assert "neutron-ovn-metadata-agent" in cmdline(pid)  # what kolla/TripleO checks grep for
    assert (
        Path(f"/proc/{pid}/ns/net").stat().st_ino
        == Path(f"/run/netns/{ctr.cmp.netns}").stat().st_ino
    )
    assert ctr.netns_inodes() == dep.inodes  # adopted, not recreated
    # The signed request succeeded, so the secret came from its own file (05-).
    doc = json.loads(wait_metadata(dep.lab, "vm1"))
    assert doc["uuid"] == dep.lab.instance("vm1").id


def test_image_healthcheck_reports_healthy(deployment):
    dep = deployment
    wait_until("healthy", lambda: healthcheck(dep, dep.current)[0] == 0, timeout=60)
    code, line = healthcheck(dep, dep.current)
    assert line.startswith("healthy: agent pid ") and "southbound connected" in line, line
    print(f"\nhealthcheck in the image: {line}")
    code, out = podman_health(dep, dep.current)
    assert code == 0 and out in ("", "healthy"), out  # podman 4.3 prints nothing when healthy
    state = dep.ctr.podman("inspect", "--format", "{{.State.Healthcheck.Status}}", dep.current)
    assert state.strip() == "healthy"


def test_openstack_helm_probe_on_the_proxy_socket(deployment):
    """The socket answers the probe below 500 (404: no network), quickly and quietly."""
    dep = deployment
    before = dep.ctr.logs(dep.current)
    for _ in range(3):
        p = dep.ctr.exec(
            dep.current,
            ["/opt/ovnmeta/bin/python3", "-c", HELM_PROBE, "/var/lib/neutron/metadata_proxy"],
        )
        assert p.returncode == 0, p.stdout + p.stderr
        assert int(p.stdout.strip()) == 404, p.stdout
    added = dep.ctr.logs(dep.current)[len(before) :]
    assert "WARNING" not in added and "ERROR" not in added, added


def test_container_replaced_while_a_guest_polls(deployment):
    """stop + rm of the running container and a new one: no failed request, the edge and the
    namespaces adopted by the new agent."""
    dep, ctr = deployment, deployment.ctr
    old, new = dep.current, f"{dep.lab.prefix}-b"
    edge, holder = ctr.edge_pid(), ctr.holder_pid()
    assert edge is not None and holder is not None
    for pid in (edge, holder):  # both left the container's cgroup, or podman stop kills them
        groups = Path(f"/proc/{pid}/cgroup").read_text().split()
        assert all(g.endswith(f":/{ctr.cgroup}") for g in groups), groups
    seconds = 14
    poller = start_poller(dep.lab, "vm1", seconds)
    time.sleep(2)
    t0 = time.monotonic()
    ctr.podman("stop", "-t", "60", old)
    ctr.podman("rm", old)
    ctr.run_shipped(new)
    dep.current = new
    ctr.wait_running(new, lambda: "full sync of" in ctr.logs(new), f"{new} synced")
    gap = time.monotonic() - t0
    out, _ = poller.communicate(timeout=seconds + 60)
    counts = {int(k): v for k, v in json.loads(out).items()}
    print(f"\nguest during stop+rm+run ({gap:.1f} s to synced): {counts}")
    assert set(counts) == {200} and counts[200] > 50, counts
    logs = ctr.logs(new)
    assert f"adopted edge haproxy (main) {edge}" in logs, logs
    assert "edge haproxy started" not in logs and "edge haproxy (main) started" not in logs, logs
    assert ctr.edge_pid() == edge and ctr.holder_pid() == holder
    assert ctr.netns_inodes() == dep.inodes


def test_image_healthcheck_unhealthy_with_the_reason_when_the_sb_is_cut(deployment):
    dep = deployment
    wait_until("healthy", lambda: healthcheck(dep, dep.current)[0] == 0, timeout=60)
    ctls = [c.name for c in dep.lab.topology().controllers]
    for ctl in ctls:
        pid = dep.lab.controller_db_pid(ctl, "sb")
        assert pid is not None
        subprocess.run(["kill", "-KILL", str(pid)], check=True)
    try:
        wait_until(
            "unhealthy", lambda: healthcheck(dep, dep.current)[0] != 0, timeout=60, interval=0.5
        )
        code, line = healthcheck(dep, dep.current)
        assert code == 1 and re.match(r"unhealthy: southbound disconnected since \S+", line), line
        print(f"\nSB cut: {line}")
        code, out = podman_health(dep, dep.current)
        assert code == 1 and out == "unhealthy", out
        # The reason is in podman's health log too (`podman inspect`), for the operator. The
        # status turns "unhealthy" only after --health-retries 3 failures outside the 60 s
        # start period (podman-run-agent.sh); until then it stays "starting".
        health = json.loads(
            dep.ctr.podman("inspect", "--format", "{{json .State.Healthcheck}}", dep.current)
        )
        last = health["Log"][-1]
        assert health["Status"] != "healthy" and last["ExitCode"] == 1, health
        assert last["Output"].startswith("unhealthy: southbound disconnected since"), last
        assert served(dep.lab)  # the data path does not need the SB
    finally:
        for ctl in ctls:
            dep.lab.start_controller_db(ctl, "sb")
    wait_until("healthy again", lambda: healthcheck(dep, dep.current)[0] == 0, timeout=120)


def test_kolla_style_run_of_the_same_image(deployment):
    """kolla-ansible's container for this agent: privileged, host network and PID namespace,
    /run/netns:shared, /run/openvswitch:shared, a named volume for state_path
    /var/lib/neutron/kolla, the ini passed with --config-file."""
    dep, ctr = deployment, deployment.ctr
    ctr.podman("stop", "-t", "60", dep.current)
    ctr.podman("rm", dep.current)
    ctr.stop_edge()  # the kolla agent has its own state_path, so its own edge
    name, volume = f"{dep.lab.prefix}-k", f"{dep.lab.prefix}-kolla-socket"
    state = ctr.volume(volume)
    etc = ctr.work / "kolla"
    params = ctr.params(
        state_path="/var/lib/neutron/kolla",
        metadata_proxy_socket="/var/lib/neutron/kolla/metadata_proxy",
    )
    ctr.render(params, etc, conf_d=False)
    ini = etc / "neutron_ovn_metadata_agent.ini"
    ovs_run = compute.db_sock(dep.lab.dir, ctr.cmp).parent
    ctr.run(
        name, "--privileged", "--network", "host", "--pid", "host",
        "--env", f"OVNMETA_EDGE_CGROUP={ctr.cgroup}",
        "--volume", f"{ini}:/etc/neutron/neutron_ovn_metadata_agent.ini:ro",
        "--volume", f"{volume}:/var/lib/neutron/kolla/",
        "--volume", "/run/netns:/run/netns:shared",
        "--volume", f"{ovs_run}:/run/openvswitch:shared",
        "--volume", "/dev/shm:/dev/shm",
        ctr.image,
        "neutron-ovn-metadata-agent", "--config-file",
        "/etc/neutron/neutron_ovn_metadata_agent.ini",
    )  # fmt: skip
    ctr.wait_running(name, lambda: served(dep.lab), "vm1 served by the kolla-style container")
    assert "neutron-ovn-metadata-agent --config-file" in cmdline(ctr.pid(name))
    # state_path in the named volume; a new network starts on the young shard, then moves to
    # the main one (agent/dataplane/edge_shards)
    wait_until("the main edge shard", lambda: ctr.edge_pid(state) is not None, timeout=30)
    assert (state / "metadata_proxy").is_socket()
    assert ctr.netns_inodes() == dep.inodes
    # Its healthcheck takes the agent's own arguments (kolla passes --config-file).
    check = [
        "ovnmeta",
        "healthcheck",
        "--config-file",
        "/etc/neutron/neutron_ovn_metadata_agent.ini",
    ]
    wait_until("kolla container healthy", lambda: ctr.exec(name, check).returncode == 0, 60)
    ctr.podman("stop", "-t", "60", name)
    assert ctr.edge_pid(state) is not None  # the edge outlives the container here too
