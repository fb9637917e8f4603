"""Read what is on the host for one network into `reconcile.observed` values (no decisions)."""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Callable, Iterable

from pyroute2.netlink.exceptions import NetlinkError

from ovnmeta.agent.dataplane import netns
from ovnmeta.agent.reconcile.observed import Link, NamespaceState, ObservedNetwork
from ovnmeta.core import names
from ovnmeta.core.model import HOP_LIMIT_MARK

IFF_UP = 0x1
# (bridge, port, iface-id) for every OVS port with one of the given names
PortsOf = Callable[[Iterable[str]], tuple[tuple[str, str, str | None], ...]]


def observe(namespace: str, expected_outer: Iterable[str], ports_of: PortsOf) -> ObservedNetwork:
    def inside(ipr) -> tuple[tuple[Link, ...], frozenset[str], tuple[int | None, int | None]]:
        links = _veths(ipr, with_addresses=True)
        hop = (_hop_limit(ipr, socket.AF_INET), _hop_limit(ipr, socket.AF_INET6))
        return links, netns.tx_checksum_off_here([link.name for link in links]), hop

    tx_off: frozenset[str] = frozenset()
    hop: tuple[int | None, int | None] = (None, None)
    try:
        inner, tx_off, hop = netns.run_in(namespace, inside)
    except FileNotFoundError:
        state, inner = NamespaceState.ABSENT, ()
    except netns.Broken:
        state, inner = NamespaceState.BROKEN, ()
    except NetlinkError as exc:
        raise netns.netlink_error(namespace, "cannot list links", exc) from exc
    else:
        state = NamespaceState.PRESENT
    outer_names = {names.outer_of_inner(link.name) for link in inner} | set(expected_outer)
    outer = netns.run_in(None, lambda ipr: _named_veths(ipr, sorted(outer_names)))
    return ObservedNetwork(
        namespace=namespace,
        state=state,
        inner_links=inner,
        outer_links=outer,
        tx_checksum_off=tx_off,
        ports=ports_of(outer_names),
        hop_limit_v4=hop[0],
        hop_limit_v6=hop[1],
    )


def _hop_limit(ipr, family: int) -> int | None:
    """The hoplimit metric of the hop-limit table's route, if the rule that uses it is there."""
    rule = any(
        r.get_attr("FRA_FWMARK") == HOP_LIMIT_MARK
        and (r.get_attr("FRA_TABLE") or r["table"]) == netns.HOP_LIMIT_TABLE
        for r in ipr.get_rules(family=family)
    )
    if not rule:
        return None
    for route in ipr.get_routes(family=family, table=netns.HOP_LIMIT_TABLE):
        if route.get_attr("RTA_TABLE") != netns.HOP_LIMIT_TABLE:
            continue
        metrics = route.get_attr("RTA_METRICS")
        value = metrics.get_attr("RTAX_HOPLIMIT") if metrics is not None else None
        if value is not None:
            return int(value)
    return None


def _named_veths(ipr, wanted: list[str]) -> tuple[Link, ...]:
    """Root-side ends, asked for by name: a dump of the root netns would cost O(networks)
    per network, O(networks^2) per full sync."""
    links = []
    for name in wanted:
        try:
            msgs = ipr.link("get", ifname=name)
        except NetlinkError as exc:
            if exc.code == errno.ENODEV:
                continue
            raise
        links += [link for msg in msgs if (link := _link(msg, {})) is not None]
    return tuple(links)


def _link(msg, addresses: dict[int, set[str]]) -> Link | None:
    info = msg.get("IFLA_LINKINFO")
    if info is None or info.get("IFLA_INFO_KIND") != "veth":
        return None
    name = msg.get("IFLA_IFNAME")
    if not name.startswith(names.VETH_PREFIX):
        return None
    return Link(
        name=name,
        mac=(msg.get("IFLA_ADDRESS") or "").lower(),
        mtu=msg.get("IFLA_MTU") or 0,
        up=bool(msg["flags"] & IFF_UP),
        addresses=frozenset(addresses.get(msg["index"], ())),
    )


def _veths(ipr, with_addresses: bool) -> tuple[Link, ...]:
    links = []
    addresses: dict[int, set[str]] = {}
    if with_addresses:
        for msg in ipr.get_addr():
            ip = ipaddress.ip_address(msg.get("IFA_ADDRESS"))
            addresses.setdefault(msg["index"], set()).add(f"{ip}/{msg['prefixlen']}")
    for msg in ipr.get_links():
        link = _link(msg, addresses)
        if link is not None:
            links.append(link)
    return tuple(sorted(links, key=lambda link: link.name))
