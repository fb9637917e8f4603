"""`ovnmeta healthcheck`: probe this chassis, print one line, exit 0 only when healthy.

    ovnmeta healthcheck [--config-file F] [--config-dir D]   (default: /etc/neutron.conf.d)

The same config arguments as the agent, so a container HEALTHCHECK or quadlet HealthCmd runs
it with no arguments. The I/O shell of `health`: it reads the agent's status file, sends one
JSON-RPC echo to the local OVS DB, looks at the edge haproxy's pid and health socket, and
sends one backend probe through the agent's UNIX socket (proxy.probe). It never opens a
southbound connection: the SB state comes from the status file. Light imports only
(no aiohttp, ovsdbapp): it runs every 30 s on every compute.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import time

from ovnmeta.agent import cli as agent_cli
from ovnmeta.agent import config, health
from ovnmeta.agent.proxy import probe
from ovnmeta.core import procfs
from ovnmeta.core.checks import OvsdbRemote
from ovnmeta.core.errors import OvnmetaError

OVSDB_TIMEOUT_S = 2.0
EDGE_TIMEOUT_S = 2.0
BACKEND_TIMEOUT_S = probe.TIMEOUT_S + 2.0  # the agent answers 503 after probe.TIMEOUT_S


def register(subparsers: argparse._SubParsersAction) -> None:
    hc = subparsers.add_parser(
        "healthcheck",
        help="exit 0 only if SB, OVS DB, edge and metadata backend are fine (one line)",
    )
    agent_cli.add_config_arguments(hc)
    hc.add_argument(
        "--max-status-age",
        type=float,
        default=health.MAX_STATUS_AGE_S,
        metavar="S",
        help="the agent's status file must be younger than this (default %(default)g s)",
    )
    hc.set_defaults(func=run_healthcheck)


def run_healthcheck(args: argparse.Namespace) -> int:
    try:
        settings = config.load(agent_cli.oslo_argv(args))
    except OvnmetaError as exc:
        print(f"unhealthy: {exc}", flush=True)
        return exc.exit_code
    v = health.verdict(checks(settings, args.max_status_age))
    print(v.line, flush=True)
    return v.exit_code


def checks(settings: config.Settings, max_age_s: float):
    """The checks in order, each a thunk: probe (here), then decide (health)."""
    state: dict = {}
    path = settings.agent.status_file

    def agent() -> health.Result:
        st, error = _read_status(path)
        state["status"] = st
        pid = st.get("agent_pid") if st else None
        return health.agent(path, st, error, procfs.alive(pid), time.time(), max_age_s)

    def southbound() -> health.Result:
        return health.southbound(state["status"], time.time())

    def ovsdb() -> health.Result:
        remote = settings.ovs.ovsdb_connection
        started = time.monotonic()
        error = ovsdb_echo(remote, OVSDB_TIMEOUT_S)
        return health.ovsdb(str(remote), error, time.monotonic() - started)

    def edge() -> health.Result:
        pid_file = os.path.join(settings.edge.state_dir, "haproxy.pid")
        pid = procfs.read_pid(pid_file)
        alive = procfs.alive(pid)
        code, error = None, None
        if alive:
            sock = os.path.join(settings.edge.state_dir, "health.sock")
            code, _, error = http_unix(sock, {}, EDGE_TIMEOUT_S)
        return health.edge(pid_file, pid, alive, code, error)

    def backend() -> health.Result:
        sock = settings.proxy.metadata_proxy_socket
        code, body, error = http_unix(sock, {probe.HEADER: probe.VALUE}, BACKEND_TIMEOUT_S)
        return health.backend(sock, code, body, error)

    return [agent, southbound, ovsdb, edge, backend]


def _read_status(path: str) -> tuple[dict | None, str | None]:
    try:
        with open(path) as f:
            st = json.load(f)
    except FileNotFoundError:
        return None, "missing (is the agent running with this config?)"
    except (OSError, ValueError) as exc:
        return None, f"unreadable: {exc}"
    if not isinstance(st, dict):
        return None, "unreadable: not a JSON object"
    return st, None


def _connect(remote: OvsdbRemote, timeout: float) -> socket.socket:
    if remote.scheme == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(remote.target)
        except BaseException:
            sock.close()
            raise
        return sock
    host, _, port = remote.target.rpartition(":")
    return socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)


def ovsdb_echo(remote: OvsdbRemote, timeout: float) -> str | None:
    """None if the OVS DB answered a JSON-RPC echo, else why not. An `ssl:` remote only
    gets a TCP connect (a TLS session would need the agent's client certificate)."""
    deadline = time.monotonic() + timeout
    try:
        with _connect(remote, timeout) as sock:
            if remote.scheme == "ssl":
                return None
            request = {"method": "echo", "params": ["ovnmeta-healthcheck"], "id": 0}
            sock.sendall(json.dumps(request).encode())
            buf = b""
            decoder = json.JSONDecoder()
            while True:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = sock.recv(4096)
                if not chunk:
                    return "connection closed before the echo reply"
                buf += chunk
                try:
                    msg, _ = decoder.raw_decode(buf.decode())
                except ValueError:
                    continue  # incomplete message
                if isinstance(msg, dict) and msg.get("id") == 0 and "result" in msg:
                    return None
                return f"unexpected reply {json.dumps(msg)[:80]}"
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except (OSError, ValueError) as exc:
        return str(exc) or type(exc).__name__


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def http_unix(
    path: str, headers: dict[str, str], timeout: float
) -> tuple[int | None, str, str | None]:
    """GET / over a UNIX socket: (status, body, None) or (None, "", why not)."""
    conn = _UnixHTTPConnection(path, timeout)
    try:
        conn.request("GET", "/", headers={**headers, "Connection": "close"})
        resp = conn.getresponse()
        return resp.status, resp.read(4096).decode(errors="replace"), None
    except TimeoutError:
        return None, "", f"no answer within {timeout:g} s"
    except (OSError, http.client.HTTPException) as exc:
        return None, "", str(exc) or type(exc).__name__
    finally:
        conn.close()
