#!/usr/bin/env python3
"""The agent from the ovnmeta image on a real lab, end to end (root, podman, runc, the image):

    make container-check [IMAGE=localhost/ovnmeta:0.1.0]
    .venv/bin/python deploy/container/lab-run.py [--image localhost/ovnmeta:0.1.0]

1. `Lab(<unique prefix>).up(1, 2)`, a network, an instance on cmp1; metadata served by the lab's
   own agent (a host process).
2. The lab's agent on cmp1 is stopped and its edge removed (its state_path is the lab's, not
   the container's: see below). The namespaces stay.
3. Container A is started with the production run line, `podman-run-agent.sh`, unchanged: it is
   executed *on the compute*, i.e. inside cmp1's network namespace and its persistent mount
   namespace, where /run/netns is the compute's own netns directory. So `--network=host`
   joins cmp1's network namespace (the same result as `--network ns:/run/netns/<prefix>-cmp1`
   run from the host, but with the spec as shipped), `--pid=host --cgroupns=host --privileged`,
   `/run/netns:/run/netns:shared` is the compute's /run/netns (already a shared mount: the agent
   makes it one, as `ip netns add` does), and the environment points the other mounts at the
   compute: config rendered for the container (production paths: state_path /var/lib/neutron,
   ovsdb_connection unix:/run/openvswitch/db.sock) -> /etc/neutron.conf.d, a state dir ->
   /var/lib/neutron, cmp1's OVS run dir -> /run/openvswitch, its OVN run dir -> /run/ovn.
   Checks: the instance reads its metadata through the containerized agent; the container is in
   cmp1's netns; the namespaces were adopted (same inodes); the edge haproxy started by the
   container left the container's cgroup (the image's /usr/local/bin/haproxy).
4. A guest polls the metadata service while A is stopped and removed and B started: no failed
   request; a request sent while no agent container exists succeeds once B is up; the edge
   pid and the namespaces are the same before and after; B logs that it adopted the edge.
5. Cleanup (always): containers removed, the edge stopped, lab down, the edge cgroups removed.

Prints PASS/FAIL lines; exit status 0 only if everything passed. Podman runs with a private
containers.conf (CONTAINERS_CONF) in the lab directory: runtime runc (crun refuses the cgroup
v1/v2 hybrid layout of some hosts) and ulimits at this shell's hard limits (podman's defaults
are above them where root lacks CAP_SYS_RESOURCE; haproxy needs more than 1024 files). The
podman plumbing is ovnmeta.lab.container, shared with tests/integration/test_container_lab.py.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from ovnmeta.core.errors import LabError
from ovnmeta.core.procfs import alive, cmdline, read_pid
from ovnmeta.lab import compute, services
from ovnmeta.lab.container import ContainerCompute
from ovnmeta.lab.lab import Lab
from ovnmeta.lab.proc import wait_until

HERE = Path(__file__).resolve().parent
METADATA = "http://169.254.169.254/openstack/latest/meta_data.json"

# A guest polling the metadata service: one GET every 20 ms for a while; prints the count per
# status (0: connection error or timeout) and the slowest answers.
POLLER = r"""
import collections, http.client, json, sys, time
host, seconds = sys.argv[1], float(sys.argv[2])
counts, slow = collections.Counter(), []
t0 = time.monotonic()
while time.monotonic() - t0 < seconds:
    start = time.monotonic()
    try:
        c = http.client.HTTPConnection(host, 80, timeout=30)
        c.request("GET", "/openstack/latest/meta_data.json")
        status = c.getresponse().status
        c.close()
    except OSError:
        status = 0
    took = time.monotonic() - start
    counts[status] += 1
    slow.append((round(took, 3), round(start - t0, 2), status))
    time.sleep(0.02)
slow.sort(reverse=True)
print(json.dumps({"counts": {str(k): v for k, v in counts.items()}, "slowest": slow[:3]}))
"""

results: list[bool] = []


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)


def check(name: str, ok: bool, detail: str = "") -> bool:
    print(f"{'PASS' if ok else 'FAIL'}: {name}{f' ({detail})' if detail else ''}", flush=True)
    results.append(ok)
    return ok


class Fatal(Exception):
    recorded = False  # True when a FAIL line was printed for it already


def must(name: str, ok: bool, detail: str = "") -> None:
    if not check(name, ok, detail):
        exc = Fatal(name)
        exc.recorded = True
        raise exc


class Run:
    def __init__(self, image: str, prefix: str) -> None:
        self.image = image
        self.prefix = prefix
        self.lab = Lab(prefix)
        # OVNMETA_EDGE_CGROUP: never the production name. Podman, its containers.conf, the
        # state and config dirs: ovnmeta.lab.container, shared with the make-test version.
        self.ctr = ContainerCompute(self.lab, 1, image, cgroup=f"{prefix}-edge")
        self.names = [f"{prefix}-agent-{x}" for x in ("a", "b", "c", "d")]
        self.started_lab = False

    @property
    def cmp(self) -> compute.Compute:
        return self.ctr.cmp

    @property
    def state_dir(self) -> Path:  # /var/lib/neutron of the container
        return self.ctr.state_dir

    def sh(self, argv: list[str], check: bool = True, timeout: float = 120) -> str:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise Fatal(f"{' '.join(argv)}: exit {p.returncode}: {(p.stderr or p.stdout).strip()}")
        return p.stdout

    def podman(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        p = self.ctr.podman_run(*args, timeout=timeout)
        if check and p.returncode != 0:
            raise Fatal(f"podman {' '.join(args)}: exit {p.returncode}: {p.stderr.strip()}")
        return p.stdout

    def logs(self, name: str) -> str:
        return self.ctr.logs(name)

    def netns_inodes(self) -> dict[str, int]:
        return self.ctr.netns_inodes()

    def edge_pid(self) -> int | None:
        return self.ctr.edge_pid()

    def metadata(self, timeout: float = 10) -> int:
        out = self.sh(
            self.lab.exec_argv(
                "vm1",
                [
                    "curl",
                    "-s",
                    "-o",
                    "/dev/null",
                    "-m",
                    str(timeout),
                    "-w",
                    "%{http_code}",
                    METADATA,
                ],
            ),
            check=False,
            timeout=timeout + 20,
        )
        return int(out or 0)

    def wait_metadata(self, timeout: float = 60, container: str | None = None) -> float:
        """Until vm1 gets a 200; fails at once if `container` has exited."""

        def served() -> bool:
            if container is not None:
                state = self.podman("inspect", "--format", "{{.State.Status}}", container)
                if state.strip() != "running":
                    raise Fatal(f"{container} is {state.strip()}, not running")
            return self.metadata() == 200

        t0 = time.monotonic()
        wait_until("metadata 200 in vm1", served, timeout=timeout)
        return time.monotonic() - t0

    # --- steps ---------------------------------------------------------------------------

    def setup(self) -> None:
        for tool in ("podman", "runc", "nsenter"):
            must(f"{tool} installed", shutil.which(tool) is not None)
        size = self.sh(["podman", "image", "ls", "--format", "{{.Size}}", self.image]).strip()
        hint = size or "build it: deploy/container/build.sh"
        must(f"image {self.image} present", bool(size), hint)

    def lab_up(self) -> None:
        t0 = time.monotonic()
        self.started_lab = True
        self.lab.up(1, 2)
        self.lab.create_network("net1", ["10.0.0.0/24"])
        self.lab.boot("vm1", "net1", 1)
        self.ctr.write_containers_conf()
        took = self.wait_metadata()
        check(
            "lab up, vm1 on cmp1 reads its metadata through the lab's host agent",
            True,
            f"lab {self.prefix}, {time.monotonic() - t0:.1f} s, first 200 after {took:.1f} s",
        )

    def stop_lab_agent(self) -> dict[str, int]:
        before = self.netns_inodes()
        must("the lab agent made a namespace on cmp1", len(before) == 1, str(before))
        self.lab.stop_agent(1)
        # The host agent's edge serves from the host agent's state_path and socket; the container
        # uses its own state dir, so this edge goes (as when moving a host to containers with a
        # different state_path). The namespaces stay.
        old_state = services.agent_dir(self.lab.dir, self.cmp) / "ovnmeta/edge/haproxy.pid"
        old = read_pid(old_state)
        assert old is not None, f"{old_state}: no pid"
        os.kill(old, signal.SIGTERM)
        wait_until("the lab's edge to exit", lambda: not alive(old), timeout=10)
        status = self.metadata(timeout=3)
        check(
            "lab agent on cmp1 stopped and its edge removed: vm1 gets no metadata",
            status != 200,
            f"status {status}",
        )
        return before

    def render_container_config(self) -> None:
        """The compute's parameters rendered as a containerized compute would have them."""
        self.ctr.render(self.ctr.params(), self.ctr.config_dir, conf_d=True)

    def run_container(self, name: str, *extra: str) -> float:
        """podman-run-agent.sh, as shipped, on the compute; returns how long podman run took."""
        t0 = time.monotonic()
        try:
            self.ctr.run_shipped(name, *extra)
            error = ""
        except LabError as exc:
            error = str(exc)
        took = time.monotonic() - t0
        must(f"podman run {name} (podman-run-agent.sh in cmp1's namespaces)", not error,
             error or f"{took:.2f} s")  # fmt: skip
        return took

    def container_pid(self, name: str) -> int:
        return self.ctr.pid(name)

    def check_container(self, name: str, inodes: dict[str, int]) -> int:
        pid = self.container_pid(name)
        cmd = cmdline(pid)
        node = os.stat(f"/run/netns/{self.cmp.netns}").st_ino
        mine = os.stat(f"/proc/{pid}/ns/net").st_ino
        check(
            f"{name}: the agent process is in cmp1's network namespace",
            node == mine and "neutron-ovn-metadata-agent" in cmd,
            f"pid {pid} `{cmd.strip()[:60]}`, net:[{mine}]",
        )
        after = self.netns_inodes()
        check(
            f"{name}: namespaces adopted, none recreated",
            after == inodes,
            ", ".join(f"{Path(n).name[:20]}… inode {i}" for n, i in after.items()),
        )
        health = self.ctr.exec(name, ["ovnmeta", "healthcheck"])
        said = (health.stdout + health.stderr).strip().splitlines() or [""]
        if "invalid choice: 'healthcheck'" in said[-1]:
            # The run spec's HealthCmd comes with the `health` branch, not merged here yet.
            print(f"SKIP: {name}: `ovnmeta healthcheck` (the HealthCmd) is not in this build")
        else:
            check(f"{name}: `ovnmeta healthcheck` in the container", health.returncode == 0,
                  f"exit {health.returncode} {said[-1][:100]}")  # fmt: skip
        return pid

    def check_edge_outside(self, container: str) -> int:
        pid = self.edge_pid()
        must("the container's agent started the edge", pid is not None)
        groups = Path(f"/proc/{pid}/cgroup").read_text().split()
        ok = all(g.endswith(f":/{self.ctr.cgroup}") for g in groups)
        exe = os.readlink(f"/proc/{pid}/exe")
        check(
            "edge haproxy moved out of the container's cgroup on every hierarchy",
            ok and not any("libpod" in g for g in groups),
            f"pid {pid}, exe {exe}, {len(groups)} hierarchies in /{self.ctr.cgroup}",
        )
        holder = self.holder_pid()
        hgroups = Path(f"/proc/{holder}/cgroup").read_text().split() if holder else []
        check(
            "socket holder moved out of the container's cgroup on every hierarchy",
            bool(hgroups) and all(g.endswith(f":/{self.ctr.cgroup}") for g in hgroups),
            f"holder pid {holder}, {hgroups[-1] if hgroups else 'not running'}",
        )
        return pid

    def holder_pid(self) -> int | None:
        return self.ctr.holder_pid()

    def restart(self, inodes: dict[str, int], edge: int) -> None:
        a, b = self.names[:2]
        holder = self.holder_pid()
        seconds = 14.0
        poller = subprocess.Popen(
            self.lab.exec_argv("vm1", ["/usr/bin/python3", "-c", POLLER, "169.254.169.254",
                                       str(seconds)]),
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        time.sleep(2)
        t0 = time.monotonic()
        self.podman("stop", "-t", "60", a)
        t_stop = time.monotonic() - t0
        self.podman("rm", a)
        t_rm = time.monotonic() - t0
        log(f"{a} stopped in {t_stop:.2f} s, removed at {t_rm:.2f} s")
        gone = a not in self.podman("ps", "-a", "--format", "{{.Names}}")
        edge_alive = alive(edge)
        check(
            f"{a} stopped and removed: the edge survives",
            gone and edge_alive,
            f"edge pid {edge} {'alive' if edge_alive else 'DEAD'}",
        )
        h = self.holder_pid()
        check(
            f"{a} stopped and removed: the socket holder survives",
            holder is not None and h == holder,
            f"holder pid {holder} {'alive' if h == holder else 'DEAD'}",
        )
        # One request sent while no agent container exists: the edge holds it (edge_retries).
        lone = subprocess.Popen(
            self.lab.exec_argv("vm1", ["curl", "-s", "-o", "/dev/null", "-m", "30", "-w",
                                       "%{http_code} %{time_total}", METADATA]),
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        time.sleep(1.0)
        self.run_container(b)
        out, _ = lone.communicate(timeout=60)
        code, _, total = out.partition(" ")
        check(
            "a request sent with no agent container running is answered once B is up",
            code == "200",
            f"status {code} after {total} s; sent 1 s before `podman run` of B",
        )
        wait_until(
            f"{b} to finish its first sync",
            lambda: "full sync of" in self.logs(b),
            timeout=60,
        )
        gap = time.monotonic() - t0
        out, _ = poller.communicate(timeout=seconds + 60)
        res = json.loads(out)
        counts = {int(k): v for k, v in res["counts"].items()}
        check(
            "guest polling through stop+rm of A and start of B: no failed request",
            set(counts) == {200} and counts[200] > 20,
            f"{counts}, slowest (s, at, status) {res['slowest']}; A stop->B synced {gap:.1f} s",
        )
        logs = self.logs(b)
        adopted = re.search(r"adopted edge haproxy (\d+)", logs)
        check(
            f"{b} adopted the edge (same pid, not restarted)",
            bool(adopted) and int(adopted.group(1)) == edge and self.edge_pid() == edge
            and "edge haproxy started" not in logs,
            adopted.group(0) if adopted else "no 'adopted edge haproxy' in its log",
        )  # fmt: skip
        check(
            f"{b} took the listening socket from the same holder",
            self.holder_pid() == holder and "metadata proxy listening" in logs,
            f"holder pid {self.holder_pid()}",
        )
        self.check_container(b, inodes)
        took = self.wait_metadata(timeout=30)
        check(f"vm1 reads its metadata through {b}", True, f"{took:.2f} s")

    def lone_request(self) -> subprocess.Popen:
        return subprocess.Popen(
            self.lab.exec_argv("vm1", ["curl", "-s", "-o", "/dev/null", "-m", "30", "-w",
                                       "%{http_code} %{time_total}", METADATA]),
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip

    def control(self) -> None:
        """Control: a holder started with OVNMETA_DETACH="" stays in its container's cgroup and
        dies with it; a request during the gap then fails at once (what the image did before
        ovnmeta-detach). D, with the image's default, restores service."""
        b, c, d = self.names[1:]
        self.podman("stop", "-t", "60", b)
        self.podman("rm", b)
        old = self.holder_pid()
        if old is not None:
            os.kill(old, signal.SIGTERM)
            wait_until("the holder to exit", lambda: not alive(old), timeout=10)
        self.run_container(c, "--env", "OVNMETA_DETACH=")
        wait_until(f"{c} to serve", lambda: self.metadata() == 200, timeout=60)
        holder = self.holder_pid()
        in_ctr = holder is not None and "libpod" in Path(f"/proc/{holder}/cgroup").read_text()
        self.podman("stop", "-t", "60", c)
        self.podman("rm", c)
        gone = self.holder_pid() is None
        lone = self.lone_request()
        time.sleep(1.0)
        self.run_container(d)
        out, _ = lone.communicate(timeout=60)
        code, _, total = out.partition(" ")
        check(
            'control: holder left in the container (OVNMETA_DETACH="") dies with it, and a '
            "request in the gap fails",
            in_ctr and gone and code != "200",
            f"holder {holder} in container cgroup: {in_ctr}, gone after rm: {gone}; "
            f"status {code} after {total} s",
        )
        took = self.wait_metadata(timeout=60)
        check(f"{d} (image default) serves again", True, f"{took:.2f} s")

    def dump_logs(self) -> None:
        """On failure: the last lines of every container of this run that still exists."""
        if not self.started_lab or not self.lab.dir.exists():
            return
        listed = self.podman("ps", "-a", "--format", "{{.Names}}", check=False).split()
        for name in (n for n in self.names if n in listed):
            tail = self.logs(name).strip().splitlines()[-12:]
            print(f"--- podman logs {name} (last {len(tail)} lines)")
            print("\n".join(f"   {line[:200]}" for line in tail))

    def cleanup(self) -> None:
        if not self.started_lab:
            return
        left = self.ctr.cleanup() if self.lab.dir.exists() else []
        self.lab.down()
        names = self.sh(["podman", "ps", "-a", "--format", "{{.Names}}"], check=False).split()
        left += [f"container {n}" for n in names if n.startswith(self.prefix + "-")]
        left += [f"netns {n}" for n in os.listdir("/run/netns") if n.startswith(self.prefix + "-")]
        if self.lab.dir.exists():
            left.append(f"dir {self.lab.dir}")
        check("cleanup: containers, edge, lab and cgroups removed", not left, "; ".join(left))

    def main(self) -> None:
        t0 = time.monotonic()
        try:
            self.setup()
            self.lab_up()
            inodes = self.stop_lab_agent()
            self.render_container_config()
            a = self.names[0]
            self.run_container(a)
            took = self.wait_metadata(timeout=60, container=a)
            check(f"vm1 reads its metadata through the containerized agent ({a})", True,
                  f"first 200 {took:.2f} s after podman run returned")  # fmt: skip
            self.check_container(a, inodes)
            edge = self.check_edge_outside(a)
            self.restart(inodes, edge)
            self.control()
        except Fatal as exc:
            if not exc.recorded:
                check("aborted", False, str(exc))
            self.dump_logs()
        except Exception as exc:  # report, then clean up
            check("unexpected error", False, f"{type(exc).__name__}: {exc}")
            self.dump_logs()
        finally:
            try:
                self.cleanup()
            except Exception as exc:
                check("cleanup", False, f"{type(exc).__name__}: {exc}")
        ok = all(results)
        print(f"{'PASS' if ok else 'FAIL'}: lab-run ({sum(results)}/{len(results)} checks, "
              f"{time.monotonic() - t0:.1f} s)")  # fmt: skip
        sys.exit(0 if ok else 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image", default=os.environ.get("IMAGE", "localhost/ovnmeta:0.1.0"))
    ap.add_argument("--prefix", default="ctr" + uuid.uuid4().hex[:6], help="unique lab name")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("lab-run: needs root (the lab, podman)")
    Run(args.image, args.prefix).main()


if __name__ == "__main__":
    main()
