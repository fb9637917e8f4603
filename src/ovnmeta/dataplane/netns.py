"""Network namespaces, links and addresses through netlink (pyroute2); no `ip` subprocesses.

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
from collections.abc import Callable, Iterator
from typing import TypeVar

from pyroute2 import IPRoute, netns
from pyroute2.netlink.exceptions import NetlinkError

from ovnmeta.errors import NamespaceError

RUN_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000
MNT_DETACH = 2
IFA_F_NODAD = 0x02
SIOCETHTOOL = 0x8946
ETHTOOL_GTXCSUM = 0x16
ETHTOOL_STXCSUM = 0x17

_libc = ctypes.CDLL(None, use_errno=True)
T = TypeVar("T")


class Broken(Exception):
    """The namespace file exists but no namespace is mounted on it (errno 22)."""


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
    try:
        netns.create(name)
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            raise NamespaceError(f"{name}: cannot create namespace: {exc}") from exc


def remove(name: str) -> None:
    """Unmount and unlink; also works for a stale file with nothing mounted on it."""
    path = path_of(name)
    if _libc.umount2(path.encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):
            raise NamespaceError(f"{name}: cannot unmount: {os.strerror(err)}")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


@contextlib.contextmanager
def ipr(name: str | None) -> Iterator[IPRoute]:
    """An IPRoute socket in `name` (None: our own netns). Raises FileNotFoundError if absent,
    Broken if the file is stale."""
    if name is not None and not exists(name):
        raise FileNotFoundError(path_of(name))
    try:
        handle = IPRoute(netns=name) if name else IPRoute()
    except OSError as exc:
        if exc.errno == errno.EINVAL:
            raise Broken(name) from exc
        raise NamespaceError(f"{name}: cannot open namespace: {exc}") from exc
    try:
        yield handle
    finally:
        handle.close()


def in_namespace(name: str, fn: Callable[[], T]) -> T:
    """Run `fn` in a short-lived thread that has joined `name`: netns membership is per
    thread, and the thread dies afterwards so nothing else ever runs in the wrong netns."""
    result: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            fd = os.open(path_of(name), os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns {name}: {os.strerror(err)}")
            finally:
                os.close(fd)
            result.append(fn())
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=target, name=f"netns-{name[:20]}")
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


def set_tx_checksum(name: str, ifname: str, enabled: bool) -> None:
    """SIOCETHTOOL ETHTOOL_STXCSUM on the interface inside `name` (what `ethtool -K tx` does)."""

    def run() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            _ethtool(sock, ifname, ETHTOOL_STXCSUM, int(enabled))

    try:
        in_namespace(name, run)
    except OSError as exc:
        raise NamespaceError(f"{name}: cannot turn tx checksum off on {ifname}: {exc}") from exc


def tx_checksum_off(name: str, ifnames: list[str]) -> frozenset[str]:
    """The interfaces among `ifnames` in `name` whose TX checksum offload is off."""

    def run() -> frozenset[str]:
        off = set()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for ifname in ifnames:
                with contextlib.suppress(OSError):
                    if _ethtool(sock, ifname, ETHTOOL_GTXCSUM) == 0:
                        off.add(ifname)
        return frozenset(off)

    if not ifnames:
        return frozenset()
    return in_namespace(name, run)


def host_ipv6_enabled() -> bool:
    try:
        with open("/proc/sys/net/ipv6/conf/default/disable_ipv6") as f:
            return f.read().strip() == "0"
    except OSError:
        return False


def netlink_error(name: str | None, what: str, exc: NetlinkError) -> NamespaceError:
    where = name or "root netns"
    return NamespaceError(f"{where}: {what}: {exc}")
