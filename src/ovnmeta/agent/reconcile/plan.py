"""plan(spec, observed) -> actions: the only place that decides what to change on the host.

plan(None, seen, "br-int")   # tear down whatever `seen` holds
plan(spec, absent(ns), "br-int")  # build from scratch
plan(spec, seen_matching_spec, "br-int") == ()  # adopt: nothing to do
"""

from __future__ import annotations

from ovnmeta.agent.reconcile import actions as a
from ovnmeta.agent.reconcile.observed import Link, NamespaceState, ObservedNetwork
from ovnmeta.core import eui64
from ovnmeta.core.model import NetworkSpec


def plan(
    spec: NetworkSpec | None, seen: ObservedNetwork, bridge: str, hop_limit: int | None = None
) -> tuple[a.Action, ...]:
    """`hop_limit`: of the token answers (`imds_hop_limit`); None leaves it unmanaged."""
    if spec is None:
        return teardown(seen)
    return tuple(_provision(spec, seen, bridge, hop_limit))


def teardown(seen: ObservedNetwork) -> tuple[a.Action, ...]:
    """Unplug and delete the root ends first (they live outside the namespace), then the
    namespace, which takes the inner ends with it."""
    out: list[a.Action] = [a.UnplugPort(bridge, port) for bridge, port, _ in seen.ports]
    out += [a.DeleteLink(link.name, None) for link in seen.outer_links]
    if seen.state is not NamespaceState.ABSENT:
        out.append(a.DeleteNamespace(seen.namespace))
    return tuple(out)


def _provision(
    spec: NetworkSpec, seen: ObservedNetwork, bridge: str, hop_limit: int | None
) -> list[a.Action]:
    out: list[a.Action] = []
    state = seen.state
    if state is NamespaceState.BROKEN:
        out += [a.UnplugPort(b, p) for b, p, _ in seen.ports]
        out += [a.DeleteLink(link.name, None) for link in seen.outer_links]
        out.append(a.DeleteNamespace(spec.namespace))
        seen = ObservedNetwork(namespace=spec.namespace, state=NamespaceState.ABSENT)
        state = NamespaceState.ABSENT
    created = state is NamespaceState.ABSENT
    if created:
        out.append(a.CreateNamespace(spec.namespace))

    # Veths other than the wanted pair (a renamed pair after a clash, leftovers) go away.
    for link in seen.inner_links:
        if link.name != spec.veth_inner:
            out.append(a.DeleteLink(link.name, spec.namespace))
    for link in seen.outer_links:
        if link.name != spec.veth_outer:
            out += [a.UnplugPort(b, p) for b, p, _ in seen.ports if p == link.name]
            out.append(a.DeleteLink(link.name, None))

    inner, outer = seen.inner(spec.veth_inner), seen.outer(spec.veth_outer)
    mtu = spec.mtu or None
    if inner is None or outer is None:
        if inner is not None:
            out.append(a.DeleteLink(inner.name, spec.namespace))
        if outer is not None:  # an orphaned root end would make the create fail
            out.append(a.DeleteLink(outer.name, None))
        # Root-side steps first, then everything inside the namespace, so the applier can run
        # each group through one netlink socket.
        out.append(a.CreateVeth(spec.veth_outer, spec.veth_inner, spec.namespace))
        out.append(a.SetLink(spec.veth_outer, None, mtu=mtu))
        if created:  # loopback up, as upstream: probes from inside the namespace work
            out.append(a.SetLink("lo", spec.namespace))
        out.append(a.SetLink(spec.veth_inner, spec.namespace, mac=spec.mac, mtu=mtu))
        out.append(a.DisableTxChecksum(spec.veth_inner, spec.namespace))
        out.append(_addresses(spec, None))
        if hop_limit is not None:  # after the link is up: a route needs an up device
            out.append(a.SetHopLimit(spec.veth_inner, spec.namespace, hop_limit, spec.ipv6))
    else:
        if _link_differs(inner, spec.mac, mtu):
            out.append(a.SetLink(spec.veth_inner, spec.namespace, mac=spec.mac, mtu=mtu))
        if _link_differs(outer, None, mtu):
            out.append(a.SetLink(spec.veth_outer, None, mtu=mtu))
        if spec.veth_inner not in seen.tx_checksum_off:
            out.append(a.DisableTxChecksum(spec.veth_inner, spec.namespace))
        change = _addresses(spec, inner)
        if change.add or change.remove:
            out.append(change)
        if hop_limit is not None and (
            seen.hop_limit_v4 != hop_limit or (spec.ipv6 and seen.hop_limit_v6 != hop_limit)
        ):
            out.append(a.SetHopLimit(spec.veth_inner, spec.namespace, hop_limit, spec.ipv6))

    plugged = False
    for port_bridge, port, iface_id in seen.ports:
        if port != spec.veth_outer:
            continue
        if port_bridge != bridge:  # ML2/OVS migration: a foreign bridge holds our port
            out.append(a.UnplugPort(port_bridge, port))
        elif iface_id == spec.iface_id:
            plugged = True
    if not plugged:
        out.append(a.PlugPort(bridge, spec.veth_outer, spec.iface_id))
    return out


def _link_differs(link: Link, mac: str | None, mtu: int | None) -> bool:
    return (
        not link.up
        or (mac is not None and link.mac.lower() != mac.lower())
        or (mtu is not None and link.mtu != mtu)
    )


def _addresses(spec: NetworkSpec, inner: Link | None) -> a.SetAddresses:
    have = inner.addresses if inner is not None else frozenset()
    # The kernel adds the EUI-64 link-local of the MAC by itself; leave it alone unless we
    # want it, so we never fight the kernel over it.
    kernel_lla = f"{eui64.link_local(spec.mac)}/64"
    add = sorted(spec.addresses - have)
    remove = sorted(have - spec.addresses - {kernel_lla})
    return a.SetAddresses(spec.veth_inner, spec.namespace, tuple(add), tuple(remove))
