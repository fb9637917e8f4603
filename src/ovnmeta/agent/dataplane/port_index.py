"""Which bridge holds the OVS port of a given name, kept up to date cheaply (pure).

`Ovs.ports_of` asks this once per network observed. The IDL's change_seqno moves on every
change to the local OVSDB (each plug, each ovn-controller write on an Interface), so an
index rebuilt from every bridge's ports whenever it moved was rebuilt for nearly every new
network: at 1,000 networks (2,000 ports) that walk, python-ovs turning each bridge's `ports`
into sorted Row objects and reading every name, was 100-190 ms of a new network's observe
(py-spy, docs/agent.md "A new network's bind at 1,000 networks").

Here each bridge's port set is read from its `ports` column as python-ovs stores it (the
UUIDs only: no Row objects, no sorting), diffed against the last one, and only the ports that
came in are looked up by UUID; the caller refreshes only when a Bridge or Port row changed. A
UUID with no row yet (the Bridge update read before its Port row, or a port outside the
monitor condition) is looked up again on the next refresh. (The column object itself cannot
tell a change: python-ovs applies a monitor diff to a set column in place.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

U = TypeVar("U")  # a port's UUID (hashable)


@dataclass
class _Bridge(Generic[U]):
    uuids: frozenset[U] = frozenset()  # the `ports` column as last read
    names: dict[U, str] = field(default_factory=dict)  # port UUID -> port name
    unknown: set[U] = field(default_factory=set)  # UUIDs whose row was not found (yet)


class PortIndex(Generic[U]):
    def __init__(self) -> None:
        self._bridges: dict[str, _Bridge[U]] = {}
        self._by_name: dict[str, list[tuple[str, U]]] | None = None

    def refresh(
        self,
        bridges: Iterable[tuple[str, Iterable[U]]],
        name_of: Callable[[U], str | None],
    ) -> None:
        """`bridges`: (name, the port UUIDs in its `ports` column); `name_of`: a port's
        name by UUID, None if the replica has no such row."""
        seen = set()
        changed = False
        for bridge, uuids in bridges:
            seen.add(bridge)
            state = self._bridges.setdefault(bridge, _Bridge())
            now = frozenset(uuids)
            if now != state.uuids:
                for gone in state.uuids - now:
                    if state.names.pop(gone, None) is not None:
                        changed = True
                state.unknown &= now
                state.unknown |= now - state.uuids
                state.uuids = now
            for uuid in list(state.unknown):
                name = name_of(uuid)
                if name is not None:
                    state.unknown.discard(uuid)
                    state.names[uuid] = name
                    changed = True
        for bridge in [b for b in self._bridges if b not in seen]:
            del self._bridges[bridge]
            changed = True
        if changed or self._by_name is None:
            by_name: dict[str, list[tuple[str, U]]] = {}
            for bridge, state in self._bridges.items():
                for uuid, name in state.names.items():
                    by_name.setdefault(name, []).append((bridge, uuid))
            self._by_name = by_name

    def lookup(self, name: str) -> list[tuple[str, U]]:
        """(bridge, port UUID) for every port called `name` (one, unless misconfigured)."""
        return list((self._by_name or {}).get(name, ()))
