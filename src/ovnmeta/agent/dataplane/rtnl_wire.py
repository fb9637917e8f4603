"""rtnetlink messages as bytes, and back (pure): the few requests and attributes a full sync
reads (links, addresses, rules, routes), without pyroute2's general decoder.

pyroute2 decodes every attribute of every message and runs an event loop per request: about
2-6 ms per dump, 16 ms to observe one namespace, 16 s for a full sync of 1,000 networks.
The replies here are read only for the attributes `dataplane/observe.py` looks at.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLA_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED / NLA_F_NET_BYTEORDER

RTM_GETLINK = 18
RTM_GETADDR = 22
RTM_GETROUTE = 26
RTM_GETRULE = 34

IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_LINKINFO = 18
IFLA_INFO_KIND = 1
IFA_ADDRESS = 1
RTA_METRICS = 8
RTA_TABLE = 15
RTAX_HOPLIMIT = 10
FRA_FWMARK = 10
FRA_TABLE = 15

_NLMSGHDR = struct.Struct("=IHHII")
_RTATTR = struct.Struct("=HH")
# The fixed header after nlmsghdr, per request type (linux/rtnetlink.h, fib_rules.h).
_IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
_IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")  # family, dst_len, src_len, tos, table, ..., flags
_HEADERS = {
    RTM_GETLINK: _IFINFOMSG,
    RTM_GETADDR: _IFADDRMSG,
    RTM_GETROUTE: _RTMSG,
    RTM_GETRULE: _RTMSG,  # fib_rule_hdr has rtmsg's layout
}


class NetlinkFailure(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code  # a positive errno


@dataclass(frozen=True, slots=True)
class Message:
    kind: int  # the request type it answers (RTM_GET*)
    header: tuple[int, ...]  # the fixed header's fields, as _HEADERS unpacks them
    attrs: dict[int, bytes] = field(default_factory=dict)


def _align(n: int) -> int:
    return (n + 3) & ~3


def request(kind: int, seq: int, family: int = 0, ifname: str | None = None) -> bytes:
    """A dump request of `kind` for `family`; with `ifname`, a get of that one link."""
    if kind == RTM_GETLINK:
        body = _IFINFOMSG.pack(family, 0, 0, 0, 0)
    elif kind == RTM_GETADDR:
        body = _IFADDRMSG.pack(family, 0, 0, 0, 0)
    else:
        body = _RTMSG.pack(family, 0, 0, 0, 0, 0, 0, 0, 0)
    flags = NLM_F_REQUEST
    if ifname is None:
        flags |= NLM_F_DUMP
    else:
        name = ifname.encode() + b"\0"
        attr = _RTATTR.pack(_RTATTR.size + len(name), IFLA_IFNAME) + name
        body += attr + b"\0" * (_align(len(attr)) - len(attr))
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), kind, flags, seq, 0) + body


def attributes(data: bytes) -> dict[int, bytes]:
    attrs: dict[int, bytes] = {}
    offset = 0
    while offset + _RTATTR.size <= len(data):
        length, kind = _RTATTR.unpack_from(data, offset)
        if length < _RTATTR.size:
            break
        attrs[kind & NLA_TYPE_MASK] = data[offset + _RTATTR.size : offset + length]
        offset += _align(length)
    return attrs


def parse(data: bytes, kind: int) -> tuple[list[Message], bool]:
    """The messages of one read of a reply to a `kind` request, and whether it is complete
    (NLMSG_DONE, or the answer to a non-dump get). Raises NetlinkFailure for an error."""
    header = _HEADERS[kind]
    out: list[Message] = []
    offset = 0
    done = False
    while offset + _NLMSGHDR.size <= len(data):
        length, mtype, flags, _seq, _pid = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size:
            break
        payload = data[offset + _NLMSGHDR.size : offset + length]
        offset += _align(length)
        if mtype == NLMSG_DONE:
            done = True
        elif mtype == NLMSG_ERROR:
            (code,) = struct.unpack_from("=i", payload)
            if code:
                raise NetlinkFailure(-code)
            done = True
        else:
            out.append(
                Message(
                    kind,
                    header.unpack_from(payload),
                    attributes(payload[_align(header.size) :]),
                )
            )
            if not flags & 0x2:  # NLM_F_MULTI: not a dump part, the whole answer
                done = True
    return out, done


def text(value: bytes | None) -> str | None:
    return None if value is None else value.split(b"\0", 1)[0].decode(errors="replace")


def u32(value: bytes | None) -> int | None:
    return None if value is None or len(value) < 4 else struct.unpack_from("=I", value)[0]


def mac(value: bytes | None) -> str:
    return ":".join(f"{b:02x}" for b in value or b"")
