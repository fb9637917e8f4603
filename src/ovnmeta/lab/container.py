"""The agent from the container image on a lab compute, as a deployer runs it.

Podman runs *on the compute*: in its network namespace and its persistent mount namespace,
where /run/netns is the compute's own netns directory. So `--network=host` is the compute's
network, `/run/netns:/run/netns:shared` its namespaces, and every later podman call for these
containers runs there too (their rootfs and volume mounts live there). Podman gets a private
containers.conf: runtime runc, `nofile` at this shell's hard limit, `nproc=1000:1000` (more
fails with "error setting rlimit type 6" on some VMs), `k8s-file` logs (no journald needed).

    ctr = ContainerCompute(lab, 1, image, cgroup="t1234567-edge")
    ctr.render_edpm_conf_d()                 # /etc/neutron.conf.d as EDPM lays it out
    ctr.run_shipped("t1234567-a")            # deploy/container/podman-run-agent.sh, unchanged
    ctr.podman("stop", "t1234567-a")
    ctr.cleanup()                            # containers, volumes, the edges, the cgroups
"""

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from ovnmeta.agent.dataplane import edge_placement
from ovnmeta.core.errors import LabError
from ovnmeta.core.procfs import alive, read_pid
from ovnmeta.lab import compute, services
from ovnmeta.lab.lab import Lab
from ovnmeta.lab.proc import wait_until

RUN_SCRIPT = Path(__file__).resolve().parents[3] / "deploy" / "container" / "podman-run-agent.sh"
# EDPM's config dir (spec/deployment.md): the service's own file, nova-operator's (the Nova host
# and the shared secret) and neutron-operator's (the SB connection and its TLS files).
EDPM_NOVA = ("nova_metadata_host", "nova_metadata_port", "nova_metadata_protocol",
             "metadata_proxy_shared_secret")  # fmt: skip
EDPM_FILES = ("01-neutron-ovn-metadata-agent.conf", "05-nova-metadata.conf",
              "10-neutron-metadata.conf")  # fmt: skip


def split_edpm(text: str) -> dict[str, str]:
    """A rendered agent config split into EDPM's three numbered files (pure): the Nova options
    and the secret go to 05-, the `[ovn]` section to 10-, everything else stays in 01-."""
    out: dict[str, dict[str, list[str]]] = {name: {} for name in EDPM_FILES}
    section = None
    for line in text.splitlines():
        head = re.fullmatch(r"\[([^\]]+)\]", line.strip())
        if head:
            section = head.group(1)
            continue
        if section is None or not line.strip() or line.lstrip().startswith(("#", ";")):
            continue
        key = line.split("=", 1)[0].strip()
        if section == "DEFAULT" and key in EDPM_NOVA:
            name = EDPM_FILES[1]
        elif section == "ovn":
            name = EDPM_FILES[2]
        else:
            name = EDPM_FILES[0]
        out[name].setdefault(section, []).append(line)
    return {
        name: "".join(f"[{s}]\n" + "\n".join(lines) + "\n\n" for s, lines in sections.items())
        for name, sections in out.items()
    }


def remove_cgroups(name: str) -> list[str]:
    """rmdir `name` at the root of every cgroup hierarchy (the edge's: edge-detach.sh), after
    stopping what is still in it: an edge haproxy that a reload replaced may still be finishing
    its connections (no pid file names it). Returns what could not be removed."""
    left = []
    for root in sorted(Path("/sys/fs/cgroup").iterdir()):
        d = root / name
        if d.is_dir():
            _stop_members(d)
            try:
                d.rmdir()
            except OSError as exc:
                left.append(f"{d}: {exc}")
    return left


def _stop_members(cgroup: Path) -> None:
    try:
        members = [int(p) for p in (cgroup / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return
    for pid in members:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    for pid in members:
        wait_until(f"pid {pid} to exit", lambda p=pid: not alive(p), timeout=10)


class ContainerCompute:
    """Containers of the agent image on compute `index` of `lab`."""

    def __init__(self, lab: Lab, index: int, image: str, cgroup: str) -> None:
        self.lab = lab
        self.index = index
        self.image = image
        self.cgroup = cgroup  # OVNMETA_EDGE_CGROUP: never the production name
        self.names: list[str] = []
        self.volumes: list[str] = []
        self.work = lab.dir / f"cmp{index}" / "ctr"  # no lab state read: the lab may be down
        self.conf = self.work / "containers.conf"
        self.state_dir = self.work / "state"  # /var/lib/neutron of the shipped run line
        self.config_dir = self.work / "etc"  # /etc/neutron.conf.d

    @property
    def cmp(self) -> compute.Compute:
        return self.lab.topology().compute(self.index)

    # --- podman on the compute -----------------------------------------------------------

    def write_containers_conf(self) -> None:
        hard = subprocess.run(["sh", "-c", "ulimit -Hn"], capture_output=True, text=True)
        self.work.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(
            "[containers]\n"
            f'default_ulimits = ["nofile={hard.stdout.strip()}:{hard.stdout.strip()}", '
            '"nproc=1000:1000"]\n'
            'log_driver = "k8s-file"\n'
            '[engine]\nruntime = "runc"\n'
        )

    def env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, "CONTAINERS_CONF": str(self.conf), **extra}

    def on_compute(self, argv: Sequence[str]) -> list[str]:
        return compute.nsenter_argv(self.lab.dir, self.cmp, argv)

    def podman_run(
        self, *args: str, timeout: float = 120, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.on_compute(["podman", *args]), capture_output=True, text=True,
            timeout=timeout, env=env or self.env(),
        )  # fmt: skip

    def podman(self, *args: str, timeout: float = 120) -> str:
        p = self.podman_run(*args, timeout=timeout)
        if p.returncode != 0:
            raise LabError(f"podman {' '.join(args)}: exit {p.returncode}: {p.stderr.strip()}")
        return p.stdout

    def logs(self, name: str) -> str:
        p = self.podman_run("logs", name, timeout=60)
        return p.stdout + p.stderr

    def status(self, name: str) -> str:
        return self.podman("inspect", "--format", "{{.State.Status}}", name).strip()

    def pid(self, name: str) -> int:
        return int(self.podman("inspect", "--format", "{{.State.Pid}}", name))

    def exec(self, name: str, argv: Sequence[str], timeout: float = 60):
        return self.podman_run("exec", name, *argv, timeout=timeout)

    # --- configuration -------------------------------------------------------------------

    def params(self, **agent: str) -> dict:
        """The compute's deployment parameters with production paths (state_path
        /var/lib/neutron, ovsdb_connection unix:/run/openvswitch/db.sock) unless overridden."""
        topo = self.lab.topology()
        secret = services.write_secret(self.lab.dir)
        params = services.compute_params(self.lab.dir, topo, self.cmp, secret)
        for key in ("state_path", "metadata_proxy_socket", "ovsdb_connection"):
            params["agent"].pop(key)
        params["agent"].update(agent)
        return params

    def render(self, params: dict, out: Path, conf_d: bool) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        pfile = self.work / "params.json"
        pfile.write_text(json.dumps(params))
        pfile.chmod(0o600)
        argv = [sys.executable, "-m", "ovnmeta", "config", "render", "--role", "compute",
                "--params", str(pfile), "--out", str(out)]  # fmt: skip
        if conf_d:
            argv.append("--conf-d")
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        pfile.unlink()
        if p.returncode != 0:
            raise LabError(f"config render: {p.stderr.strip()}")

    def render_edpm_conf_d(self) -> dict[str, str]:
        """config_dir laid out as EDPM mounts /etc/neutron.conf.d; returns {file: text}."""
        self.render(self.params(), self.config_dir, conf_d=True)
        rendered = self.config_dir / EDPM_FILES[0]
        files = split_edpm(rendered.read_text())
        for name, text in files.items():
            path = self.config_dir / name
            path.write_text(text)
            path.chmod(0o600 if name == EDPM_FILES[1] else 0o644)  # the secret's own file
        return files

    # --- running -------------------------------------------------------------------------

    def run_shipped(self, name: str, *extra: str) -> None:
        """deploy/container/podman-run-agent.sh as shipped, on the compute."""
        env = self.env(
            IMAGE=self.image,
            NAME=name,
            OVNMETA_CONFIG_DIR=str(self.config_dir),
            OVNMETA_STATE_DIR=str(self.state_dir),
            OVS_RUN_DIR=str(compute.db_sock(self.lab.dir, self.cmp).parent),
            OVN_RUN_DIR=str(self.lab.dir / self.cmp.name / "ovn"),
        )
        self.names.append(name)
        argv = [str(RUN_SCRIPT), "--restart=no", "--env", f"OVNMETA_EDGE_CGROUP={self.cgroup}"]
        p = subprocess.run(
            self.on_compute([*argv, *extra]), capture_output=True, text=True, timeout=120,
            env=env,
        )  # fmt: skip
        if p.returncode != 0:
            raise LabError(f"podman-run-agent.sh {name}: {p.stderr.strip()[-400:]}")

    def run(self, name: str, *args: str) -> None:
        """`podman run --detach --name NAME ARGS...` (ARGS end with the image and command)."""
        self.names.append(name)
        self.podman("run", "--detach", "--name", name, *args)

    def volume(self, name: str) -> Path:
        """A named volume (created if needed) and its directory."""
        if name not in self.volumes:
            self.podman("volume", "create", name)
            self.volumes.append(name)
        return Path(self.podman("volume", "inspect", "--format", "{{.Mountpoint}}", name).strip())

    def wait_running(self, name: str, predicate, what: str, timeout: float = 60) -> None:
        """Until `predicate()`; fails at once, with its log, if the container exited."""

        def check() -> bool:
            state = self.status(name)
            if state != "running":
                tail = "\n".join(self.logs(name).strip().splitlines()[-8:])
                raise LabError(f"{name} is {state}, not running:\n{tail}")
            return predicate()

        wait_until(what, check, timeout=timeout)

    # --- what the agent leaves on the compute --------------------------------------------

    def edge_pid(self, state: Path | None = None, shard: str = "") -> int | None:
        """The edge's main shard, or with `shard=YOUNG` the one new networks start on."""
        edge = (state or self.state_dir) / "ovnmeta/edge"
        pid = read_pid(edge / edge_placement.pidfile_name(shard))
        return pid if alive(pid) else None

    def holder_pid(self, state: Path | None = None) -> int | None:
        pid = read_pid((state or self.state_dir) / "ovnmeta/listener.pid")
        return pid if alive(pid) else None

    def stop_edge(self, state: Path | None = None) -> None:
        """Remove both edge shards and the socket holder left by agents using `state`."""
        shards = [self.edge_pid(state, s) for s in edge_placement.SHARDS]
        for pid in (*shards, self.holder_pid(state)):
            if pid is not None:
                os.kill(pid, signal.SIGTERM)
                wait_until(f"pid {pid} to exit", lambda p=pid: not alive(p), timeout=10)

    def netns_inodes(self) -> dict[str, int]:
        d = compute.netns_dir(self.lab.dir, self.cmp)
        return {p.name: p.stat().st_ino for p in d.glob("ovnmeta-*")}

    def cleanup(self) -> list[str]:
        """Containers, volumes, edges, holders and edge cgroups of this object; what is left."""
        left = []
        for name in self.names:
            self.podman_run("rm", "-f", "-t", "10", "--ignore", name)
        for state in [self.state_dir] + [self.volume(v) for v in self.volumes]:
            self.stop_edge(state)
        for name in self.volumes:
            self.podman_run("volume", "rm", "-f", name)
        left += remove_cgroups(self.cgroup)
        listed = self.podman_run("ps", "-a", "--format", "{{.Names}}").stdout.split()
        left += [f"container {n}" for n in self.names if n in listed]
        return left
