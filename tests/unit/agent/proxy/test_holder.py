"""The socket holder as a real process: the listening socket survives its users."""

import os
import signal
import socket
import subprocess
import sys

from ovnmeta.agent.proxy import holder


def test_listener_survives_agents_and_queues_connections(tmp_path):
    path, control, pidfile = (str(tmp_path / n) for n in ("sock", "ctl", "pid"))
    first = holder.ensure(path, control, 16, 0o660, pidfile)
    try:
        assert oct(os.stat(path).st_mode & 0o777) == "0o660"
        first.close()  # the agent goes away
        client = socket.socket(socket.AF_UNIX)
        client.connect(path)  # still accepted into the backlog: the client waits
        client.sendall(b"ping")
        second = holder.ensure(path, control, 16, 0o660, pidfile)  # the next agent
        conn, _ = second.accept()
        assert conn.recv(4) == b"ping"
        conn.close()
        client.close()
        second.close()
    finally:
        with open(pidfile) as f:
            os.kill(int(f.read()), signal.SIGTERM)


def test_the_edge_name_stays_on_the_listener_when_the_path_is_taken_over(tmp_path):
    """Upstream's agent unlinks and binds the path at its start (docs/migration.md): the
    edge connects by `<socket>.ovnmeta` and still reaches the holder's listener."""
    path, control, pidfile = (str(tmp_path / n) for n in ("sock", "ctl", "pid"))
    sock = holder.ensure(path, control, 16, None, pidfile)
    try:
        os.unlink(path)
        other = socket.socket(socket.AF_UNIX)
        other.bind(path)  # another agent's socket, not accepting
        client = socket.socket(socket.AF_UNIX)
        client.connect(holder.edge_alias(path))
        client.sendall(b"ping")
        conn, _ = sock.accept()
        assert conn.recv(4) == b"ping"
        for s in (conn, client, other, sock):
            s.close()
    finally:
        with open(pidfile) as f:
            os.kill(int(f.read()), signal.SIGTERM)


def test_fetch_without_holder_is_none(tmp_path):
    assert holder.fetch(str(tmp_path / "nothing")) is None


def test_holder_runs_as_a_bare_script(tmp_path):
    # Started exactly as the agent starts it, then asked for the fd.
    path, control, pidfile = (str(tmp_path / n) for n in ("s", "c", "p"))
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", holder.__file__, path, control, "4", "-", pidfile]
    )
    try:
        sock = holder.wait_fetch(control, 5)
        assert sock is not None and sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
        sock.close()
    finally:
        proc.terminate()
        proc.wait(5)


def test_holder_started_through_ovnmeta_detach(tmp_path, monkeypatch):
    # The container image's wrapper (cgroup move) runs first, then execs the holder.
    marker = tmp_path / "wrapped"
    wrapper = tmp_path / "detach"
    wrapper.write_text(f'#!/bin/sh\necho $$ > {marker}\nexec "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("OVNMETA_DETACH", str(wrapper))
    path, control, pidfile = (str(tmp_path / n) for n in ("s", "c", "p"))
    sock = holder.ensure(path, control, 4, None, pidfile)
    try:
        with open(pidfile) as f:
            assert f.read().strip() == marker.read_text().strip()  # exec: same process
    finally:
        sock.close()
        with open(pidfile) as f:
            os.kill(int(f.read()), signal.SIGTERM)


def test_the_holder_process_imports_no_heavy_module(tmp_path):
    # Its resident size is an interpreter's (docs/agent.md, "What runs"): `socket` and
    # `contextlib` (with enum, selectors, collections, functools) or `typing` cost 1-2 MB each.
    path, control, pidfile = (str(tmp_path / n) for n in ("s", "c", "p"))
    argv = [sys.executable, "-I", "-S", "-X", "importtime", holder.__file__]
    proc = subprocess.Popen(
        [*argv, path, control, "4", "-", pidfile], stderr=subprocess.PIPE, text=True
    )
    try:
        sock = holder.wait_fetch(control, 5)
        assert sock is not None
        sock.close()
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=5)
    imported = {ln.rsplit("|", 1)[-1].strip() for ln in stderr.splitlines() if "|" in ln}
    assert "_socket" in imported
    assert not imported & {"socket", "contextlib", "typing", "enum", "selectors"}
