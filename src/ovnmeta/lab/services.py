"""ovnmeta's own services in the lab, run as processes exactly as on real hosts:
the metadata API on every controller, the agent on every compute (deployment step 4).

The agent runs in its compute's network namespace (where ovs-vswitchd plugs ports) and
mount namespace (its own /run/netns); it reaches the metadata API on ctl1 over the underlay.
All API instances share one SQLite store in the lab directory and one shared secret.
"""

import json
import secrets
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from ovnmeta.core.errors import LabError
from ovnmeta.core.procfs import alive, owned_pid, read_pid
from ovnmeta.lab import compute, pki
from ovnmeta.lab.addressing import MTU, plan_subnets
from ovnmeta.lab.proc import run, spawn, wait_until
from ovnmeta.lab.state import InstanceRecord, NetworkRecord
from ovnmeta.lab.topology import Compute, Controller, Topology
from ovnmeta.metadata_api import settings as api_settings
from ovnmeta.metadata_api.model import FixedIp, KeyPair, Vif
from ovnmeta.metadata_api.model import InstanceRecord as ApiInstance
from ovnmeta.metadata_api.store import InstanceStore

API_PORT = api_settings.DEFAULT_PORT  # the lab's API listens where Nova would
OVNMETA = [sys.executable, "-m", "ovnmeta"]


def secret_file(lab_dir: Path) -> Path:
    return lab_dir / "metadata_secret"


def store_path(lab_dir: Path) -> Path:
    return lab_dir / "instances.sqlite3"


def write_secret(lab_dir: Path) -> str:
    path = secret_file(lab_dir)
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(16))
    return path.read_text().strip()


def api_pidfile(lab_dir: Path, ctl: Controller) -> Path:
    return lab_dir / ctl.name / "metadata-api.pid"


def config_dir(lab_dir: Path, node: str) -> Path:
    """A node's rendered configuration, as /etc/neutron.conf.d would be on a host."""
    return lab_dir / node / "etc"


def render_config(lab_dir: Path, role: str, node: str, params: dict) -> Path:
    """Deploy as production does: a parameters file rendered by `ovnmeta config render`,
    which validates it (secret, hosts, remotes) before writing the role's files."""
    deploy = lab_dir / node / "deploy"
    deploy.mkdir(parents=True, exist_ok=True)
    params_file = deploy / "params.json"
    text = json.dumps(params, indent=2)
    etc = config_dir(lab_dir, node)
    if etc.is_dir() and params_file.exists() and params_file.read_text() == text:
        return etc  # a service restart does not re-render an unchanged deployment
    params_file.write_text(text)
    params_file.chmod(0o600)
    run(
        [
            *OVNMETA,
            "config",
            "render",
            "--role",
            role,
            "--params",
            str(params_file),
            "--out",
            str(config_dir(lab_dir, node)),
            "--conf-d",
        ]
    )
    return config_dir(lab_dir, node)


def identity_pair(lab_dir: Path) -> tuple[Path, Path]:
    """The lab's identity-document signing key and self-signed certificate, made once."""
    key, cert = lab_dir / "identity.key", lab_dir / "identity.crt"
    if not (key.exists() and cert.exists()):
        run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
             "-out", str(cert), "-subj", "/CN=ovnmeta lab identity", "-days", "30"]
        )  # fmt: skip
    return key, cert


def controller_params(lab_dir: Path, ctl: Controller, secret: str) -> dict:
    key, cert = identity_pair(lab_dir)
    return {
        "shared_secret": secret,
        "metadata_api": {
            "listen": ctl.ip,
            "port": API_PORT,
            "db_path": str(store_path(lab_dir)),
            "identity_key": str(key),
            "identity_cert": str(cert),
        },
    }


def start_metadata_api(lab_dir: Path, ctl: Controller) -> None:
    etc = render_config(
        lab_dir, "controller", ctl.name, controller_params(lab_dir, ctl, write_secret(lab_dir))
    )
    spawn(
        [*OVNMETA, "metadata-api", "--config-file", str(etc / "01-ovnmeta-metadata-api.conf")],
        pidfile=api_pidfile(lab_dir, ctl),
        log=lab_dir / ctl.name / "metadata-api.log",
        netns=ctl.netns,
    )


def wait_metadata_api(lab_dir: Path, ctl: Controller, timeout: float = 30) -> None:
    def listening() -> bool:
        # Not owned_pid: just after the fork the child's command line is still the parent's
        # (no lab dir in it yet), which is not an exit.
        pid = read_pid(api_pidfile(lab_dir, ctl))
        if pid is None or not alive(pid):
            log = (lab_dir / ctl.name / "metadata-api.log").read_text(errors="replace")
            last = log.strip().splitlines()[-1:] or ["no output"]
            raise LabError(f"the metadata API on {ctl.name} exited: {last[0]}")
        out = run(["ss", "-Hltn", f"src {ctl.ip}:{API_PORT}"], netns=ctl.netns, check=False)
        return bool(out.strip())

    wait_until(f"the metadata API on {ctl.name}", listening, timeout)


def register_instance(
    lab_dir: Path,
    vm: InstanceRecord,
    net: NetworkRecord,
    user_data: bytes | None,
    keys: Sequence[tuple[str, str]],
    meta: Mapping[str, str],
) -> None:
    """What Nova knows about an instance, written to the lab's store before it boots."""
    fixed = []
    for address, subnet in zip(vm.addresses, plan_subnets(net.cidrs), strict=True):
        v4 = subnet.version == 4
        fixed.append(
            FixedIp(
                address, subnet.prefixlen, gateway=subnet.gateway, mode="dhcp" if v4 else "static"
            )
        )
    record = ApiInstance(
        uuid=vm.id,
        name=vm.name,
        hostname=vm.name,
        project_id=vm.project,
        availability_zone="nova",
        key_pairs=tuple(KeyPair(name, key) for name, key in keys),
        user_data=user_data,
        metadata=tuple(sorted(meta.items())),
        vifs=(
            Vif(mac=vm.mac, network_id=net.id, port_id=vm.port, mtu=MTU, fixed_ips=tuple(fixed)),
        ),
    )
    with InstanceStore(store_path(lab_dir)) as store:
        store.add(record, replace=True)


def unregister_instance(lab_dir: Path, instance_id: str) -> None:
    if store_path(lab_dir).exists():
        with InstanceStore(store_path(lab_dir)) as store:
            store.remove(instance_id, missing_ok=True)


def agent_dir(lab_dir: Path, cmp: Compute) -> Path:
    return lab_dir / cmp.name / "agent"


def agent_log(lab_dir: Path, cmp: Compute) -> Path:
    return lab_dir / cmp.name / "log" / "ovnmeta-agent.log"


def compute_params(lab_dir: Path, topo: Topology, cmp: Compute, secret: str) -> dict:
    state = agent_dir(lab_dir, cmp)
    # With relays the agent, like ovn-controller, talks to them only (never the members).
    sb: dict = (
        {"ovn_sb_connection": [r.remote() for r in topo.relays]}
        if topo.relays
        else {"controller_ips": [c.ip for c in topo.controllers]}
    )
    if topo.ssl:  # its own key and certificate; controller_ips then become ssl: remotes
        tls = pki.node_files(lab_dir, cmp.name)
        sb |= {
            "ovn_sb_private_key": str(tls["key"]),
            "ovn_sb_certificate": str(tls["cert"]),
            "ovn_sb_ca_cert": str(tls["ca"]),
        }
    return {
        "shared_secret": secret,
        "agent": {
            **sb,
            "metadata_host": topo.controllers[0].ip,
            "metadata_port": API_PORT,
            "state_path": str(state),
            "metadata_proxy_socket": str(state / "metadata_proxy"),
            "ovsdb_connection": f"unix:{compute.db_sock(lab_dir, cmp)}",
            # The lab's backend is ovnmeta's embedded API: it enforces each instance's mode.
            "imds_token_state": True,
        },
    }


def agent_status_file(lab_dir: Path, cmp: Compute) -> Path:
    """Kept current by the agent: `<state_path>/ovnmeta/status.json`."""
    return agent_dir(lab_dir, cmp) / "ovnmeta" / "status.json"


def agent_pidfile(lab_dir: Path, cmp: Compute) -> Path:
    return agent_dir(lab_dir, cmp) / "agent.pid"


def agent_config(lab_dir: Path, cmp: Compute) -> Path:
    """The rendered agent configuration (upstream names), in the compute's config dir."""
    return config_dir(lab_dir, cmp.name) / "01-neutron-ovn-metadata-agent.conf"


def write_agent_config(
    lab_dir: Path, topo: Topology, cmp: Compute, secret: str | None = None
) -> Path:
    params = compute_params(lab_dir, topo, cmp, secret or write_secret(lab_dir))
    etc = render_config(lab_dir, "compute", cmp.name, params)
    # Lab-only addition, merged by oslo.config's --config-dir like any conf.d fragment.
    (etc / "99-lab-logging.conf").write_text(f"[DEFAULT]\nlog_file = {agent_log(lab_dir, cmp)}\n")
    return etc


def set_agent_role(lab_dir: Path, cmp: Compute, ovn_agent: bool) -> None:
    """Run the compute's next agent as neutron-ovn-agent with the metadata extension (an
    ovn_agent.ini fragment, as that agent reads it) or as the metadata agent (no fragment)."""
    fragment = config_dir(lab_dir, cmp.name) / "97-lab-ovn-agent.conf"
    if ovn_agent:
        fragment.write_text("[agent]\nextensions = metadata\n")
    else:
        fragment.unlink(missing_ok=True)


def start_agent(lab_dir: Path, topo: Topology, cmp: Compute, secret: str | None = None) -> int:
    """Start (or restart) the agent on its rendered config dir; `secret` overrides the lab's."""
    agent_dir(lab_dir, cmp).mkdir(parents=True, exist_ok=True)
    etc = write_agent_config(lab_dir, topo, cmp, secret)
    return spawn(
        compute.nsenter_argv(lab_dir, cmp, [*OVNMETA, "agent", "--config-dir", str(etc)]),
        pidfile=agent_pidfile(lab_dir, cmp),
        log=lab_dir / cmp.name / "log" / "ovnmeta-agent.stderr",
    )


def wait_agent_registered(lab_dir: Path, nb, cmp: Compute, timeout: float = 30) -> None:
    """The agent is up when it has registered in its Chassis_Private row (as neutron-server
    sees it) and answers on its UNIX socket."""
    socket = agent_dir(lab_dir, cmp) / "metadata_proxy"

    def registered() -> bool:
        # The process just started, by its pid: whether it is still ours is not the question.
        if not alive(read_pid(agent_pidfile(lab_dir, cmp))):
            raise LabError(
                f"the metadata agent on {cmp.name} exited: {_agent_exit_tail(lab_dir, cmp)}"
            )
        ids = nb.sbctl(
            "--bare", "--columns=external_ids", "find", "Chassis_Private", f"name={cmp.chassis}"
        )
        registered = "neutron:ovn-metadata-id" in ids or "neutron:ovn-neutron-agent-id" in ids
        return registered and socket.exists()

    wait_until(f"the metadata agent on {cmp.name} to register", registered, timeout)


def _agent_exit_tail(lab_dir: Path, cmp: Compute) -> str:
    """Why an agent is gone: the last line of its stderr (a traceback, an option error) and of
    its log file (where a clean stop or a logged fatal error is)."""

    def last(path: Path) -> str:
        try:
            lines = path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "none"
        return lines[-1] if lines else "empty"

    stderr = lab_dir / cmp.name / "log" / "ovnmeta-agent.stderr"
    return f"stderr: {last(stderr)}; log: {last(agent_log(lab_dir, cmp))}"


def agent_pid(lab_dir: Path, cmp: Compute) -> int | None:
    return owned_pid(agent_pidfile(lab_dir, cmp), str(lab_dir))
