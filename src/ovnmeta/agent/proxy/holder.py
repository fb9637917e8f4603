"""Keeps the agent's listening UNIX socket open while the agent restarts.

A tiny process (stdlib only, started once, in its own session) creates and listens on
`metadata_proxy_socket` and hands the listening fd to every agent that asks on a control
socket (SCM_RIGHTS). It never accepts: while no agent runs - restart, crash, kill -9 - the
kernel queues the edge's connections in the backlog, and the next agent accepts them. So a
request that arrives during a restart waits instead of failing. (haproxy retries a failed
UNIX connect at once, without its 1 s turn-around, so retries alone cannot bridge a restart.)

    python -I -S .../ovnmeta/agent/proxy/holder.py SOCKET CONTROL_SOCKET BACKLOG MODE PIDFILE

Run as a plain script, without site-packages, and its serving half imports only `os`, `sys`
and `_socket` (the `socket` and `contextlib` modules, for the agent's half, load on first use):
7.8 MB resident, 2.7 MB anonymous. Started as `-m ovnmeta.agent.proxy.holder` with `socket`
and `contextlib` imported, it was 10.5 / 4.2 MB: an interpreter's pages, mostly, that the
bench's summed RSS counts once per process.

OVNMETA_DETACH, if set, is a command prefix the holder is started through. The container image
sets it to /usr/local/bin/ovnmeta-detach, which moves the holder out of the container's cgroup
(as it does for the edge haproxy): `podman stop` kills every process of that cgroup, and a
holder killed with its container leaves the edge nothing to queue on (503 until the next agent).
"""

from __future__ import annotations

import _socket
import os
import sys

TYPE_CHECKING = False  # `typing` alone would cost the holder 2 MB
if TYPE_CHECKING:
    import socket

EDGE_ALIAS_SUFFIX = ".ovnmeta"


def edge_alias(path: str) -> str:
    """The listener's second name, the one the edge connects to (`<socket>.ovnmeta`): the
    socket path itself may be taken over by upstream's agent on the way back
    (docs/migration.md), and an edge connecting to upstream's socket before upstream answers
    would wait for it. A hard link in the same directory, so always on the same filesystem."""
    return path + EDGE_ALIAS_SUFFIX


def alias(target: str, name: str) -> None:
    """`name` names the same socket as `target` (atomically: a hard link, then a rename)."""
    tmp = f"{name}.{os.getpid()}.new"
    _unlink(tmp)
    os.link(target, tmp)
    os.replace(tmp, name)


def _unlink(path: str) -> None:
    try:  # noqa: SIM105 - contextlib would cost the holder 0.9 MB
        os.unlink(path)
    except FileNotFoundError:
        pass


def fetch(control: str, timeout_s: float = 0.5) -> socket.socket | None:
    """The listening socket from a running holder, or None if there is none."""
    import socket  # the agent's half only (above)

    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as ctl:
            ctl.settimeout(timeout_s)
            ctl.connect(control)
            _, fds, _, _ = socket.recv_fds(ctl, 16, 1)
    except OSError:
        return None
    if not fds:
        return None
    return socket.socket(fileno=fds[0])


def serve(path: str, control: str, backlog: int, mode: int | None, pidfile: str) -> None:
    # Bound and listening under a temporary name, then renamed over `path`: a connect never
    # finds the path missing or refused, also when it was another agent's socket until now
    # (an in-place migration from upstream's agent, which keeps serving what it accepted).
    listener = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    fresh = f"{path}.{os.getpid()}.new"
    _unlink(fresh)
    listener.bind(fresh)
    if mode is not None:
        os.chmod(fresh, mode)
    listener.listen(backlog)
    alias(fresh, edge_alias(path))
    os.replace(fresh, path)
    ctl = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    _unlink(control)
    ctl.bind(control)
    os.chmod(control, 0o600)
    ctl.listen(8)
    with open(pidfile + ".tmp", "w") as f:
        f.write(f"{os.getpid()}\n")
    os.replace(pidfile + ".tmp", pidfile)
    # SCM_RIGHTS carries C ints (what socket.send_fds packs with array("i")).
    rights = [
        (_socket.SOL_SOCKET, _socket.SCM_RIGHTS, listener.fileno().to_bytes(4, sys.byteorder))
    ]
    while True:
        fd, _ = ctl._accept()  # what socket.socket.accept wraps: a bare fd
        conn = _socket.socket(fileno=fd)
        try:
            conn.sendmsg([b"L"], rights)
        except OSError:
            pass
        finally:
            conn.close()


def main(argv: list[str]) -> int:
    path, control, backlog, mode, pidfile = argv
    os.umask(0o077)
    serve(path, control, int(backlog), int(mode, 8) if mode != "-" else None, pidfile)
    return 0


def wait_fetch(control: str, timeout_s: float) -> socket.socket | None:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sock = fetch(control)
        if sock is not None:
            return sock
        time.sleep(0.01)
    return None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


def ensure(
    path: str, control: str, backlog: int, mode: int | None, pidfile: str, timeout_s: float = 5.0
) -> socket.socket:
    """The listening socket: from the running holder, or from a holder started now (by its
    file, `-I -S`: no site-packages, nothing of ovnmeta imported but this file)."""
    import shlex
    import subprocess

    sock = fetch(control)
    if sock is not None:
        if not os.path.exists(edge_alias(path)):  # a holder older than the alias
            alias(path, edge_alias(path))
        return sock
    os.makedirs(os.path.dirname(control), exist_ok=True)
    subprocess.Popen(
        [
            *shlex.split(os.environ.get("OVNMETA_DETACH", "")),
            sys.executable,
            "-I",
            "-S",
            os.path.abspath(__file__),
            path,
            control,
            str(backlog),
            f"{mode:o}" if mode is not None else "-",
            pidfile,
        ],
        start_new_session=True,  # outlives the agent, like the edge
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        close_fds=True,
    )
    sock = wait_fetch(control, timeout_s)
    if sock is None:
        raise OSError(f"{control}: the socket holder did not start")
    return sock
