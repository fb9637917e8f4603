"""Which datapaths this chassis's SB condition must hold: those with a VIF bound here.

The SB client monitors the localports and Datapath_Binding rows of exactly these datapaths
(issue 14), so a network created anywhere else in the cloud never reaches this agent. A
datapath is wanted while at least one VIF on it is local (`chassis` or `additional_chassis`
names us) or requested here (`requested_chassis`, which neutron sets before the VIF is
plugged): the condition grows before the namespace is needed and shrinks when the last
local port leaves. Remote ports of a wanted datapath never keep it wanted, or it would hold
itself in the condition forever.

`LocalDatapaths` is kept incrementally by the IDL thread (one port change at a time) and
rebuilt from the replica on (re)connect; `wanted` is the same rule over a whole set of ports,
which `Index.condition_datapaths` uses, so tests can check one against the other.
"""

from __future__ import annotations

from collections.abc import Iterable

from ovnmeta.agent.sb import changes
from ovnmeta.core.model import ChassisId, DatapathId, MetadataPort, Vif

Port = Vif | MetadataPort | None


def local_datapath(port: Port, own: ChassisId | None) -> DatapathId | None:
    """The datapath this port makes wanted, if any: a VIF bound here, or one whose
    requested chassis is here (it will be bound here: its localport comes in beforehand)."""
    if not isinstance(port, Vif) or port.datapath is None or own is None:
        return None
    if port.is_local(own) or port.requested_chassis == own:
        return port.datapath
    return None


def wanted(ports: Iterable[Port], own: ChassisId | None) -> frozenset[DatapathId]:
    return frozenset(dp for p in ports if (dp := local_datapath(p, own)) is not None)


class LocalDatapaths:
    def __init__(self) -> None:
        self._by_port: dict[str, DatapathId] = {}  # local VIF uuid -> its datapath
        self._count: dict[DatapathId, int] = {}

    def reset(self, ports: Iterable[tuple[str, Port]], own: ChassisId | None) -> None:
        self._by_port.clear()
        self._count.clear()
        for uuid, port in ports:
            self._set(uuid, local_datapath(port, own))

    def apply(self, change: changes.Change, own: ChassisId | None) -> bool:
        """Returns True when the set of wanted datapaths changed."""
        match change:
            case changes.PortUpdated(uuid=uuid, port=port):
                return self._set(uuid, local_datapath(port, own))
            case changes.PortDeleted(uuid=uuid):
                return self._set(uuid, None)
        return False

    def _set(self, uuid: str, dp: DatapathId | None) -> bool:
        old = self._by_port.get(uuid)
        if old == dp:
            return False
        changed = False
        if old is not None:
            del self._by_port[uuid]
            self._count[old] -= 1
            if not self._count[old]:
                del self._count[old]
                changed = True
        if dp is not None:
            self._by_port[uuid] = dp
            self._count[dp] = self._count.get(dp, 0) + 1
            changed = changed or self._count[dp] == 1
        return changed

    def __len__(self) -> int:
        return len(self._count)

    @property
    def datapaths(self) -> frozenset[DatapathId]:
        return frozenset(self._count)
