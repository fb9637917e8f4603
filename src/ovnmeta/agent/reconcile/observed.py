"""What is on the host for one network, as values (built by `dataplane/observe.py`)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class NamespaceState(enum.Enum):
    ABSENT = "absent"
    PRESENT = "present"
    BROKEN = "broken"  # a file in /run/netns with no namespace behind it (errno 22)


@dataclass(frozen=True, slots=True)
class Link:
    name: str
    mac: str
    mtu: int
    up: bool
    addresses: frozenset[str] = frozenset()  # "ip/prefixlen", canonical


@dataclass(frozen=True, slots=True)
class ObservedNetwork:
    namespace: str
    state: NamespaceState
    inner_links: tuple[Link, ...] = ()  # veth ends inside the namespace
    outer_links: tuple[Link, ...] = ()  # root ends (names derived from the inner names)
    tx_checksum_off: frozenset[str] = frozenset()  # inner links with TX checksum off
    ports: tuple[tuple[str, str, str | None], ...] = ()  # (bridge, port, iface-id)
    # The token answers' hop limit per family as set up in the namespace (actions.SetHopLimit):
    # None when the family's rule or route is missing.
    hop_limit_v4: int | None = None
    hop_limit_v6: int | None = None

    def inner(self, name: str) -> Link | None:
        return next((link for link in self.inner_links if link.name == name), None)

    def outer(self, name: str) -> Link | None:
        return next((link for link in self.outer_links if link.name == name), None)


def absent(namespace: str) -> ObservedNetwork:
    return ObservedNetwork(namespace=namespace, state=NamespaceState.ABSENT)
