"""Carry out planned actions, in order (decides nothing: every branch is in reconcile.plan)."""

from __future__ import annotations

import errno
import ipaddress
import logging
import socket
from collections.abc import Iterable
from typing import Protocol

from ovnmeta.agent.dataplane import netns
from ovnmeta.agent.dataplane.iproute import NetlinkError
from ovnmeta.agent.reconcile import actions as a
from ovnmeta.core.errors import NamespaceError
from ovnmeta.core.model import HOP_LIMIT_MARK

RT_SCOPE_LINK = 253

logger = logging.getLogger(__name__)


class Ports(Protocol):
    """The OVS side (dataplane.ovs.Ovs)."""

    def plug(self, bridge: str, port: str, iface_id: str) -> None: ...

    def unplug(self, bridge: str, port: str) -> None: ...


NETLINK = (
    a.DeleteLink,
    a.CreateVeth,
    a.SetLink,
    a.DisableTxChecksum,
    a.SetAddresses,
    a.SetHopLimit,
)


def apply(actions: Iterable[a.Action], ports: Ports) -> None:
    """Consecutive netlink actions on the same namespace share one thread and one socket
    (joining a namespace and opening a socket cost more than the action itself)."""
    for group in _groups(list(actions)):
        logger.debug("applying %r", group)
        try:
            _apply_group(group, ports)
        except NetlinkError as exc:
            where = getattr(group[0], "namespace", None)
            raise NamespaceError(f"{where or 'root netns'}: {group!r} failed: {exc}") from exc


def _netns_of(action: a.Action) -> str | None:
    """Where the action's netlink socket must live (CreateVeth works from the root side)."""
    return None if isinstance(action, a.CreateVeth) else action.namespace  # type: ignore[union-attr]


def _groups(actions: list[a.Action]) -> list[list[a.Action]]:
    groups: list[list[a.Action]] = []
    for action in actions:
        last = groups[-1] if groups else None
        if (
            last is not None
            and isinstance(action, NETLINK)
            and isinstance(last[0], NETLINK)
            and _netns_of(action) == _netns_of(last[0])
        ):
            last.append(action)
        else:
            groups.append([action])
    return groups


def _apply_group(group: list[a.Action], ports: Ports) -> None:
    first = group[0]
    match first:
        case a.DeleteNamespace(namespace=ns):
            netns.remove(ns)
        case a.CreateNamespace(namespace=ns):
            netns.create(ns)
        case a.PlugPort(bridge=bridge, port=port, iface_id=iface_id):
            ports.plug(bridge, port, iface_id)
        case a.UnplugPort(bridge=bridge, port=port):
            ports.unplug(bridge, port)
        case _ if isinstance(first, NETLINK):
            ns = _netns_of(first)

            def run(ipr) -> None:
                for action in group:
                    _netlink(ipr, action)

            try:
                netns.run_in(ns, run)
            except (FileNotFoundError, netns.Broken):
                # Only a delete may find its namespace gone (nothing left to delete).
                if not all(isinstance(x, a.DeleteLink) for x in group):
                    raise
        case _:
            raise AssertionError(f"unexpected action {first!r}")


def _netlink(ipr, action: a.Action) -> None:
    match action:
        case a.DeleteLink(name=name):
            _delete_link(ipr, name)
        case a.CreateVeth(outer=outer, inner=inner, namespace=ns):
            ipr.link(
                "add",
                ifname=outer,
                kind="veth",
                peer={"ifname": inner, "net_ns_fd": netns.path_of(ns)},
            )
        case a.SetLink(name=name, namespace=ns, mac=mac, mtu=mtu, up=up):
            _set_link(ipr, name, ns, mac, mtu, up)
        case a.DisableTxChecksum(name=name, namespace=ns):
            try:
                netns.set_tx_checksum_here(name, False)
            except OSError as exc:
                raise NamespaceError(f"{ns}: cannot turn tx checksum off on {name}: {exc}") from exc
        case a.SetHopLimit(link=link, namespace=ns, hop_limit=hop_limit, ipv6=ipv6):
            _set_hop_limit(ipr, _index(ipr, link, ns), hop_limit, ipv6)
        case a.SetAddresses(name=name, namespace=ns, add=add, remove=remove):
            index = _index(ipr, name, ns)
            for cidr in remove:
                _addr(ipr, "del", index, cidr)
            for cidr in add:
                _addr(ipr, "add", index, cidr)


def _set_hop_limit(ipr, index: int, hop_limit: int, ipv6: bool) -> None:
    """Sockets the edge marked route through HOP_LIMIT_TABLE, whose only (default) route has
    the hoplimit metric: the kernel uses it as the TTL of every packet they send. The edge's
    set-mark resets the socket's cached route, so the answer that follows already has it."""
    families = ((socket.AF_INET, "0.0.0.0/0"), (socket.AF_INET6, "::/0"))
    for family, default in families if ipv6 else families[:1]:
        ipr.route(
            "replace",
            family=family,
            dst=default,
            oif=index,
            table=netns.HOP_LIMIT_TABLE,
            scope=RT_SCOPE_LINK if family == socket.AF_INET else 0,
            metrics={"hoplimit": hop_limit},
        )
        try:
            ipr.rule(
                "add",
                family=family,
                fwmark=HOP_LIMIT_MARK,
                fwmask=0xFFFFFFFF,
                table=netns.HOP_LIMIT_TABLE,
                priority=netns.HOP_LIMIT_RULE_PRIORITY,
            )
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:
                raise


def _delete_link(ipr, name: str) -> None:
    try:
        ipr.link("del", ifname=name)
    except NetlinkError as exc:
        if exc.code != errno.ENODEV:
            raise


def _set_link(ipr, name: str, ns: str | None, mac: str | None, mtu: int | None, up: bool):
    index = _index(ipr, name, ns)
    current = ipr.get_links(index)[0]
    if mac and (current.get("IFLA_ADDRESS") or "").lower() != mac.lower():
        if current["flags"] & 1:
            ipr.link("set", index=index, state="down")
        ipr.link("set", index=index, address=mac)  # before up: the kernel's LLA follows it
    if mtu and current.get("IFLA_MTU") != mtu:
        ipr.link("set", index=index, mtu=mtu)
    ipr.link("set", index=index, state="up" if up else "down")


def _index(ipr, name: str, ns: str | None) -> int:
    found = ipr.link_lookup(ifname=name)
    if not found:
        raise NamespaceError(f"{ns or 'root netns'}: link {name} not found")
    return found[0]


def _addr(ipr, op: str, index: int, cidr: str) -> None:
    iface = ipaddress.ip_interface(cidr)
    # DAD is skipped: fe80::a9fe:a9fe exists once per chassis behind a localport, which only
    # ever talks to ports on the same chassis, so it cannot be duplicated on the link; waiting
    # for DAD would only delay the first answer.
    flags = netns.IFA_F_NODAD if iface.version == 6 else 0
    try:
        ipr.addr(
            op,
            index=index,
            address=str(iface.ip),
            prefixlen=iface.network.prefixlen,
            flags=flags,
        )
    except NetlinkError as exc:
        if (op, exc.code) in (("add", errno.EEXIST), ("del", errno.EADDRNOTAVAIL)):
            return
        raise
