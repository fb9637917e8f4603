"""Test-only glue for the agent's root tests on the lab's single-node host
(`ovnmeta.lab.host.SingleNodeHost`: Open vSwitch and the SB database): isolating the pytest
process, the SB rows ovn-controller and northd would write, a fake Nova, and the agent as a
process with its ini."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ovnmeta.lab.host import SingleNodeHost
from ovnmeta.lab.proc import wait_until

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18

T = TypeVar("T")

_libc = ctypes.CDLL(None, use_errno=True)
_isolated = False


def isolate() -> None:
    """Move this process (and everything it starts) into a private mount + network
    namespace, with a private tmpfs on /run/netns, so that the tests see exactly what the
    agent sees and its `ovnmeta-*` namespaces never touch the machine's. Idempotent."""
    global _isolated
    if _isolated:
        return
    if _libc.unshare(CLONE_NEWNS | CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "unshare")
    if _libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        raise OSError(ctypes.get_errno(), "mount --make-rprivate /")
    target = b"/run/netns" if os.path.isdir("/run/netns") else b"/run"
    if _libc.mount(b"tmpfs", target, b"tmpfs", 0, b"mode=755") != 0:
        raise OSError(ctypes.get_errno(), "mount tmpfs")
    os.makedirs("/run/netns", exist_ok=True)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    # A SIGTERM (a CI timeout) must still run the fixtures' clean-up of daemons we started.
    signal.signal(signal.SIGTERM, _exit_on_term)
    _isolated = True


# Clean-ups of the hosts alive in this process, run by the SIGTERM handler: pytest does not
# run fixture finalizers when the process is terminated.
cleanups: dict[int, object] = {}


def _exit_on_term(signum, frame):
    for cleanup in list(cleanups.values()):
        with contextlib.suppress(Exception):
            cleanup()  # type: ignore[operator]  # idempotent: may be re-run mid-way
    os._exit(128 + signum)


def wait_for(
    predicate: Callable[[], T], timeout: float = 10.0, what: str = "condition", interval=0.02
) -> T:
    return wait_until(what, predicate, timeout, interval)


class Sb:
    """Writes the rows ovn-controller and northd would write."""

    def __init__(self, host: SingleNodeHost) -> None:
        self.d = host

    def chassis(self, name: str) -> str:
        ip = f"127.0.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"
        uuid_ = self.d.sbctl(
            "--id=@e",
            "create",
            "Encap",
            "type=geneve",
            f"ip={ip}",
            f"chassis_name={name}",
            "--",
            "create",
            "Chassis",
            f"name={name}",
            f"hostname={name}",
            "encaps=@e",
        )
        return uuid_.splitlines()[-1]

    def chassis_private(self, name: str, chassis_uuid: str, nb_cfg: int = 0) -> str:
        return self.d.sbctl(
            "create",
            "Chassis_Private",
            f"name={name}",
            f"chassis={chassis_uuid}",
            f"nb_cfg={nb_cfg}",
        )

    def datapath(self, net: str, key: int) -> str:
        return self.d.sbctl(
            "create",
            "Datapath_Binding",
            f"tunnel_key={key}",
            f"external_ids:name=neutron-{net}",
            "external_ids:name2=test",
        )

    def metadata_port(self, dp: str, net: str, key: int, mac: str, cidrs: str, mtu: int = 1442):
        ip = cidrs.split("/")[0]
        return self.d.sbctl(
            "create",
            "Port_Binding",
            f"logical_port=mp-{net}",
            f"tunnel_key={key}",
            f"datapath={dp}",
            "type=localport",
            f'mac="{mac} {ip}"',
            'external_ids:"neutron:device_owner"="network:distributed"',
            f'external_ids:"neutron:device_id"="ovnmeta-{net}"',
            f'external_ids:"neutron:cidrs"="{cidrs}"',
            f'external_ids:"neutron:mtu"="{mtu}"',
        )

    def vif(self, dp: str, key: int, mac: str, ip: str, instance: str, project: str) -> str:
        return self.d.sbctl(
            "create",
            "Port_Binding",
            f"logical_port=vm-{uuid.uuid4()}",
            f"tunnel_key={key}",
            f"datapath={dp}",
            f'mac="{mac} {ip}"',
            f'external_ids:"neutron:device_id"="{instance}"',
            f'external_ids:"neutron:project_id"="{project}"',
            'external_ids:"neutron:device_owner"="compute:nova"',
        )

    def bind(self, port: str, chassis_uuid: str | None) -> None:
        if chassis_uuid:
            self.d.sbctl("set", "Port_Binding", port, f"chassis={chassis_uuid}")
        else:
            self.d.sbctl("clear", "Port_Binding", port, "chassis")

    def private_ids(self, name: str) -> dict:
        out = self.d.sbctl(
            "--format=json", "--columns=external_ids", "find", "Chassis_Private", f"name={name}"
        )
        data = json.loads(out)["data"]
        if not data:
            return {}
        return dict(data[0][0][1])


class AgentProcess:
    def __init__(self, root: Path, ini: Path) -> None:
        self.root = root
        self.ini = ini
        self.proc: subprocess.Popen | None = None
        self.log = root / "log" / "agent.log"

    def start(self) -> None:
        with open(self.root / "log" / "agent.stdout", "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ovnmeta", "agent", "--config-file", str(self.ini)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc, self.proc = self.proc.returncode, None
        return rc

    def logs(self) -> str:
        text = ""
        for p in (self.log, self.root / "log" / "agent.stdout"):
            if p.exists():
                text += p.read_text()[-6000:]
        return text


def write_ini(
    root: Path,
    host: SingleNodeHost,
    nova_port: int,
    secret: str = "s3cr3t",
    ovnmeta_extra: str = "",
) -> Path:
    ini = root / "agent.ini"
    ini.write_text(
        f"""[DEFAULT]
state_path = {root}/state
metadata_proxy_shared_secret = {secret}
nova_metadata_host = 127.0.0.1
nova_metadata_port = {nova_port}
log_file = {root}/log/agent.log
debug = true
[ovs]
ovsdb_connection = unix:{host.ovs_sock}
[ovn]
ovn_sb_connection = unix:{host.sb_sock}
[ovnmeta]
haproxy_binary = {shutil.which("haproxy")}
resync_interval = 0
{ovnmeta_extra}
"""
    )
    return ini
