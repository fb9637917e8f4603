"""Which bridge holds the OVS port of a given name, kept up to date cheaply (pure).

`Ovs.ports_of` asks this once per network observed. The IDL's change_seqno moves on every
change to the local OVSDB (each plug, each ovn-controller write on an Interface), so an
index rebuilt from every bridge's ports whenever it moved was rebuilt for nearly every new
network: at 1,000 networks (2,000 ports) that walk, python-ovs turning each bridge's `ports`
into sorted Row objects and reading every name, was 100-190 ms of a new network's observe
(py-spy, docs/agent.md "A new network's bind at 1,000 networks").

Here each bridge's port set is taken from its `ports` column as python-ovs stores it: the
column value is a new object whenever the column changes, so an unchanged object means an
unchanged set; a changed one is diffed against the last, and only the ports that came in are
looked up by UUID. A UUID with no row yet (the Bridge update read before its Port row, or a
port outside the monitor condition) is looked up again on the next refresh.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

U = TypeVar("U")  # a port's UUID (hashable)


@dataclass
class _Bridge(Generic[U]):
    column: object = None  # the `ports` column object the sets below were made from
    names: dict[U, str] = field(default_factory=dict)  # port UUID -> port name
    unknown: set[U] = field(default_factory=set)  # UUIDs whose row was not found (yet)


class PortIndex(Generic[U]):
    def __init__(self) -> None:
        self._bridges: dict[str, _Bridge[U]] = {}
        self._by_name: dict[str, list[tuple[str, U]]] | None = None

    def refresh(
        self,
        bridges: Iterable[tuple[str, object, Callable[[], Iterable[U]]]],
        name_of: Callable[[U], str | None],
    ) -> None:
        """`bridges`: (name, its `ports` column object, the UUIDs in it); `name_of`: a
        port's name by UUID, None if the replica has no such row."""
        seen = set()
        changed = False
        for bridge, column, uuids in bridges:
            seen.add(bridge)
            state = self._bridges.setdefault(bridge, _Bridge())
            if state.column is not column:
                now = set(uuids())
                for gone in [u for u in state.names if u not in now]:
                    del state.names[gone]
                    changed = True
                state.unknown &= now
                state.unknown |= {u for u in now if u not in state.names}
                state.column = column
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
