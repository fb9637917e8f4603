"""`ovnmeta healthcheck` end to end on fakes: a status file, an OVS DB that answers echo, an
edge health socket and an agent socket, all real UNIX sockets in tmp_path; no root."""

import contextlib
import json
import os
import socket
import subprocess
import threading
import time

import pytest

from ovnmeta import cli
from ovnmeta.agent import healthcheck as healthcheck_cli
from ovnmeta.core.checks import OvsdbRemote
from tests.support.fake_http import FakeHttp, fixed


def http_on(path, status, body):
    return FakeHttp(fixed(status, body), unix_path=path)


@contextlib.contextmanager
def ovsdb_on(path, answer=True):
    """Answers JSON-RPC echo (or, with answer=False, accepts and stays silent)."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    srv.listen(8)
    conns = []

    def serve():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            conns.append(conn)
            if answer:
                msg = json.loads(conn.recv(4096))
                reply = {"id": msg["id"], "result": msg["params"], "error": None}
                data = json.dumps(reply).encode()
                conn.sendall(data[:5])  # in two pieces: the client must reassemble
                time.sleep(0.01)
                conn.sendall(data[5:])

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield
    finally:
        srv.close()
        for c in conns:
            c.close()


@pytest.fixture
def node(tmp_path):
    """A healthy compute: returns (argv, paths); the test breaks one piece."""
    state = tmp_path / "s"
    edge = state / "ovnmeta" / "edge"
    edge.mkdir(parents=True)
    ini = tmp_path / "agent.ini"
    ini.write_text(
        f"[DEFAULT]\nstate_path = {state}\nmetadata_proxy_socket = {state}/metadata_proxy\n"
        f"[ovs]\novsdb_connection = unix:{tmp_path}/db.sock\n"
    )
    sleeper = subprocess.Popen(["sleep", "60"])  # stands in for the edge haproxy master
    (edge / "haproxy.pid").write_text(f"{sleeper.pid}\n")
    status = {
        "agent_pid": os.getpid(),
        "updated_at": time.time(),
        "chassis": "cmp1",
        "sb": "connected",
        "sb_since": time.time() - 100,
        "registered": True,
        "networks": [],
        "failing": [],
    }
    (state / "ovnmeta" / "status.json").write_text(json.dumps(status))
    paths = {
        "state": state,
        "edge": edge,
        "db": tmp_path / "db.sock",
        "socket": state / "metadata_proxy",
        "status": state / "ovnmeta" / "status.json",
        "edge_pid": sleeper.pid,
    }
    try:
        yield ["healthcheck", "--config-file", str(ini)], paths
    finally:
        sleeper.kill()
        sleeper.wait()


def run(argv, capsys):
    code = cli.main(argv)
    out = capsys.readouterr().out
    assert out.count("\n") == 1, out
    return code, out.strip()


BACKEND_OK = "metadata backend http://127.0.0.1:8775 answered 200"


def test_healthy_node(node, capsys):
    argv, p = node
    with (
        ovsdb_on(p["db"]),
        http_on(p["edge"] / "health.sock", 200, "ok"),
        http_on(p["socket"], 200, BACKEND_OK) as agent,
    ):
        code, line = run(argv, capsys)
    assert code == 0, line
    assert line.startswith("healthy: agent pid ")
    assert f"edge haproxy pid {p['edge_pid']}" in line and line.endswith(BACKEND_OK)
    assert agent.seen[0].headers["X-Ovnmeta-Health"] == "backend"
    assert "X-OVN-Network-ID" not in agent.seen[0].headers


def test_sb_disconnected(node, capsys):
    argv, p = node
    st = json.loads(p["status"].read_text())
    p["status"].write_text(json.dumps({**st, "sb": "disconnected"}))
    code, line = run(argv, capsys)
    assert code == 1
    assert line.startswith("unhealthy: southbound disconnected since ")


def test_ovsdb_not_answering(node, capsys):
    argv, p = node
    with ovsdb_on(p["db"], answer=False):
        started = time.monotonic()
        code, line = run(argv, capsys)
    assert code == 1
    assert line == f"unhealthy: OVS DB unix:{p['db']} not answering: no answer within 2 s"
    assert time.monotonic() - started < 3


def test_ovsdb_gone(node, capsys):
    argv, p = node
    code, line = run(argv, capsys)
    assert code == 1
    assert line.startswith(f"unhealthy: OVS DB unix:{p['db']} not answering: [Errno 2]")


def test_edge_dead(node, capsys):
    argv, p = node
    os.kill(p["edge_pid"], 9)
    with ovsdb_on(p["db"]):
        time.sleep(0.05)
        code, line = run(argv, capsys)
    assert (code, line) == (1, f"unhealthy: edge haproxy pid {p['edge_pid']} not running")


def test_backend_down(node, capsys):
    argv, p = node
    down = "metadata backend http://127.0.0.1:8775 unreachable: refused"
    with (
        ovsdb_on(p["db"]),
        http_on(p["edge"] / "health.sock", 200, "ok"),
        http_on(p["socket"], 503, down),
    ):
        code, line = run(argv, capsys)
    assert (code, line) == (1, f"unhealthy: {down}")


def test_agent_dead_or_stale(node, capsys):
    argv, p = node
    st = json.loads(p["status"].read_text())
    p["status"].write_text(json.dumps({**st, "updated_at": time.time() - 60}))
    code, line = run(argv, capsys)
    assert code == 1 and "has not updated" in line and "for 60 s" in line
    dead = subprocess.Popen(["true"])
    dead.wait()
    p["status"].write_text(json.dumps({**st, "agent_pid": dead.pid}))
    code, line = run(argv, capsys)
    assert code == 1 and line.startswith(f"unhealthy: agent pid {dead.pid} not running")


def test_config_error_is_one_line_exit_2(capsys, tmp_path):
    code, line = run(["healthcheck", "--config-file", str(tmp_path / "nope.ini")], capsys)
    assert code == 2 and line.startswith("unhealthy: ")


def test_ovsdb_echo_over_tcp():
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    srv.close()  # nothing listens any more
    error = healthcheck_cli.ovsdb_echo(OvsdbRemote("tcp", f"127.0.0.1:{port}"), 1.0)
    assert error is not None and "refused" in error.lower()
