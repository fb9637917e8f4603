"""What should happen on the host (imperative). Produced by `reconcile/plan.py`, carried out in
order by `dataplane/apply.py`. Every action is idempotent on its own."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DeleteNamespace:
    namespace: str


@dataclass(frozen=True, slots=True)
class CreateNamespace:
    namespace: str


@dataclass(frozen=True, slots=True)
class DeleteLink:
    name: str
    namespace: str | None  # None: the agent's own netns (where ovs-vswitchd runs)


@dataclass(frozen=True, slots=True)
class CreateVeth:
    """Root end `outer` stays in the agent's netns; `inner` is created inside `namespace`."""

    outer: str
    inner: str
    namespace: str


@dataclass(frozen=True, slots=True)
class SetLink:
    """MAC first, then MTU, then up: the kernel derives the IPv6 LLA from the MAC at up."""

    name: str
    namespace: str | None
    mac: str | None = None
    mtu: int | None = None
    up: bool = True


@dataclass(frozen=True, slots=True)
class DisableTxChecksum:
    """On a netdev bridge a veth keeps CHECKSUM_PARTIAL: guests drop our TCP replies unless the
    namespace end fills in checksums itself (lab-recipe.md section 5)."""

    name: str
    namespace: str


@dataclass(frozen=True, slots=True)
class SetAddresses:
    name: str
    namespace: str
    add: tuple[str, ...]
    remove: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SetHopLimit:
    """Packets the edge marked (a token's answer, core.model.HOP_LIMIT_MARK) leave the
    namespace with IP TTL / hop limit `hop_limit`: a policy rule sends marked sockets to
    their own table, whose default route through `link` carries the hoplimit metric."""

    link: str
    namespace: str
    hop_limit: int
    ipv6: bool


@dataclass(frozen=True, slots=True)
class PlugPort:
    bridge: str
    port: str
    iface_id: str


@dataclass(frozen=True, slots=True)
class UnplugPort:
    bridge: str
    port: str


Action = (
    DeleteNamespace
    | CreateNamespace
    | DeleteLink
    | CreateVeth
    | SetLink
    | DisableTxChecksum
    | SetAddresses
    | SetHopLimit
    | PlugPort
    | UnplugPort
)
