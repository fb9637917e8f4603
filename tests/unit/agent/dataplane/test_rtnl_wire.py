import struct

import pytest

from ovnmeta.agent.dataplane import rtnl_wire as w


def attr(kind: int, data: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(data), kind) + data
    return raw + b"\0" * (-len(raw) % 4)


def message(mtype: int, flags: int, body: bytes) -> bytes:
    return struct.pack("=IHHII", 16 + len(body), mtype, flags, 1, 0) + body


def test_dump_request_and_link_get():
    dump = w.request(w.RTM_GETRULE, 7, family=10)
    assert struct.unpack_from("=IHHII", dump) == (28, w.RTM_GETRULE, 0x301, 7, 0)
    get = w.request(w.RTM_GETLINK, 8, ifname="tapab")
    length, kind, flags, seq, _ = struct.unpack_from("=IHHII", get)
    assert (length, kind, flags, seq) == (len(get), w.RTM_GETLINK, 1, 8)
    assert w.attributes(get[32:]) == {w.IFLA_IFNAME: b"tapab\0"}


def test_a_link_dump_is_read_to_done():
    info = attr(w.IFLA_INFO_KIND | 0x8000, b"veth\0")
    body = (
        struct.pack("=BxHiII", 0, 1, 5, 1, 0)
        + attr(w.IFLA_IFNAME, b"tap1\0")
        + attr(w.IFLA_ADDRESS, bytes([0xFA, 0x16, 0x3E, 0, 0, 2]))
        + attr(w.IFLA_MTU, struct.pack("=I", 1442))
        + attr(w.IFLA_LINKINFO | 0x8000, info)
    )
    data = message(16, 0x2, body) + message(w.NLMSG_DONE, 0x2, struct.pack("=i", 0))
    (msg,), done = w.parse(data, w.RTM_GETLINK)
    assert done and msg.header == (0, 1, 5, 1, 0)
    assert w.text(msg.attrs[w.IFLA_IFNAME]) == "tap1"
    assert w.mac(msg.attrs[w.IFLA_ADDRESS]) == "fa:16:3e:00:00:02"
    assert w.u32(msg.attrs[w.IFLA_MTU]) == 1442
    assert w.text(w.attributes(msg.attrs[w.IFLA_LINKINFO])[w.IFLA_INFO_KIND]) == "veth"


def test_a_dump_part_is_not_done():
    body = struct.pack("=BBBBBBBBI", 2, 0, 0, 0, 254, 0, 0, 1, 0)
    assert w.parse(message(24, 0x2, body), w.RTM_GETROUTE)[1] is False


def test_an_error_names_its_errno():
    with pytest.raises(w.NetlinkFailure) as caught:
        w.parse(message(w.NLMSG_ERROR, 0, struct.pack("=i", -19) + b"\0" * 16), w.RTM_GETLINK)
    assert caught.value.code == 19
