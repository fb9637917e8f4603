"""`ovnmeta healthcheck` on a real compute (issue: deployment kit, item 4).

0 on a healthy compute; non-zero with one line naming the failure for SB down, OVS DB down,
edge proxy killed and metadata API down; never an SB request; quiet in the agent's log.
Run on the compute as a host service runs it (its network and mount namespaces).
"""

import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ovnmeta.lab import services
from ovnmeta.lab.lab import Lab
from ovnmeta.lab.proc import wait_until

from .labkit import metadata_get, running_lab, wait_metadata

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab():
    with running_lab(1, 1) as lab:
        lab.create_network("net-h", ["10.7.0.0/24"])
        lab.boot("h1", "net-h", 1)
        wait_metadata(lab, "h1")
        yield lab


def config(lab: Lab) -> Path:
    return services.agent_config(lab.dir, lab.topology().compute(1))


def healthcheck(lab: Lab, conf: Path | None = None) -> tuple[int, str, float]:
    """(exit code, the one output line, wall seconds) of one run on compute 1."""
    argv = [
        sys.executable,
        "-m",
        "ovnmeta",
        "healthcheck",
        "--config-file",
        str(conf or config(lab)),
    ]
    started = time.monotonic()
    proc = subprocess.run(
        lab.compute_argv(1, argv), capture_output=True, text=True, timeout=30, check=False
    )
    wall = time.monotonic() - started
    out = proc.stdout + proc.stderr
    assert out.count("\n") == 1, f"not one line: {out!r}"
    return proc.returncode, out.strip(), wall


def wait_healthy(lab: Lab, timeout: float = 60) -> str:
    seen: list[str] = []

    def healthy() -> bool:
        code, line, _ = healthcheck(lab)
        seen.append(line)
        return code == 0

    try:
        wait_until("the healthcheck to pass", healthy, timeout)
    except Exception as exc:
        raise AssertionError(f"still unhealthy: {seen[-1] if seen else '?'}") from exc
    return seen[-1]


def wait_unhealthy(lab: Lab, timeout: float = 30) -> str:
    seen: list[str] = []

    def unhealthy() -> bool:
        code, line, _ = healthcheck(lab)
        seen.append(line)
        return code != 0

    wait_until("the healthcheck to fail", unhealthy, timeout)
    return seen[-1]


def edge_pid(lab: Lab) -> int:
    pidfile = services.agent_dir(lab.dir, lab.topology().compute(1)) / "ovnmeta/edge/haproxy.pid"
    return int(pidfile.read_text().split()[0])


def test_healthy_compute_exits_0_quietly(lab):
    line = wait_healthy(lab)
    assert line.startswith("healthy: agent pid ")
    assert "southbound connected" in line and "edge haproxy pid" in line
    assert re.search(r"metadata backend http://\S+ answered 200$", line), line
    print(f"\n{line}")
    log_before = lab.agent_log(1)
    for _ in range(5):
        assert healthcheck(lab)[0] == 0
    added = lab.agent_log(1)[len(log_before) :]
    assert "WARNING" not in added and "No port" not in added and "no instance" not in added, added


def test_wall_time_and_zero_sb_requests(lab):
    """The SB state comes from the agent's status file: with the SB remote in the config
    pointing at nothing, the check still passes, so it never talks to the SB."""
    conf = config(lab)
    no_sb = conf.with_name("hc-no-sb.ini")
    text = re.sub(
        r"(?m)^ovn_sb_connection = .*$", "ovn_sb_connection = tcp:192.0.2.1:6642", conf.read_text()
    )
    no_sb.write_text(text)
    walls = []
    for _ in range(20):
        code, line, wall = healthcheck(lab, no_sb)
        assert code == 0, line
        walls.append(wall)
    print(
        f"\nhealthcheck wall time over 20 runs: median {statistics.median(walls) * 1000:.0f} ms, "
        f"max {max(walls) * 1000:.0f} ms; SB requests per run: 0"
    )
    assert statistics.median(walls) < 5


def test_an_instance_cannot_send_the_probe(lab):
    """The edge deletes X-Ovnmeta-Health and always sets X-OVN-Network-ID: a guest's
    request with the probe header is an ordinary metadata request."""
    status, body = metadata_get(lab, "h1", "/", headers={"X-Ovnmeta-Health": "backend"})
    assert status == 200
    assert "metadata backend" not in body and "latest" in body.split()  # the version list


def test_sb_down(lab):
    pid = lab.controller_db_pid("ctl1", "sb")
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    try:
        line = wait_unhealthy(lab)
        assert line.startswith("unhealthy: southbound disconnected since "), line
        print(f"\nSB down: {line}")
    finally:
        lab.start_controller_db("ctl1", "sb")
    wait_healthy(lab, timeout=90)


def test_metadata_api_down(lab):
    lab.stop_metadata_api()
    try:
        code, line, _ = healthcheck(lab)
        assert code != 0
        assert re.fullmatch(r"unhealthy: metadata backend http://\S+ unreachable: .+", line), line
        print(f"\nmetadata API down: {line}")
    finally:
        lab.start_metadata_api()
    wait_healthy(lab)


def test_edge_proxy_killed(lab):
    """The agent restarts a dead edge within seconds: the check must fail until it has."""
    for _ in range(3):
        old = edge_pid(lab)
        os.kill(old, signal.SIGKILL)
        code, line, _ = healthcheck(lab)
        if code != 0 or edge_pid(lab) == old:
            break  # else the agent restarted the edge before we looked: try again
    assert code != 0, line
    assert re.fullmatch(rf"unhealthy: edge haproxy (pid {old} not running|.*)", line), line
    assert "edge haproxy" in line
    print(f"\nedge killed: {line}")
    wait_healthy(lab, timeout=30)  # restarted by the agent
    assert edge_pid(lab) != old


def test_ovs_db_down(lab):
    pidfile = lab.dir / "cmp1" / "ovs" / "ovsdb-server.pid"
    pid = int(pidfile.read_text().split()[0])
    os.kill(pid, signal.SIGSTOP)
    try:
        code, line, wall = healthcheck(lab)
        assert code != 0
        assert re.fullmatch(
            r"unhealthy: OVS DB unix:\S+ not answering: no answer within 2 s", line
        ), line
        assert wall < 5
        print(f"\nOVS DB down: {line} ({wall:.1f} s)")
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_healthy(lab)
