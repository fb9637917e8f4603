"""Carry out planned actions, in order (decides nothing: every branch is in reconcile.plan)."""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
from collections.abc import Iterable
from typing import Protocol

from pyroute2.netlink.exceptions import NetlinkError

from ovnmeta.dataplane import netns
from ovnmeta.errors import NamespaceError
from ovnmeta.reconcile import actions as a

logger = logging.getLogger(__name__)


class Ports(Protocol):
    """The OVS side (dataplane.ovs.Ovs)."""

    def plug(self, bridge: str, port: str, iface_id: str) -> None: ...

    def unplug(self, bridge: str, port: str) -> None: ...


def apply(actions: Iterable[a.Action], ports: Ports) -> None:
    for action in actions:
        logger.debug("applying %r", action)
        try:
            _apply_one(action, ports)
        except NetlinkError as exc:
            where = getattr(action, "namespace", None)
            raise NamespaceError(f"{where or 'root netns'}: {action!r} failed: {exc}") from exc


def _apply_one(action: a.Action, ports: Ports) -> None:
    match action:
        case a.DeleteNamespace(namespace=ns):
            netns.remove(ns)
        case a.CreateNamespace(namespace=ns):
            netns.create(ns)
            # loopback up, as upstream does: probes from inside the namespace work
            netns.run_in(ns, lambda ipr: ipr.link("set", index=1, state="up"))
        case a.DeleteLink(name=name, namespace=ns):
            with contextlib.suppress(FileNotFoundError, netns.Broken):
                netns.run_in(ns, lambda ipr: _delete_link(ipr, name))
        case a.CreateVeth(outer=outer, inner=inner, namespace=ns):
            netns.run_in(
                None,
                lambda ipr: ipr.link(
                    "add",
                    ifname=outer,
                    kind="veth",
                    peer={"ifname": inner, "net_ns_fd": netns.path_of(ns)},
                ),
            )
        case a.SetLink(name=name, namespace=ns, mac=mac, mtu=mtu, up=up):
            netns.run_in(ns, lambda ipr: _set_link(ipr, name, ns, mac, mtu, up))
        case a.DisableTxChecksum(name=name, namespace=ns):
            netns.set_tx_checksum(ns, name, False)
        case a.SetAddresses(name=name, namespace=ns, add=add, remove=remove):

            def addresses(ipr) -> None:
                index = _index(ipr, name, ns)
                for cidr in remove:
                    _addr(ipr, "del", index, cidr)
                for cidr in add:
                    _addr(ipr, "add", index, cidr)

            netns.run_in(ns, addresses)
        case a.PlugPort(bridge=bridge, port=port, iface_id=iface_id):
            ports.plug(bridge, port, iface_id)
        case a.UnplugPort(bridge=bridge, port=port):
            ports.unplug(bridge, port)
        case _:
            raise AssertionError(f"unexpected action {action!r}")


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
