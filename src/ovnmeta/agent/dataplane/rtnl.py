"""A bare rtnetlink socket for the reads of `dataplane/observe.py` (rtnl_wire.py decodes).

A socket belongs to the network namespace of the thread that opened it: open it inside
`netns.in_namespace` to read a namespace.
"""

from __future__ import annotations

import errno
import itertools
import socket

from ovnmeta.agent.dataplane import rtnl_wire as w

RCVBUF = 1 << 20


class Rtnl:
    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        self._sock.bind((0, 0))
        self._seq = itertools.count(1)

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(self, *exc: object) -> None:
        self._sock.close()

    def dump(self, kind: int, family: int = socket.AF_UNSPEC) -> list[w.Message]:
        self._sock.send(w.request(kind, next(self._seq), family))
        return self._read(kind)

    def link(self, ifname: str) -> w.Message | None:
        """One link by name; None if there is none (ENODEV)."""
        self._sock.send(w.request(w.RTM_GETLINK, next(self._seq), ifname=ifname))
        try:
            found = self._read(w.RTM_GETLINK)
        except w.NetlinkFailure as exc:
            if exc.code == errno.ENODEV:
                return None
            raise
        return found[0] if found else None

    def _read(self, kind: int) -> list[w.Message]:
        out: list[w.Message] = []
        while True:
            messages, done = w.parse(self._sock.recv(RCVBUF), kind)
            out += messages
            if done:
                return out
