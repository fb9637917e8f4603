"""Network namespaces, links and addresses through netlink (pyroute2); no `ip` subprocesses.

pyroute2 is imported only where a netlink socket is opened (`run_in`), and only its `IPRoute`
(dataplane/iproute.py: its package `__init__` imports every module pyroute2 has); an agent
restart that finds everything in place never opens one (docs/agent.md, "Start-up, measured").

Blocking calls: the agent runs them in worker threads. Errors are translated once, here, into
NamespaceError with the object and operation named. Namespace files live under the standard
/run/netns, which haproxy's `namespace` keyword and operator tooling use as well.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import socket
import struct
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

from ovnmeta.core.errors import NamespaceError

if TYPE_CHECKING:
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

RUN_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000
MNT_DETACH = 2
MS_BIND = 0x1000
MS_REC = 0x4000
MS_SHARED = 1 << 20
IFA_F_NODAD = 0x02
SIOCETHTOOL = 0x8946
ETHTOOL_GTXCSUM = 0x16
ETHTOOL_STXCSUM = 0x17

_libc = ctypes.CDLL(None, use_errno=True)
T = TypeVar("T")


class Broken(Exception):
    """The namespace file exists but no namespace is mounted on it (errno 22)."""


# Policy routing for the token answers' hop limit (reconcile.actions.SetHopLimit).
HOP_LIMIT_TABLE = 2541
HOP_LIMIT_RULE_PRIORITY = 1000  # before the main table (32766)


def path_of(name: str) -> str:
    return os.path.join(RUN_DIR, name)


def list_names(prefix: str) -> list[str]:
    try:
        return sorted(n for n in os.listdir(RUN_DIR) if n.startswith(prefix))
    except FileNotFoundError:
        return []


def exists(name: str) -> bool:
    return os.path.exists(path_of(name))


def create(name: str) -> None:
    """`ip netns add`, without forking: a short-lived thread unshares its network namespace
    and bind-mounts it on /run/netns/<name>. (pyroute2 forks a child for this, and a forked
    child shares asyncio's signal wake-up fd: its SIGTERM would reach the agent's loop.)"""
    path = path_of(name)
    os.makedirs(RUN_DIR, exist_ok=True)
    _share_run_dir()
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
    except FileExistsError:
        return

    def bind() -> None:
        if _libc.unshare(CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET)")
        source = f"/proc/self/task/{threading.get_native_id()}/ns/net".encode()
        if _libc.mount(source, path.encode(), b"none", MS_BIND, None) != 0:
            raise OSError(ctypes.get_errno(), f"mount --bind {source.decode()}")

    try:
        _in_thread(bind)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise NamespaceError(f"{name}: cannot create namespace: {exc}") from exc


def _share_run_dir() -> None:
    """As iproute2 does: /run/netns is a shared mount, so namespaces created here are seen by
    every mount namespace that shares it (haproxy, operator tools)."""
    if _libc.mount(b"", RUN_DIR.encode(), b"none", MS_SHARED | MS_REC, None) == 0:
        return
    if _libc.mount(RUN_DIR.encode(), RUN_DIR.encode(), b"none", MS_BIND | MS_REC, None) == 0:
        _libc.mount(b"", RUN_DIR.encode(), b"none", MS_SHARED | MS_REC, None)


def remove(name: str) -> None:
    """Unmount and unlink; also works for a stale file with nothing mounted on it."""
    path = path_of(name)
    if _libc.umount2(path.encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):
            raise NamespaceError(f"{name}: cannot unmount: {os.strerror(err)}")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def run_in(name: str | None, fn: Callable[[IPRoute], T]) -> T:
    """Run `fn(ipr)` with a netlink socket in `name` (None: our own netns). Raises
    FileNotFoundError if the namespace is absent, Broken if its file is stale.

    pyroute2 opens its socket lazily in the calling thread, so the whole function runs in a
    thread that has joined the namespace (pyroute2's own netns support forks, see create)."""

    from ovnmeta.agent.dataplane.iproute import IPRoute

    def work() -> T:
        with IPRoute() as ipr:
            return fn(ipr)

    if name is None:
        return work()
    if not exists(name):
        raise FileNotFoundError(path_of(name))
    return in_namespace(name, work)


def in_namespace(name: str, fn: Callable[[], T]) -> T:
    """Run `fn` in a short-lived thread that has joined `name`: netns membership is per
    thread, and the thread dies afterwards so nothing else ever runs in the wrong netns."""

    def joined() -> T:
        _join(name)
        return fn()

    return _in_thread(joined)


def in_each_namespace(
    names: Iterable[str],
    fn: Callable[[], T],
    done: Callable[[str, T | BaseException], None],
    first: Callable[[], object] = lambda: None,
) -> threading.Thread:
    """Run `fn` in each of `names` in turn, in one short-lived thread that joins them one
    after the other (a thread per namespace cost a full sync at 1,000 networks ~0.1 ms of CPU
    and ~0.4 ms of waiting each); `done(name, result or what it raised)` is called in that
    thread after each. `first()` runs in it before it joins any (in the caller's netns); `fn`
    runs only once the thread has joined that namespace; the thread ends after the last one.
    Returns the thread, started."""

    def each() -> None:
        first()
        for name in names:
            try:
                _join(name)
                outcome: T | BaseException = fn()
            except BaseException as exc:  # every name gets its `done`: a taker waits for it
                outcome = exc
            done(name, outcome)

    thread = threading.Thread(target=each, name="ovnmeta-netns-each", daemon=True)
    thread.start()
    return thread


def _join(name: str) -> None:
    """The calling thread joins namespace `name` (FileNotFoundError, Broken, OSError)."""
    fd = os.open(path_of(name), os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            if err == errno.EINVAL:  # a file with no namespace mounted on it
                raise Broken(name)
            raise OSError(err, f"setns {name}: {os.strerror(err)}")
    finally:
        os.close(fd)


def _in_thread(fn: Callable[[], T]) -> T:
    result: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.append(fn())
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=target, name="ovnmeta-netns")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def _ethtool(sock: socket.socket, ifname: str, cmd: int, data: int = 0) -> int:
    import array
    import fcntl

    buf = array.array("I", [cmd, data])
    addr, _ = buf.buffer_info()
    ifreq = struct.pack("16sP", ifname.encode(), addr)
    fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifreq)
    return buf[1]


def set_tx_checksum_here(ifname: str, enabled: bool) -> None:
    """SIOCETHTOOL ETHTOOL_STXCSUM (what `ethtool -K <if> tx off` does), on an interface of the
    calling thread's netns: the ioctl acts in the netns of the socket it is issued on."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        _ethtool(sock, ifname, ETHTOOL_STXCSUM, int(enabled))


def tx_checksum_off_here(ifnames: list[str]) -> frozenset[str]:
    """Among `ifnames` in the calling thread's netns, those with TX checksum offload off."""
    off = set()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for ifname in ifnames:
            with contextlib.suppress(OSError):
                if _ethtool(sock, ifname, ETHTOOL_GTXCSUM) == 0:
                    off.add(ifname)
    return frozenset(off)


def host_ipv6_enabled() -> bool:
    try:
        with open("/proc/sys/net/ipv6/conf/default/disable_ipv6") as f:
            return f.read().strip() == "0"
    except OSError:
        return False


def netlink_error(name: str | None, what: str, exc: NetlinkError) -> NamespaceError:
    where = name or "root netns"
    return NamespaceError(f"{where}: {what}: {exc}")


TCP_MIGRATE_REQ = "/proc/sys/net/ipv4/tcp_migrate_req"


def migrate_requests(name: str) -> None:
    """net.ipv4.tcp_migrate_req = 1 in namespace `name`: when one of the listeners sharing an
    address (SO_REUSEPORT) closes, the kernel hands its queued connections to another one
    instead of resetting them. Two edge shards serve a network while it moves between them;
    with this, the one that lets go loses no connection. /proc/sys/net is per network
    namespace, resolved in the calling thread's."""

    def write() -> None:
        with open(TCP_MIGRATE_REQ, "w") as f:
            f.write("1\n")

    in_namespace(name, write)
