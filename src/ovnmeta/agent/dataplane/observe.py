"""Read what is on the host for one network into `reconcile.observed` values (no decisions).

One bare rtnetlink socket per namespace (dataplane/rtnl.py): four dumps (links, addresses,
rules, routes, each of both families at once) and an ethtool ioctl per veth, then a get per
root-side veth. A full sync at 1,000 networks does this 1,000 times.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from ovnmeta.agent.dataplane import netns
from ovnmeta.agent.dataplane import rtnl_wire as w
from ovnmeta.agent.dataplane.rtnl import Rtnl
from ovnmeta.agent.reconcile.observed import Link, NamespaceState, ObservedNetwork
from ovnmeta.core import names
from ovnmeta.core.errors import NamespaceError
from ovnmeta.core.model import HOP_LIMIT_MARK

IFF_UP = 0x1
# (bridge, port, iface-id) for every OVS port with one of the given names
PortsOf = Callable[[Iterable[str]], tuple[tuple[str, str, str | None], ...]]
Hop = tuple[int | None, int | None]


# What the thread inside a namespace reads: its state, its veth ends, those with TX checksum
# offload off, its hop limits (`inside`, run there; `read_inside` joins the namespace for it).
Inside = tuple[NamespaceState, tuple[Link, ...], frozenset[str], Hop]


@dataclass(frozen=True, slots=True)
class Reading:
    """A namespace as a read-ahead found it (dataplane/read_ahead.py): its inside, and the
    root netns's veths by name from one dump made before the namespaces were read."""

    inside: Inside
    root_veths: Mapping[str, Link]


def observe(
    namespace: str,
    expected_outer: Iterable[str],
    ports_of: PortsOf,
    read: Reading | None = None,
) -> ObservedNetwork:
    """`read`: the namespace as a read-ahead just found it; None reads it now."""
    state, inner, tx_off, hop = read.inside if read else read_inside(namespace)
    outer_names = {names.outer_of_inner(link.name) for link in inner} | set(expected_outer)
    if read is not None:
        found = read.root_veths
        outer = tuple(found[name] for name in sorted(outer_names) if name in found)
    else:
        outer = _root_links(sorted(outer_names))
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


def _root_links(wanted: list[str]) -> tuple[Link, ...]:
    try:
        with Rtnl() as nl:
            return tuple(
                link
                for name in wanted
                if (msg := nl.link(name)) is not None and (link := _link(msg, {})) is not None
            )
    except w.NetlinkFailure as exc:
        raise _error(None, "cannot get links", exc) from exc


def root_veths() -> dict[str, Link]:
    """The calling thread's netns's veths (the root ends, in the agent's netns), by name: one
    dump, where a full sync asked for each network's by name."""
    try:
        with Rtnl() as nl:
            links = [link for msg in nl.dump(w.RTM_GETLINK) if (link := _link(msg, {})) is not None]
    except w.NetlinkFailure as exc:
        raise _error(None, "cannot list links", exc) from exc
    return {link.name: link for link in links}


def inside() -> tuple[tuple[Link, ...], frozenset[str], Hop]:
    """Run in a thread that has joined the namespace."""
    with Rtnl() as nl:
        links = _veths(nl)
        hop = _hop_limits(nl)
    return links, netns.tx_checksum_off_here([link.name for link in links]), hop


def read_inside(namespace: str) -> Inside:
    try:
        outcome: tuple[tuple[Link, ...], frozenset[str], Hop] | BaseException = netns.in_namespace(
            namespace, inside
        )
    except (FileNotFoundError, netns.Broken) as exc:
        outcome = exc  # a state, as inside_of maps it
    except w.NetlinkFailure as exc:
        raise _error(namespace, "cannot list links", exc) from exc
    found = inside_of(outcome)
    assert found is not None  # only the two states above are caught
    return found


def inside_of(
    outcome: tuple[tuple[Link, ...], frozenset[str], Hop] | BaseException,
) -> Inside | None:
    """What a read-ahead found, `inside`'s result or what joining or reading raised, as the
    namespace's Inside; None for an error that says nothing about the namespace's state
    (`observe` reads it again and raises it)."""
    match outcome:
        case FileNotFoundError():
            return NamespaceState.ABSENT, (), frozenset(), (None, None)
        case netns.Broken():
            return NamespaceState.BROKEN, (), frozenset(), (None, None)
        case BaseException():
            return None
    links, tx_off, hop = outcome
    return NamespaceState.PRESENT, links, tx_off, hop


def _error(namespace: str | None, what: str, exc: w.NetlinkFailure) -> NamespaceError:
    return NamespaceError(f"{namespace or 'root netns'}: {what}: {os.strerror(exc.code)}")


def _hop_limits(nl: Rtnl) -> Hop:
    """Per family, the hoplimit metric of the hop-limit table's route, if the rule that uses
    it is there (one dump of the rules and one of the routes, both families)."""
    ruled = {
        msg.header[0]
        for msg in nl.dump(w.RTM_GETRULE)
        if w.u32(msg.attrs.get(w.FRA_FWMARK)) == HOP_LIMIT_MARK
        and (w.u32(msg.attrs.get(w.FRA_TABLE)) or msg.header[4]) == netns.HOP_LIMIT_TABLE
    }
    found: dict[int, int] = {}
    for msg in nl.dump(w.RTM_GETROUTE):
        family = msg.header[0]
        if family not in ruled or family in found:
            continue
        if (w.u32(msg.attrs.get(w.RTA_TABLE)) or msg.header[4]) != netns.HOP_LIMIT_TABLE:
            continue
        metrics = msg.attrs.get(w.RTA_METRICS)
        value = w.u32(w.attributes(metrics).get(w.RTAX_HOPLIMIT)) if metrics else None
        if value is not None:
            found[family] = value
    return found.get(socket.AF_INET), found.get(socket.AF_INET6)


def _link(msg: w.Message, addresses: dict[int, set[str]]) -> Link | None:
    info = msg.attrs.get(w.IFLA_LINKINFO)
    if info is None or w.text(w.attributes(info).get(w.IFLA_INFO_KIND)) != "veth":
        return None
    name = w.text(msg.attrs.get(w.IFLA_IFNAME)) or ""
    if not name.startswith(names.VETH_PREFIX):
        return None
    _family, _type, index, flags, _change = msg.header
    return Link(
        name=name,
        mac=w.mac(msg.attrs.get(w.IFLA_ADDRESS)),
        mtu=w.u32(msg.attrs.get(w.IFLA_MTU)) or 0,
        up=bool(flags & IFF_UP),
        addresses=frozenset(addresses.get(index, ())),
    )


def _veths(nl: Rtnl) -> tuple[Link, ...]:
    addresses: dict[int, set[str]] = {}
    for msg in nl.dump(w.RTM_GETADDR):
        family, prefixlen, _flags, _scope, index = msg.header
        raw = msg.attrs.get(w.IFA_ADDRESS)
        if raw is None or family not in (socket.AF_INET, socket.AF_INET6):
            continue
        ip = ipaddress.ip_address(raw)
        addresses.setdefault(index, set()).add(f"{ip}/{prefixlen}")
    links = [link for msg in nl.dump(w.RTM_GETLINK) if (link := _link(msg, addresses)) is not None]
    return tuple(sorted(links, key=lambda link: link.name))
