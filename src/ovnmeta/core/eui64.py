"""EUI-64 link-local addresses <-> MACs (the IPv6 metadata path matches guests by MAC)."""

from __future__ import annotations

import ipaddress


def link_local(mac: str) -> str:
    """fa:16:3e:11:22:33 -> fe80::f816:3eff:fe11:2233"""
    octets = [int(b, 16) for b in mac.split(":")]
    octets[0] ^= 0x02
    eui = [*octets[:3], 0xFF, 0xFE, *octets[3:]]
    return str(ipaddress.IPv6Address(bytes([0xFE, 0x80, *([0] * 6), *eui])))


def mac_of(address: ipaddress.IPv6Address) -> str | None:
    """fe80::f816:3eff:fe11:2233 -> fa:16:3e:11:22:33; None if not an EUI-64 interface id."""
    iid = address.packed[8:]
    if iid[3:5] != b"\xff\xfe":
        return None
    octets = [iid[0] ^ 0x02, iid[1], iid[2], iid[5], iid[6], iid[7]]
    return ":".join(f"{o:02x}" for o in octets)
