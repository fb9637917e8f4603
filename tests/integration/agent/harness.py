"""A private single-node host for the agent: its own mount and network namespace (so the
`ovnmeta-*` namespaces it creates never touch the machine's /run/netns), its own
Open_vSwitch (ovsdb-server + ovs-vswitchd --disable-system, netdev br-int), a standalone SB
ovsdb-server the test writes rows into (as ovn-controller and northd would), a fake Nova, and
the agent as a process."""

from __future__ import annotations

import contextlib
import ctypes
import http.server
import json
import os
import shutil
import signal
import socketserver
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18

_libc = ctypes.CDLL(None, use_errno=True)
_isolated = False


def isolate() -> None:
    """Move this process (and everything it starts) into a private mount + network
    namespace, with a private tmpfs on /run/netns. Idempotent."""
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


# Clean-ups of the labs alive in this process, run by the SIGTERM handler: pytest does not
# run fixture finalizers when the process is terminated.
cleanups: dict[int, object] = {}


def _exit_on_term(signum, frame):
    for cleanup in list(cleanups.values()):
        with contextlib.suppress(Exception):
            cleanup()  # type: ignore[operator]  # idempotent: may be re-run mid-way
    os._exit(128 + signum)


def wait_for(predicate, timeout=10.0, what="condition", interval=0.02):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def sh(*argv, check=True, **kw) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed: {proc.stdout}{proc.stderr}")
    return proc.stdout.strip()


def kill_pidfile(path: Path, owner: str) -> None:
    """SIGTERM, then SIGKILL, the process in `path` if its command line names `owner`."""
    try:
        pid = int(path.read_text().split()[0])
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (OSError, ValueError, IndexError):
        return
    if owner not in cmd:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    for _ in range(250):
        if not Path(f"/proc/{pid}").exists():
            return
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


class Daemons:
    """ovsdb-server (Open_vSwitch), ovs-vswitchd, ovsdb-server (OVN_Southbound)."""

    def __init__(self, root: Path, chassis: str) -> None:
        self.root = root
        self.chassis = chassis
        self.ovs_sock = root / "ovs" / "db.sock"
        self.sb_sock = root / "ovn" / "sb.sock"
        self.pidfiles: list[Path] = []

    def _daemon(self, name: str, argv: list[str]) -> None:
        pid = self.root / "run" / f"{name}.pid"
        log = self.root / "log" / f"{name}.log"
        sh(
            *argv,
            f"--pidfile={pid}",
            "-vconsole:off",
            f"--log-file={log}",
            "--detach",
            "--no-chdir",
        )
        self.pidfiles.append(pid)

    def start(self) -> None:
        for d in ("ovs", "ovn", "run", "log"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        env_db = str(self.root / "ovs" / "conf.db")
        sh("ovsdb-tool", "create", env_db, "/usr/share/openvswitch/vswitch.ovsschema")
        self._daemon(
            "ovsdb-server-ovs",
            [
                "ovsdb-server",
                env_db,
                f"--remote=punix:{self.ovs_sock}",
                f"--unixctl={self.root / 'run' / 'ovsdb-ovs.ctl'}",
            ],
        )
        self.vsctl("--no-wait", "init")
        self.vsctl(
            "--no-wait",
            "set",
            "Open_vSwitch",
            ".",
            f"external_ids:system-id={self.chassis}",
            "external_ids:ovn-bridge=br-int",
        )
        self._daemon(
            "ovs-vswitchd",
            [
                "ovs-vswitchd",
                f"unix:{self.ovs_sock}",
                "--disable-system",
                f"--unixctl={self.root / 'run' / 'vswitchd.ctl'}",
            ],
        )
        # No ovn-controller here: a standalone bridge switches like a plain L2 switch.
        self.vsctl(
            "--may-exist",
            "add-br",
            "br-int",
            "--",
            "set",
            "Bridge",
            "br-int",
            "datapath_type=netdev",
            "fail-mode=standalone",
        )
        sb_db = str(self.root / "ovn" / "sb.db")
        sh("ovsdb-tool", "create", sb_db, "/usr/share/ovn/ovn-sb.ovsschema")
        self.start_sb()
        self.sbctl("init")

    def start_sb(self) -> None:
        self._daemon(
            "ovsdb-server-sb",
            [
                "ovsdb-server",
                str(self.root / "ovn" / "sb.db"),
                f"--remote=punix:{self.sb_sock}",
                f"--unixctl={self.root / 'run' / 'ovsdb-sb.ctl'}",
            ],
        )

    def stop_sb(self) -> None:
        kill_pidfile(self.root / "run" / "ovsdb-server-sb.pid", str(self.root))

    def stop(self) -> None:
        for pid in reversed(self.pidfiles):
            kill_pidfile(pid, str(self.root))

    def vsctl(self, *args: str) -> str:
        return sh("ovs-vsctl", f"--db=unix:{self.ovs_sock}", "--timeout=10", *args)

    def sbctl(self, *args: str) -> str:
        return sh("ovn-sbctl", f"--db=unix:{self.sb_sock}", "--timeout=10", *args)


class Sb:
    """Writes the rows ovn-controller and northd would write."""

    def __init__(self, daemons: Daemons) -> None:
        self.d = daemons

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


class FakeNova:
    """Records what it receives; /status/<code> answers that code."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict, bytes]] = []
        self.connections: set = set()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # One write per response and no Nagle: otherwise headers and body go in two
            # segments and delayed ACKs add 40 ms to every request.
            wbufsize = 65536
            disable_nagle_algorithm = True

            def setup(self):
                super().setup()
                outer.connections.add(self.connection)

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.seen.append((self.command, self.path, dict(self.headers), body))
                code = 200
                if self.path.startswith("/status/"):
                    code = int(self.path.rsplit("/", 1)[1])
                reply = json.dumps({"uuid": self.headers.get("X-Instance-ID")}).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_GET = do_POST = _any

            def log_message(self, *args):
                pass

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server_class, self._handler = Server, Handler
        self.server: Server | None = None
        self.port = 0

    def start(self, port: int = 0) -> None:
        self.server = self._server_class(("127.0.0.1", port), self._handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Like a dead Nova: the listener and every kept-alive connection go away."""
        import socket

        for conn in list(self.connections):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self.connections.clear()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


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
    root: Path, daemons: Daemons, nova_port: int, secret: str = "s3cr3t", ovnmeta_extra: str = ""
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
ovsdb_connection = unix:{daemons.ovs_sock}
[ovn]
ovn_sb_connection = unix:{daemons.sb_sock}
[ovnmeta]
haproxy_binary = {shutil.which("haproxy")}
resync_interval = 0
{ovnmeta_extra}
"""
    )
    return ini
